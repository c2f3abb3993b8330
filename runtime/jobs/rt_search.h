/* `parsec-run search`: importance-weighted Monte-Carlo empirical Bayes
 * (Algorithm 1 of the PARSEC paper), one sampled child at a time.
 *
 * A step: draw K architectures from p(alpha | pi); on a batch of the search
 * split, log w_k = sum of log p(y | x, v, alpha_k) (forward only, batch
 * statistics, running statistics untouched); w = softmax(log w / T); on a
 * batch of the train split, forward and backward of each child, accumulating
 * w_k * grad(batch-mean cross-entropy) into the shared weights' gradient;
 * grad(logits) = sum_k w_k (onehot(alpha_k) - pi), ascended with Adam; SGD
 * (cosine learning rate, momentum, weight decay, gradient-norm clip) on the
 * weights the step's children used.  Only one child's activations are alive
 * at a time. */
#ifndef PARSEC_RT_SEARCH_H
#define PARSEC_RT_SEARCH_H
#include "err.h"

typedef struct {
  const char *space;   /* .lua, compiled directory, or a bundled space's name */
  const char *data;    /* NULL: the space's recipe */
  const char *augment; /* rt_augment.h's recipes; NULL: auto */
  int image_size;      /* the networks' input size (< 0: the space's) */
  const char *mean, *std; /* the normalisation (rt_data_norm); NULL: the data's own */
  const char *out;     /* the run directory */
  int epochs, samples, batch, limit, seed; /* < 0: the recipe's */
  double temperature, split, arch_lr;       /* NaN: the recipe's */
  int warmup, uniform_weights;              /* < 0: the recipe's */
  double temperature_end;                   /* NaN: the recipe's */
  int threads;                              /* CPU threads, 0: all cores */
  const char *device;  /* cpu, cuda, auto */
  int resume;
  const char *init_from; /* a run directory whose distribution starts this search (transfer) */
  int progress;          /* -1: on a terminal, 0: never, 1: always */
  int quiet;
  int no_graphs; /* on a GPU, no CUDA graphs for the plans that repeat (the mode's evaluation) */
  int argc;      /* the whole command line, for the run's record */
  char *const *argv;
} rt_search_opts;

/* Runs (or resumes) a search; returns 0, ERR_INTERRUPTED (a checkpoint was
 * written), or the failure's exit status (err.h) with its message in E. */
int rt_search_run(const rt_search_opts *o, err_t *e);

#endif
