/* Progress of long work: a bar redrawn in place on a terminal (steps,
 * children/s, loss, ETA), a plain line now and then otherwise. */
#ifndef PARSEC_RT_PROGRESS_H
#define PARSEC_RT_PROGRESS_H

typedef struct {
  int tty;     /* redraw in place */
  int enabled;
  int drawn;   /* a bar is on the screen */
  int last_pct;
} rt_progress;

/* MODE: -1 on a terminal, 0 never, 1 always. */
void rt_progress_init(rt_progress *p, int mode, int quiet);
void rt_progress_step(rt_progress *p, int epoch, int epochs, int step, int steps, double sec_per_step, double loss,
                      double children_per_s);
/* Clears the bar before other output. */
void rt_progress_clear(rt_progress *p);

#endif
