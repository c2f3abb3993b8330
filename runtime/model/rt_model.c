#include "rt_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NORM_CHUNK 4096L

static int fill_host(const nw_layout *lay, void *params, void *stats, size_t elem, uint64_t seed) {
  rng_t r;
  rng_seed(&r, seed);
  for (int i = 0; i < lay->n; i++) {
    const nw_tensor *t = &lay->t[i];
    char *base = t->kind == NW_PARAM ? params : stats;
    for (size_t k = 0; k < t->numel; k++) {
      double v = t->init_const ? t->init : (2 * rng_uniform(&r) - 1) * t->init;
      if (elem == 8) ((double *)base)[t->offset + k] = v;
      else ((float *)base)[t->offset + k] = (float)v;
    }
  }
  return 0;
}

int rt_model_init(rt_model *m, rt_backend *b, const nw_layout *lay, uint64_t seed, err_t *e) {
  memset(m, 0, sizeof *m);
  m->lay = lay;
  m->b = b;
  size_t pb = lay->nparams * b->elem, sb = (lay->nstats ? lay->nstats : 1) * b->elem;
  /* a chunk sum per started chunk of every tensor: each touched run of
     tensors rounds its last chunk up */
  m->npartial = (long)((lay->nparams + NORM_CHUNK - 1) / NORM_CHUNK) + lay->n;
  m->params = b->alloc(b, pb, e);
  m->grads = m->params ? b->alloc(b, pb, e) : NULL;
  m->mom = m->grads ? b->alloc(b, pb, e) : NULL;
  m->stats = m->mom ? b->alloc(b, sb, e) : NULL;
  m->partial = m->stats ? b->alloc(b, (size_t)m->npartial * b->elem, e) : NULL;
  m->touched = calloc((size_t)lay->n + 1, 1);
  if (!m->partial || !m->touched) goto fail;
  void *hp = calloc(1, pb), *hs = calloc(1, sb); /* alignment gaps stay 0: checkpoints are deterministic */
  if (!hp || !hs) {
    free(hp);
    free(hs);
    err_set(e, "out of memory");
    goto fail;
  }
  fill_host(lay, hp, hs, b->elem, seed);
  int rc = b->upload(b, m->params, hp, pb, e) || b->upload(b, m->stats, hs, sb, e) || b->zero(b, m->grads, pb, e) ||
           b->zero(b, m->mom, pb, e);
  free(hp);
  free(hs);
  if (rc) goto fail;
  cg_spec specs[2];
  if (cg_spec_make(&specs[0], "sgd", NULL, 0, e) != 0 ||
      cg_spec_make(&specs[1], "sumsq", CG_CONSTS({"CHUNK", NORM_CHUNK}), e) != 0)
    goto fail;
  const rt_kernel *ks[2];
  if (rt_kernels_get(b, specs, 2, ks, e) != 0) goto fail;
  m->k_sgd = ks[0];
  m->k_sumsq = ks[1];
  return 0;
fail:
  rt_model_free(m);
  return -1;
}

void rt_model_free(rt_model *m) {
  if (m->b) {
    m->b->free(m->b, m->params);
    m->b->free(m->b, m->grads);
    m->b->free(m->b, m->mom);
    m->b->free(m->b, m->stats);
    m->b->free(m->b, m->partial);
  }
  free(m->touched);
  free(m->host);
  memset(m, 0, sizeof *m);
}

rt_bind rt_model_bind(const rt_model *m, void *arena) {
  rt_bind b = {arena, m->params, m->grads, m->stats, 0, 0};
  return b;
}

int rt_model_zero_grads(rt_model *m, err_t *e) {
  return m->b->zero(m->b, m->grads, m->lay->nparams * m->b->elem, e);
}

void rt_model_touch(rt_model *m, const pl_plan *p) {
  for (int i = 0; i < p->ntouched; i++) m->touched[p->touched[i]] = 1;
}

/* Touched tensors as maximal runs of contiguous parameter elements. */
typedef struct {
  size_t off, n;
} range;

static int touched_ranges(const rt_model *m, range **out) {
  const nw_layout *lay = m->lay;
  range *r = malloc((size_t)(lay->n + 1) * sizeof *r);
  if (!r) return -1;
  int n = 0;
  for (int i = 0; i < lay->n; i++) {
    const nw_tensor *t = &lay->t[i];
    if (!m->touched[i] || t->kind != NW_PARAM) continue;
    size_t end = t->offset + ((t->numel + 15) & ~(size_t)15);
    if (n && r[n - 1].off + r[n - 1].n == t->offset) r[n - 1].n = end - r[n - 1].off;
    else r[n++] = (range){t->offset, end - t->offset};
  }
  *out = r;
  return n;
}

static int launch(rt_model *m, const rt_kernel *k, long n, void **params, err_t *e) {
  params[0] = &n;
  return m->b->launch(m->b, k, n, params, e);
}

int rt_model_sgd(rt_model *m, float lr, float momentum, float wd, float clip, double *gnorm, err_t *e) {
  rt_backend *b = m->b;
  range *r;
  int nr = touched_ranges(m, &r);
  if (nr < 0) return err_set(e, "out of memory");
  size_t el = b->elem;
  /* the norm over the touched gradients: every run's chunk sums side by
     side, read back once (one wait on a GPU), summed in double */
  double ss = 0;
  double *host = malloc((size_t)m->npartial * sizeof(double) + 8);
  float *hostf = (float *)host;
  int rc = host ? 0 : err_set(e, "out of memory");
  long at = 0;
  for (int i = 0; i < nr && rc == 0; i++) {
    long n = (long)r[i].n, chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    void *x = (char *)m->grads + r[i].off * el, *part = (char *)m->partial + (size_t)at * el;
    void *params[4] = {NULL, &part, &x, &n};
    rc = launch(m, m->k_sumsq, chunks, params, e);
    at += chunks;
  }
  if (rc == 0 && at > 0) rc = b->download(b, host, m->partial, (size_t)at * el, e);
  for (long k = 0; k < at && rc == 0; k++) ss += el == 8 ? host[k] : (double)hostf[k];
  free(host);
  double norm = sqrt(ss);
  if (gnorm) *gnorm = norm;
  /* torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when above */
  float gscale = clip > 0 && norm > clip ? (float)(clip / (norm + 1e-6)) : 1.0f;
  for (int i = 0; i < nr && rc == 0; i++) {
    long n = (long)r[i].n;
    void *w = (char *)m->params + r[i].off * el, *mo = (char *)m->mom + r[i].off * el,
         *g = (char *)m->grads + r[i].off * el;
    void *params[8] = {NULL, &w, &mo, &g, &lr, &momentum, &wd, &gscale};
    rc = launch(m, m->k_sgd, n, params, e);
  }
  free(r);
  memset(m->touched, 0, (size_t)m->lay->n);
  return rc;
}

int rt_model_get(rt_model *m, void *dst, const void *block, size_t bytes, err_t *e) {
  return m->b->download(m->b, dst, block, bytes, e);
}

int rt_model_join(rt_model *m, rt_comm *c, err_t *e) {
  if (c->size == 1) return 0;
  const size_t np = m->lay->nparams;
  if (m->b->elem != 4) return err_set(e, "several ranks need the float32 backends");
  int *touched = malloc(sizeof(int) * (size_t)(m->lay->n + 1));
  if (!touched) return err_set(e, "out of memory");
  int rc = 0;
  if (m->b->sum_f32) rc = m->b->sum_f32(m->b, m->grads, np, e); /* on the device (NCCL) */
  else if (!m->host && !(m->host = malloc(sizeof(float) * np + 4))) rc = err_set(e, "out of memory");
  else
    rc = rt_model_get(m, m->host, m->grads, np * 4, e) || rt_comm_sum_f32(c, m->host, np, e) ||
         m->b->upload(m->b, m->grads, m->host, np * 4, e);
  for (int t = 0; t < m->lay->n; t++) touched[t] = m->touched[t];
  if (rc == 0) rc = rt_comm_max(c, touched, m->lay->n, e);
  for (int t = 0; t < m->lay->n && rc == 0; t++) m->touched[t] = (unsigned char)touched[t];
  free(touched);
  return rc ? -1 : 0;
}

int rt_model_hash_params(rt_model *m, uint64_t *h, err_t *e) {
  const size_t pb = m->lay->nparams * m->b->elem;
  void *w = malloc(pb ? pb : 1);
  if (!w) return err_set(e, "out of memory");
  int rc = rt_model_get(m, w, m->params, pb, e);
  if (rc == 0) *h = rt_comm_hash(*h, w, pb);
  free(w);
  return rc;
}
