/* The distribution p(alpha | pi) over cells: for each cell type (normal,
 * reduction), node n and input slot i, an independent categorical over the
 * (2 + n) x P (predecessor, primitive) pairs, predecessor-major; pi =
 * softmax(logits), logits starting at 0.  The logits ascend the importance-
 * weighted estimate of the gradient of the log marginal likelihood with Adam
 * (the `adam` kernel, on the backend). */
#ifndef PARSEC_RT_DIST_H
#define PARSEC_RT_DIST_H
#include "gt_genotype.h"
#include "rt_kernels.h"
#include "rng.h"

struct cJSON;

typedef struct {
  const sp_space *sp;
  int ncat;   /* 2 * nodes * inputs */
  int total;  /* logits in all */
  int *off;   /* [ncat] first logit of each categorical */
  int *size;  /* [ncat] */
  double *logits; /* host copy, [total] */
  /* Adam */
  double beta1, beta2, eps;
  long t;
  rt_backend *b;
  void *dp, *dm, *dv, *dg; /* device: logits, moments, gradient (backend precision) */
  const rt_kernel *k_adam;
} rt_dist;

/* B NULL: a distribution on the host alone, for sampling, the mode and
 * distribution.json (rt_dist_adam and rt_dist_moments need a backend). */
int rt_dist_init(rt_dist *d, const sp_space *sp, rt_backend *b, double beta1, double beta2, err_t *e);
void rt_dist_free(rt_dist *d);

static inline int rt_dist_cat(const rt_dist *d, int type, int node, int slot) {
  return (type * d->sp->nodes + node) * d->sp->inputs + slot;
}
/* pi of categorical CAT into P[size] */
void rt_dist_probs(const rt_dist *d, int cat, double *p);
void rt_dist_sample(const rt_dist *d, rng_t *rng, gt_genotype *g);
void rt_dist_mode(const rt_dist *d, gt_genotype *g);
double rt_dist_entropy(const rt_dist *d);
/* log p(G) under the distribution. */
double rt_dist_logp(const rt_dist *d, const gt_genotype *g);
/* The M most probable genotypes, most probable first (the first is the
 * mode), distinct as networks: two that differ only in the order of a
 * node's inputs (the node sums them) count once.  *N: how many were found
 * (fewer than M only when the space holds fewer networks). */
int rt_dist_top(const rt_dist *d, int M, gt_genotype *out, int *n, err_t *e);

/* w = softmax(x / temperature), computed in log space: stable for log-
 * likelihoods of any size. */
void rt_softmax(const double *x, int n, double temperature, double *w);
/* grad[j] = sum_k w_k (onehot(alpha_k) - pi) for every categorical. */
void rt_dist_grad(const rt_dist *d, const gt_genotype *samples, const double *w, int K, double *grad);
/* One Adam ascent step on the logits with GRAD. */
int rt_dist_adam(rt_dist *d, const double *grad, double lr, err_t *e);
/* Replaces the logits (and resets Adam's state when FRESH). */
int rt_dist_set(rt_dist *d, const double *logits, const double *m, const double *v, long t, err_t *e);
/* Adam's moments, for checkpoints: host copies [total]. */
int rt_dist_moments(rt_dist *d, double *m, double *v, err_t *e);

/* distribution.json: probabilities per categorical, and the logits. */
char *rt_dist_json(const rt_dist *d);
/* pi after epoch EPOCH as a line of distribution.jsonl: {"epoch", "entropy",
 * "p": [[...], ...]}, the categoricals in distribution.json's order (normal
 * then reduce, node, slot) and each one's choices input-major: choice k is
 * input k / nprims, primitive k % nprims. */
struct cJSON *rt_dist_history_line(const rt_dist *d, int epoch);
/* Reads logits from a distribution.json written for the same categoricals. */
int rt_dist_load_json(rt_dist *d, const char *path, err_t *e);

#endif
