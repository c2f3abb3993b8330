/* Progress of long work: a bar redrawn in place on a terminal (steps, a
 * rate, loss, ETA), a plain line now and then otherwise. */
#ifndef PARSEC_RT_PROGRESS_H
#define PARSEC_RT_PROGRESS_H

typedef struct {
  int tty;     /* redraw in place */
  int enabled;
  int drawn;   /* a bar is on the screen */
  int last_pct;
  const char *unit; /* of the rate: "children/s", "images/s" */
} rt_progress;

/* MODE: -1 on a terminal, 0 never, 1 always. */
void rt_progress_init(rt_progress *p, int mode, int quiet, const char *unit);
void rt_progress_step(rt_progress *p, int epoch, int epochs, int step, int steps, double sec_per_step, double loss,
                      double rate);
/* Clears the bar before other output. */
void rt_progress_clear(rt_progress *p);

#endif
