#include "rt_exec.h"

#include <stdlib.h>
#include <string.h>

int rt_exec_prepare(rt_exec *x, rt_backend *b, const pl_plan *p, err_t *e) {
  x->plan = p;
  x->kernels = calloc((size_t)p->nspecs + 1, sizeof *x->kernels);
  if (!x->kernels) return err_set(e, "out of memory");
  if (rt_kernels_get(b, p->specs, p->nspecs, x->kernels, e) != 0) {
    rt_exec_free(x);
    return -1;
  }
  return 0;
}

void rt_exec_free(rt_exec *x) {
  free(x->kernels);
  x->kernels = NULL;
}

void *rt_ref_ptr(const rt_backend *b, const pl_plan *p, const rt_bind *bind, pl_ref r, long N) {
  size_t el = b->elem;
  switch (r.space) {
  case PR_ARENA: return (char *)bind->arena + (size_t)N * (size_t)r.off * el;
  case PR_FIXED: return (char *)bind->arena + ((size_t)N * (size_t)p->arena_units + (size_t)r.off) * el;
  case PR_PARAM: return (char *)bind->params + (size_t)r.off * el;
  case PR_GRAD: return (char *)bind->grads + (size_t)r.off * el;
  case PR_STAT: return (char *)bind->stats + (size_t)r.off * el;
  default: return NULL;
  }
}

static long dim(const pl_dim d, long N) { return d[0] + d[1] * N; }

int rt_exec_run(rt_backend *b, const rt_exec *x, long N, const rt_bind *bind, err_t *e) {
  const pl_plan *p = x->plan;
  for (int i = 0; i < p->nsteps; i++) {
    const pl_step *s = &p->steps[i];
    int rc = 0;
    if (s->kind == PS_KERNEL) {
      void *params[CG_MAXARGS + 1];
      void *ptrs[CG_MAXARGS];
      int ints[CG_MAXARGS];
      long longs[CG_MAXARGS];
      float floats[CG_MAXARGS];
      long n = N;
      params[0] = &n;
      for (int a = 0; a < s->nargs; a++) {
        const pl_arg *g = &s->args[a];
        switch (g->kind) {
        case PA_REF:
          ptrs[a] = rt_ref_ptr(b, p, bind, g->ref, N);
          params[a + 1] = &ptrs[a];
          break;
        case PA_INT:
          ints[a] = (int)g->i;
          params[a + 1] = &ints[a];
          break;
        case PA_LONG:
          longs[a] = g->i;
          params[a + 1] = &longs[a];
          break;
        case PA_FLOAT:
          floats[a] = g->f;
          params[a + 1] = &floats[a];
          break;
        case PA_LOSS_SCALE:
          floats[a] = bind->loss_scale * g->f;
          params[a + 1] = &floats[a];
          break;
        case PA_BN_MOMENTUM:
          floats[a] = bind->bn_momentum;
          params[a + 1] = &floats[a];
          break;
        }
      }
      rc = b->launch(b, x->kernels[s->spec], N, params, e);
    } else if (s->kind == PS_GEMM) {
      rc = b->gemm(b, s->ta, s->tb, dim(s->m, N), dim(s->n, N), dim(s->k, N), s->alpha,
                   rt_ref_ptr(b, p, bind, s->a, N), dim(s->lda, N), rt_ref_ptr(b, p, bind, s->b, N),
                   dim(s->ldb, N), s->beta, rt_ref_ptr(b, p, bind, s->c, N), dim(s->ldc, N), e);
    } else {
      rc = b->zero(b, rt_ref_ptr(b, p, bind, s->a, N), (size_t)dim(s->count, N) * b->elem, e);
    }
    if (rc != 0) return err_prefix(e, "%s (step %d)", p->ops[s->op].what, i);
  }
  return 0;
}
