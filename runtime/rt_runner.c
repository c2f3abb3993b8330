#include "rt_runner.h"

#include <stdlib.h>
#include <string.h>

int rt_runner_init(rt_runner *r, rt_backend *b, rt_model *m, int batch, long image_elems, err_t *e) {
  memset(r, 0, sizeof *r);
  r->b = b;
  r->m = m;
  r->batch = batch;
  /* the staging is rewritten only after rt_runner_run has read its results
     back, which waits for the uploads (the backend's contract) */
  r->himg = b->host_alloc(b, (size_t)batch * (size_t)image_elems * b->elem, e);
  r->hlab = r->himg ? b->host_alloc(b, sizeof *r->hlab * (size_t)batch, e) : NULL;
  if (!r->himg || !r->hlab) {
    rt_runner_free(r);
    return -1;
  }
  return 0;
}

void rt_runner_free(rt_runner *r) {
  if (r->b) {
    r->b->free(r->b, r->arena);
    r->b->host_free(r->b, r->himg);
    r->b->host_free(r->b, r->hlab);
    r->b->host_free(r->b, r->hmask);
  }
  memset(r, 0, sizeof *r);
}

static int ensure_arena(rt_runner *r, size_t bytes, err_t *e) {
  if (bytes <= r->cap) return 0;
  r->b->free(r->b, r->arena);
  r->arena = r->b->alloc(r->b, bytes, e);
  r->cap = r->arena ? bytes : 0;
  return r->arena ? 0 : -1;
}

int rt_runner_drops(rt_runner *r, const pl_plan *p, long N, double drop, rt_rng *rng, err_t *e) {
  size_t need = (size_t)p->ndrops * (size_t)N;
  if ((int)need > r->nmask) { /* the old scales are all rewritten below */
    void *m = r->b->host_alloc(r->b, (need ? need : 1) * r->b->elem, e);
    if (!m) return -1;
    r->b->host_free(r->b, r->hmask);
    r->hmask = m;
    r->nmask = (int)need;
  }
  for (size_t i = 0; i < need; i++) {
    double v = drop > 0 && rt_rng_uniform(rng) < drop ? 0 : 1 / (1 - drop);
    if (r->b->elem == 8) ((double *)r->hmask)[i] = v;
    else ((float *)r->hmask)[i] = (float)v;
  }
  return 0;
}

static double sum_back(rt_runner *r, const void *dev, long N, int is_int, err_t *e, int *rc) {
  double s = 0;
  char buf[8 * 1024];
  size_t el = is_int ? sizeof(int32_t) : r->b->elem;
  for (long at = 0; *rc == 0 && at < N; at += 1024) {
    long n = N - at < 1024 ? N - at : 1024;
    *rc = r->b->download(r->b, buf, (const char *)dev + (size_t)at * el, (size_t)n * el, e);
    for (long i = 0; i < n && *rc == 0; i++)
      s += is_int ? ((int32_t *)buf)[i] : el == 8 ? ((double *)buf)[i] : ((float *)buf)[i];
  }
  return s;
}

int rt_runner_run(rt_runner *r, const pl_plan *p, long N, float loss_scale, float bn_momentum, rt_result *res,
                  err_t *e) {
  rt_backend *b = r->b;
  rt_exec x;
  if (rt_exec_prepare(&x, b, p, e) != 0) return -1;
  memset(res, 0, sizeof *res);
  res->arena_bytes = pl_arena_bytes(p, N, b->elem);
  int rc = ensure_arena(r, pl_arena_bytes(p, r->batch, b->elem), e);
  size_t used = b->mem_used(b); /* a run allocates nothing after this */
  if (used > r->device_peak) r->device_peak = used;
  rt_bind bind = rt_model_bind(r->m, r->arena);
  bind.loss_scale = loss_scale;
  bind.bn_momentum = bn_momentum;
  size_t img = (size_t)N * p->in_c * p->in_h * p->in_w * b->elem;
  if (rc == 0) rc = b->upload(b, rt_ref_ptr(b, p, &bind, p->images, N), r->himg, img, e);
  if (rc == 0) rc = b->upload(b, rt_ref_ptr(b, p, &bind, p->labels, N), r->hlab, sizeof(int32_t) * (size_t)N, e);
  for (int d = 0; d < p->ndrops && rc == 0; d++)
    rc = b->upload(b, rt_ref_ptr(b, p, &bind, p->drops[d], N), (char *)r->hmask + (size_t)d * N * b->elem,
                   (size_t)N * b->elem, e);
  if (rc == 0) rc = rt_exec_run(b, &x, N, &bind, e);
  res->loglik = sum_back(r, rt_ref_ptr(b, p, &bind, p->loglik, N), N, 0, e, &rc);
  res->correct = sum_back(r, rt_ref_ptr(b, p, &bind, p->correct, N), N, 1, e, &rc);
  if (p->has_aux) res->aux_loglik = sum_back(r, rt_ref_ptr(b, p, &bind, p->aux_loglik, N), N, 0, e, &rc);
  rt_exec_free(&x);
  return rc;
}
