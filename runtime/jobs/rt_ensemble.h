/* `parsec-run ensemble`: PARSEC learns a distribution, not one
 * architecture; an ensemble of networks drawn from it (the paper's section
 * 3 names it as the next step).  M distinct networks are drawn from a
 * search run's p(alpha | pi) (or its M most probable, or M seeds of its
 * mode: a deep ensemble), each trained from scratch by the training recipe
 * in a run directory of its own (DIR/member-K, resumable), the mode too
 * when it is not among them (DIR/mode); then evaluated together on the
 * test set, the ensemble predicting the mean of the members' softmax.
 * DIR/log.jsonl: a line per model (each member, the mode, the ensemble)
 * with accuracy, NLL, ECE (15 bins), Brier score and the reliability bins. */
#ifndef PARSEC_RT_ENSEMBLE_H
#define PARSEC_RT_ENSEMBLE_H
#include "rt_train.h"

typedef struct {
  const char *run; /* the search run */
  const char *out;
  int members;
  const char *pick;    /* "sample" (distinct draws), "top" (the M most probable), "mode" (M seeds of the mode) */
  int seed;            /* the draws; member K trains with the training seed + K */
  rt_train_opts train; /* every member's training options (run, genotype, out, resume: set per member) */
  int resume;
} rt_ensemble_opts;

int rt_ensemble_run(const rt_ensemble_opts *o, err_t *e);

#endif
