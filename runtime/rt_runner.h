/* Running plans on staged batches: the one arena (grown to the largest plan
 * run so far), the host staging of images, labels and drop-path scales, and
 * the per-sample results read back.  Shared by search and training. */
#ifndef PARSEC_RT_RUNNER_H
#define PARSEC_RT_RUNNER_H
#include "rt_model.h"

typedef struct {
  rt_backend *b;
  rt_model *m;
  void *arena;
  size_t cap;
  int batch;     /* the largest batch the staging holds */
  void *himg;    /* staged images, CNHW, backend precision */
  int32_t *hlab; /* staged labels */
  void *hmask;   /* staged drop-path scales, [ndrops][N] */
  int nmask;
  size_t device_peak; /* device memory in use, the most seen after a run's allocation (0: the backend cannot say) */
} rt_runner;

typedef struct {
  double loglik, correct;    /* sums over the batch */
  double aux_loglik;         /* the auxiliary head's, when the plan has one */
  size_t arena_bytes;        /* what this plan needed for this batch */
} rt_result;

int rt_runner_init(rt_runner *r, rt_backend *b, rt_model *m, int batch, long image_elems, err_t *e);
void rt_runner_free(rt_runner *r);
/* Runs PLAN on the staged batch of N (images in r->himg, labels in r->hlab,
 * drop-path scales in r->hmask when the plan has drops). */
int rt_runner_run(rt_runner *r, const pl_plan *p, long N, float loss_scale, float bn_momentum, rt_result *res,
                  err_t *e);
/* Fills the drop-path scales of PLAN for N samples: 0 with probability
 * DROP, else 1 / (1 - DROP). */
int rt_runner_drops(rt_runner *r, const pl_plan *p, long N, double drop, rt_rng *rng, err_t *e);

#endif
