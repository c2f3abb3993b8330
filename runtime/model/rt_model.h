/* A network's state on a backend: parameters, their gradients and SGD
 * momenta, and BN running statistics, each one allocation laid out by an
 * nw_layout; and the weight update.
 *
 * Only tensors that received a gradient since the last update move (their
 * momentum and weight decay included), as PyTorch does for parameters with no
 * gradient: during a search, the edges that no sampled child used. */
#ifndef PARSEC_RT_MODEL_H
#define PARSEC_RT_MODEL_H
#include "rt_comm.h"
#include "rt_exec.h"
#include "rng.h"

typedef struct {
  const nw_layout *lay;
  rt_backend *b;
  void *params, *grads, *mom, *stats; /* device blocks */
  unsigned char *touched;             /* per tensor, since the last update */
  void *partial;                      /* device scratch for the gradient norm */
  long npartial;
  const rt_kernel *k_sgd, *k_sumsq;
  float *host; /* staging of the gradients for rt_model_join (several ranks) */
} rt_model;

/* Allocates the blocks and initialises them (conv and linear weights
 * uniform(+-1/sqrt(fan_in)), affine BN 1 and 0, running mean 0 and var 1). */
int rt_model_init(rt_model *m, rt_backend *b, const nw_layout *lay, uint64_t seed, err_t *e);
void rt_model_free(rt_model *m);
rt_bind rt_model_bind(const rt_model *m, void *arena);

int rt_model_zero_grads(rt_model *m, err_t *e);
/* Marks the tensors a training plan writes gradients to. */
void rt_model_touch(rt_model *m, const pl_plan *p);
/* Gradient-norm clipping (clip > 0) and SGD over the touched tensors, then
 * clears the touched set.  *gnorm: the norm before clipping. */
int rt_model_sgd(rt_model *m, float lr, float momentum, float wd, float clip, double *gnorm, err_t *e);

/* Host copies of a block (params, stats, ...), BYTES long. */
int rt_model_get(rt_model *m, void *dst, const void *block, size_t bytes, err_t *e);

/* Several ranks: the gradients summed across them (on the device where the
 * backend was joined to the ranks with a device path, NCCL; through host
 * memory and MPI otherwise) and the touched sets joined, so that every
 * rank's update is the same. */
int rt_model_join(rt_model *m, rt_comm *c, err_t *e);
/* A hash of the parameters, continuing from *H (ranks compare them). */
int rt_model_hash_params(rt_model *m, uint64_t *h, err_t *e);

#endif
