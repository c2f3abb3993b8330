/* `parsec-run train`: one fixed architecture trained from scratch in the
 * evaluation network (DARTS's recipe: affine BN, auxiliary head with weight
 * 0.4, drop path scaled by epoch, cutout, SGD with cosine decay to 0,
 * momentum 0.9, weight decay 3e-4, gradient-norm clip 5). */
#ifndef PARSEC_RT_TRAIN_H
#define PARSEC_RT_TRAIN_H
#include "err.h"

typedef struct {
  const char *run;      /* a search run: its space and mode genotype */
  const char *genotype; /* or a genotype (gt_resolve's forms): in RUN's space when RUN is given too */
  const char *space;    /* with --genotype: the space (default: darts) */
  const char *data, *test_data;
  const char *augment; /* rt_augment.h's recipes; NULL: auto */
  int image_size;      /* the network's input size (< 0: the space's) */
  const char *mean, *std; /* the normalisation (rt_data_norm); NULL: the data's own */
  const char *out;
  int layers, channels, epochs, batch, cutout, limit, seed; /* < 0: the recipe's */
  double lr, drop_path, label_smoothing;                    /* NaN: the recipe's */
  int threads;                                              /* CPU threads, 0: all cores */
  int auxiliary; /* -1: the recipe's, 0 off, 1 on */
  const char *device;
  int resume, progress, quiet;
  int no_graphs; /* on a GPU, launch each step's kernels instead of a recorded graph */
  int argc;      /* the whole command line, for the run's record */
  char *const *argv;
} rt_train_opts;

/* Returns 0, ERR_INTERRUPTED (the last finished epoch is checkpointed), or
 * the failure's exit status (err.h) with its message in E. */
int rt_train_run(const rt_train_opts *o, err_t *e);

#endif
