#include "rt_progress.h"

#include <stdio.h>
#include <unistd.h>

void rt_progress_init(rt_progress *p, int mode, int quiet, const char *unit) {
  p->unit = unit;
  p->tty = isatty(2);
  p->enabled = !quiet && (mode == 1 || (mode == -1));
  p->drawn = 0;
  p->last_pct = -1;
}

static void eta_text(double s, char *buf, size_t cap) {
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void rt_progress_step(rt_progress *p, int epoch, int epochs, int step, int steps, double sec_per_step, double loss,
                      double rate) {
  if (!p->enabled) return;
  double left = ((double)(epochs - epoch - 1) * steps + (steps - step)) * sec_per_step;
  char eta[32];
  eta_text(left, eta, sizeof eta);
  if (p->tty) {
    char bar[31];
    int fill = steps ? 30 * step / steps : 30;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r  epoch %d/%d [%s] step %d/%d  %.1f %s  loss %.3f  ETA %s ", epoch + 1, epochs, bar, step, steps,
            rate, p->unit, loss, eta);
    fflush(stderr);
    p->drawn = 1;
    return;
  }
  int pct = steps ? 100 * step / steps : 100;
  if (pct / 25 != p->last_pct / 25 || step == steps) {
    if (step != steps || p->last_pct < 100)
      fprintf(stderr, "  epoch %d/%d: step %d/%d (%d%%), %.1f %s, loss %.3f, ETA %s\n", epoch + 1, epochs, step, steps,
              pct, rate, p->unit, loss, eta);
    p->last_pct = pct;
  }
  if (step == steps) p->last_pct = -1;
}

void rt_progress_clear(rt_progress *p) {
  if (p->drawn && p->tty) {
    fprintf(stderr, "\r%100s\r", "");
    fflush(stderr);
  }
  p->drawn = 0;
}
