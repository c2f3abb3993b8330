#include "rt_runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t slot_bytes(const rt_runner *r) { return (size_t)r->batch * (2 * r->b->elem + sizeof(int32_t)); }

int rt_runner_init(rt_runner *r, rt_backend *b, rt_model *m, int batch, long image_elems, int slots, err_t *e) {
  memset(r, 0, sizeof *r);
  r->b = b;
  r->m = m;
  r->batch = batch;
  r->nslots = slots;
  r->slots = calloc((size_t)slots, sizeof *r->slots);
  r->results = calloc((size_t)slots, sizeof *r->results);
  if (!r->slots || !r->results) {
    rt_runner_free(r);
    return err_set(e, "out of memory");
  }
  /* page-locked where the backend has it: the staging is rewritten only
     after rt_runner_wait, which waits for the uploads (rt_backend.h) */
  r->himg = b->host_alloc(b, (size_t)batch * (size_t)image_elems * b->elem, e);
  r->hlab = r->himg ? b->host_alloc(b, sizeof *r->hlab * (size_t)batch, e) : NULL;
  r->hres = r->hlab ? b->host_alloc(b, slot_bytes(r) * (size_t)slots, e) : NULL;
  if (!r->hres) {
    rt_runner_free(r);
    return -1;
  }
  return 0;
}

void rt_runner_free(rt_runner *r) {
  if (r->b) {
    rt_runner_use_graphs(r, 0);
    r->b->free(r->b, r->arena);
    r->b->host_free(r->b, r->himg);
    r->b->host_free(r->b, r->hlab);
    r->b->host_free(r->b, r->hmask);
    r->b->host_free(r->b, r->hres);
  }
  free(r->slots);
  free(r->results);
  memset(r, 0, sizeof *r);
}

static void drop_recordings(rt_runner *r) {
  for (int i = 0; i < RT_RECORDINGS; i++) {
    if (r->rec[i].graph) r->b->graph_free(r->b, r->rec[i].graph);
    memset(&r->rec[i], 0, sizeof r->rec[i]);
  }
}

void rt_runner_use_graphs(rt_runner *r, int on) {
  if (!on) drop_recordings(r);
  r->graphs = on && r->b->graph_launch;
}

/* A run's recording: the first run of a (plan, batch, scalars) goes
   step by step (*g NULL), which also loads every kernel and cuBLAS's
   workspace before any recording; the second is recorded; later ones
   launch the recording. */
static int recording(rt_runner *r, const rt_exec *x, long N, const rt_bind *bind, void **g, err_t *e) {
  rt_backend *b = r->b;
  rt_recording key = {x->plan->serial, N, bind->loss_scale, bind->bn_momentum, NULL}, *q = NULL;
  for (int i = 0; i < RT_RECORDINGS && !q; i++) {
    rt_recording *c = &r->rec[i];
    if (c->serial == key.serial && c->n == N && c->loss_scale == key.loss_scale &&
        c->bn_momentum == key.bn_momentum)
      q = c;
  }
  *g = q ? q->graph : NULL;
  if (*g) return 0;
  if (!q) { /* seen for the first time */
    q = &r->rec[r->rec_next];
    r->rec_next = (r->rec_next + 1) % RT_RECORDINGS;
    if (q->graph) b->graph_free(b, q->graph);
    *q = key;
    return 0;
  }
  if (b->capture_begin(b, e) != 0) return -1;
  int rc = rt_exec_run(b, x, N, bind, e);
  if (b->capture_end(b, &q->graph, rc ? NULL : e) != 0 || rc != 0) return -1;
  *g = q->graph;
  return 0;
}

/* The plan's steps, or their recording. */
static int run_plan(rt_runner *r, const rt_exec *x, long N, const rt_bind *bind, err_t *e) {
  void *g = NULL;
  if (r->graphs && recording(r, x, N, bind, &g, e) != 0) { /* the steps as they are, from now on */
    snprintf(r->graphs_off, sizeof r->graphs_off, "%s", err_msg(e));
    err_clear(e);
    rt_runner_use_graphs(r, 0);
  }
  if (!g) return rt_exec_run(r->b, x, N, bind, e);
  r->graph_launches++;
  return r->b->graph_launch(r->b, g, e);
}

static int ensure_arena(rt_runner *r, size_t bytes, err_t *e) {
  if (bytes <= r->cap) return 0;
  drop_recordings(r); /* they hold the old arena's addresses: a recording is valid for one arena */
  r->b->free(r->b, r->arena);
  r->arena = r->b->alloc(r->b, bytes, e);
  r->cap = r->arena ? bytes : 0;
  return r->arena ? 0 : -1;
}

int rt_runner_drops(rt_runner *r, const pl_plan *p, long N, double drop, rng_t *rng, err_t *e) {
  size_t need = (size_t)p->ndrops * (size_t)N;
  if ((int)need > r->nmask) { /* the old scales are all rewritten below */
    void *m = r->b->host_alloc(r->b, (need ? need : 1) * r->b->elem, e);
    if (!m) return -1;
    r->b->host_free(r->b, r->hmask);
    r->hmask = m;
    r->nmask = (int)need;
  }
  for (size_t i = 0; i < need; i++) {
    double v = drop > 0 && rng_uniform(rng) < drop ? 0 : 1 / (1 - drop);
    if (r->b->elem == 8) ((double *)r->hmask)[i] = v;
    else ((float *)r->hmask)[i] = (float)v;
  }
  return 0;
}

/* a slot's per-sample values, in the backend's precision or int32 */
static double sum_real(const void *v, long n, size_t el) {
  double s = 0;
  for (long i = 0; i < n; i++) s += el == 8 ? ((const double *)v)[i] : ((const float *)v)[i];
  return s;
}

static double sum_int(const int32_t *v, long n) {
  double s = 0;
  for (long i = 0; i < n; i++) s += v[i];
  return s;
}

int rt_runner_submit(rt_runner *r, const pl_plan *p, long N, float loss_scale, float bn_momentum, int slot, err_t *e) {
  rt_backend *b = r->b;
  if (slot < 0 || slot >= r->nslots || N > r->batch)
    return err_set(e, "internal: runner slot %d of %d, batch %ld of %d", slot, r->nslots, N, r->batch);
  rt_exec x;
  if (rt_exec_prepare(&x, b, p, e) != 0) return -1;
  int rc = ensure_arena(r, pl_arena_bytes(p, r->batch, b->elem), e);
  rt_bind bind = rt_model_bind(r->m, r->arena);
  bind.loss_scale = loss_scale;
  bind.bn_momentum = bn_momentum;
  size_t img = (size_t)N * p->in_c * p->in_h * p->in_w * b->elem, el = b->elem;
  if (rc == 0) rc = b->upload(b, rt_ref_ptr(b, p, &bind, p->images, N), r->himg, img, e);
  if (rc == 0) rc = b->upload(b, rt_ref_ptr(b, p, &bind, p->labels, N), r->hlab, sizeof(int32_t) * (size_t)N, e);
  for (int d = 0; d < p->ndrops && rc == 0; d++)
    rc = b->upload(b, rt_ref_ptr(b, p, &bind, p->drops[d], N), (char *)r->hmask + (size_t)d * N * el,
                   (size_t)N * el, e);
  if (rc == 0) rc = run_plan(r, &x, N, &bind, e);
  char *h = (char *)r->hres + slot_bytes(r) * (size_t)slot;
  if (rc == 0) rc = b->fetch(b, h, rt_ref_ptr(b, p, &bind, p->loglik, N), (size_t)N * el, e);
  if (rc == 0 && p->has_aux)
    rc = b->fetch(b, h + (size_t)r->batch * el, rt_ref_ptr(b, p, &bind, p->aux_loglik, N), (size_t)N * el, e);
  if (rc == 0)
    rc = b->fetch(b, h + (size_t)r->batch * 2 * el, rt_ref_ptr(b, p, &bind, p->correct, N), sizeof(int32_t) * (size_t)N, e);
  rt_exec_free(&x);
  r->slots[slot] = (rt_slot){rc == 0 ? N : 0, p->has_aux, pl_arena_bytes(p, N, el)};
  return rc;
}

int rt_runner_wait(rt_runner *r, err_t *e) {
  int rc = r->b->sync(r->b, e);
  size_t used = r->b->mem_used(r->b); /* once the queued plans (and what the libraries allocated for them) ran */
  if (used > r->device_peak) r->device_peak = used;
  size_t el = r->b->elem;
  for (int s = 0; s < r->nslots; s++) {
    rt_slot *q = &r->slots[s];
    if (!q->n) continue;
    const char *h = (const char *)r->hres + slot_bytes(r) * (size_t)s;
    rt_result *res = &r->results[s];
    memset(res, 0, sizeof *res);
    res->arena_bytes = q->arena_bytes;
    if (rc == 0) {
      res->loglik = sum_real(h, q->n, el);
      if (q->has_aux) res->aux_loglik = sum_real(h + (size_t)r->batch * el, q->n, el);
      res->correct = sum_int((const int32_t *)(h + (size_t)r->batch * 2 * el), q->n);
    }
    q->n = 0;
  }
  return rc;
}

int rt_runner_run(rt_runner *r, const pl_plan *p, long N, float loss_scale, float bn_momentum, rt_result *res,
                  err_t *e) {
  int rc = rt_runner_submit(r, p, N, loss_scale, bn_momentum, 0, e);
  if (rt_runner_wait(r, rc == 0 ? e : NULL) != 0) rc = -1;
  *res = r->results[0];
  return rc;
}
