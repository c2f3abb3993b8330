/* Running a plan on a backend: each step's references become pointers into
 * the arena and the parameter blocks, and its run-time scalars are filled. */
#ifndef PARSEC_RT_EXEC_H
#define PARSEC_RT_EXEC_H
#include "pl_plan.h"
#include "rt_kernels.h"

/* Where a plan's pointers point. */
typedef struct {
  void *arena; /* the plan's arena, at least pl_arena_bytes(plan, N, elem) */
  void *params, *grads, *stats;
  float loss_scale;  /* PA_LOSS_SCALE: scale of the cross-entropy's gradient */
  float bn_momentum; /* PA_BN_MOMENTUM: running-statistics momentum */
} rt_bind;

/* A plan ready to run: its kernels resolved. */
typedef struct {
  const pl_plan *plan;
  const rt_kernel **kernels; /* per plan spec */
} rt_exec;

int rt_exec_prepare(rt_exec *x, rt_backend *b, const pl_plan *p, err_t *e);
void rt_exec_free(rt_exec *x);
int rt_exec_run(rt_backend *b, const rt_exec *x, long N, const rt_bind *bind, err_t *e);
/* A pointer that a plan reference names, for inputs and outputs. */
void *rt_ref_ptr(const rt_backend *b, const pl_plan *p, const rt_bind *bind, pl_ref r, long N);

#endif
