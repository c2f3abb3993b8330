#include "rt_dist.h"
#include "io.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rt_dist_init(rt_dist *d, const sp_space *sp, rt_backend *b, double beta1, double beta2, err_t *e) {
  memset(d, 0, sizeof *d);
  d->sp = sp;
  d->b = b;
  d->beta1 = beta1;
  d->beta2 = beta2;
  d->eps = 1e-8;
  d->ncat = 2 * sp->nodes * sp->inputs;
  d->off = calloc((size_t)d->ncat, sizeof *d->off);
  d->size = calloc((size_t)d->ncat, sizeof *d->size);
  if (!d->off || !d->size) goto oom;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < sp->nodes; n++)
      for (int i = 0; i < sp->inputs; i++) {
        int c = rt_dist_cat(d, t, n, i);
        d->off[c] = d->total;
        d->size[c] = sp_cat_size(sp, n);
        d->total += d->size[c];
      }
  d->logits = calloc((size_t)d->total, sizeof *d->logits);
  if (!d->logits) goto oom;
  if (!b) return 0; /* on the host alone: sampling, the mode, JSON; no Adam */
  size_t bytes = (size_t)d->total * b->elem;
  if (!(d->dp = b->alloc(b, bytes, e)) || !(d->dm = b->alloc(b, bytes, e)) || !(d->dv = b->alloc(b, bytes, e)) ||
      !(d->dg = b->alloc(b, bytes, e)))
    goto fail;
  if (b->zero(b, d->dp, bytes, e) || b->zero(b, d->dm, bytes, e) || b->zero(b, d->dv, bytes, e)) goto fail;
  cg_spec s;
  if (cg_spec_make(&s, "adam", NULL, 0, e) != 0 || rt_kernels_get(b, &s, 1, &d->k_adam, e) != 0) goto fail;
  return 0;
oom:
  err_set(e, "out of memory");
fail:
  rt_dist_free(d);
  return -1;
}

void rt_dist_free(rt_dist *d) {
  if (d->b) {
    d->b->free(d->b, d->dp);
    d->b->free(d->b, d->dm);
    d->b->free(d->b, d->dv);
    d->b->free(d->b, d->dg);
  }
  free(d->off);
  free(d->size);
  free(d->logits);
  memset(d, 0, sizeof *d);
}

void rt_softmax(const double *x, int n, double temperature, double *w) {
  double m = -INFINITY;
  for (int i = 0; i < n; i++)
    if (x[i] / temperature > m) m = x[i] / temperature;
  double s = 0;
  for (int i = 0; i < n; i++) s += (w[i] = exp(x[i] / temperature - m));
  for (int i = 0; i < n; i++) w[i] /= s;
}

void rt_dist_probs(const rt_dist *d, int cat, double *p) { rt_softmax(d->logits + d->off[cat], d->size[cat], 1.0, p); }

void rt_dist_sample(const rt_dist *d, rng_t *rng, gt_genotype *g) {
  memset(g, 0, sizeof *g);
  g->nodes = d->sp->nodes;
  g->inputs = d->sp->inputs;
  double p[GT_MAXNODES * 2 * 64];
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < g->nodes; n++)
      for (int i = 0; i < g->inputs; i++) {
        int c = rt_dist_cat(d, t, n, i), k = 0;
        rt_dist_probs(d, c, p);
        double u = rng_uniform(rng), acc = p[0];
        while (k + 1 < d->size[c] && u >= acc) acc += p[++k];
        g->pred[t][n][i] = k / d->sp->nprims;
        g->prim[t][n][i] = k % d->sp->nprims;
      }
}

void rt_dist_mode(const rt_dist *d, gt_genotype *g) {
  memset(g, 0, sizeof *g);
  g->nodes = d->sp->nodes;
  g->inputs = d->sp->inputs;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < g->nodes; n++)
      for (int i = 0; i < g->inputs; i++) {
        int c = rt_dist_cat(d, t, n, i), best = 0;
        const double *l = d->logits + d->off[c];
        for (int k = 1; k < d->size[c]; k++)
          if (l[k] > l[best]) best = k;
        g->pred[t][n][i] = best / d->sp->nprims;
        g->prim[t][n][i] = best % d->sp->nprims;
      }
}

double rt_dist_logp(const rt_dist *d, const gt_genotype *g) {
  double lp = 0, p[GT_MAXNODES * 2 * 64];
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < g->nodes; n++)
      for (int i = 0; i < g->inputs; i++) {
        int c = rt_dist_cat(d, t, n, i);
        rt_dist_probs(d, c, p);
        lp += log(p[g->pred[t][n][i] * d->sp->nprims + g->prim[t][n][i]]);
      }
  return lp;
}

/* ---------- the M most probable ---------- */

/* A joint choice as ranks into each categorical's choices sorted by
 * probability; PIVOT: the last categorical its parent moved. */
typedef struct {
  double lp;
  int pivot;
  unsigned char rank[2 * GT_MAXNODES * GT_MAXINPUTS];
} kbest;

static void heap_push(kbest *h, int *n, const kbest *x) {
  int i = (*n)++;
  h[i] = *x;
  while (i > 0 && h[(i - 1) / 2].lp < h[i].lp) {
    kbest t = h[i];
    h[i] = h[(i - 1) / 2];
    h[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static kbest heap_pop(kbest *h, int *n) {
  kbest top = h[0];
  h[0] = h[--*n];
  for (int i = 0;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < *n && h[l].lp > h[m].lp) m = l;
    if (r < *n && h[r].lp > h[m].lp) m = r;
    if (m == i) break;
    kbest t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
  return top;
}

/* Enumerates joint choices in order of probability: each state's children
 * move one categorical at or after its pivot one rank down, so every
 * state is reached from exactly one parent (Lawler's partition of a
 * product space). */
int rt_dist_top(const rt_dist *d, int M, gt_genotype *out, int *n, err_t *e) {
  int C = d->ncat, cap = M * (C + 1) + 1, nh = 0;
  double *lp = malloc(sizeof *lp * (size_t)d->total);
  int *order = malloc(sizeof *order * (size_t)d->total);
  kbest *heap = malloc(sizeof *heap * (size_t)cap);
  *n = 0;
  if (!lp || !order || !heap || C > 2 * GT_MAXNODES * GT_MAXINPUTS) {
    free(lp), free(order), free(heap);
    return err_set(e, "out of memory");
  }
  for (int c = 0; c < C; c++) { /* each categorical's choices, most probable first */
    double p[GT_MAXNODES * 2 * 64];
    rt_dist_probs(d, c, p);
    int *o = order + d->off[c];
    for (int k = 0; k < d->size[c]; k++) o[k] = k, lp[d->off[c] + k] = log(p[k]);
    for (int a = 1; a < d->size[c]; a++)
      for (int b = a; b > 0 && p[o[b]] > p[o[b - 1]]; b--) {
        int t = o[b];
        o[b] = o[b - 1];
        o[b - 1] = t;
      }
  }
  kbest s = {0, 0, {0}};
  for (int c = 0; c < C; c++) s.lp += lp[d->off[c] + order[d->off[c]]];
  heap_push(heap, &nh, &s);
  while (nh > 0 && *n < M) {
    kbest top = heap_pop(heap, &nh);
    gt_genotype g = {d->sp->nodes, d->sp->inputs, {{{0}}}, {{{0}}}};
    for (int t = 0, c = 0; t < 2; t++)
      for (int nd = 0; nd < g.nodes; nd++)
        for (int i = 0; i < g.inputs; i++, c++) {
          int k = order[d->off[c] + top.rank[c]];
          g.pred[t][nd][i] = k / d->sp->nprims;
          g.prim[t][nd][i] = k % d->sp->nprims;
        }
    int dup = 0;
    for (int j = 0; j < *n && !dup; j++) dup = gt_same_network(&out[j], &g);
    if (!dup) out[(*n)++] = g;
    for (int c = top.pivot; c < C; c++) {
      if (top.rank[c] + 1 >= d->size[c]) continue;
      if (nh == cap) { /* duplicates popped: more states than M predicted */
        kbest *grown = realloc(heap, sizeof *heap * (size_t)(cap *= 2));
        if (!grown) {
          free(lp), free(order), free(heap);
          return err_set(e, "out of memory");
        }
        heap = grown;
      }
      kbest child = top;
      child.rank[c]++;
      child.pivot = c;
      child.lp += lp[d->off[c] + order[d->off[c] + child.rank[c]]] - lp[d->off[c] + order[d->off[c] + top.rank[c]]];
      heap_push(heap, &nh, &child);
    }
  }
  free(lp);
  free(order);
  free(heap);
  return 0;
}

double rt_dist_entropy(const rt_dist *d) {
  double h = 0, p[GT_MAXNODES * 2 * 64];
  for (int c = 0; c < d->ncat; c++) {
    rt_dist_probs(d, c, p);
    for (int k = 0; k < d->size[c]; k++)
      if (p[k] > 0) h -= p[k] * log(p[k]);
  }
  return h;
}

void rt_dist_grad(const rt_dist *d, const gt_genotype *samples, const double *w, int K, double *grad) {
  double p[GT_MAXNODES * 2 * 64];
  memset(grad, 0, (size_t)d->total * sizeof *grad);
  double wsum = 0;
  for (int k = 0; k < K; k++) wsum += w[k];
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < d->sp->nodes; n++)
      for (int i = 0; i < d->sp->inputs; i++) {
        int c = rt_dist_cat(d, t, n, i);
        double *g = grad + d->off[c];
        rt_dist_probs(d, c, p);
        for (int j = 0; j < d->size[c]; j++) g[j] -= wsum * p[j];
        for (int k = 0; k < K; k++) g[gt_index(d->sp, samples[k].pred[t][n][i], samples[k].prim[t][n][i])] += w[k];
      }
}

static int to_device(rt_dist *d, void *dst, const double *src, err_t *e) {
  rt_backend *b = d->b;
  size_t n = (size_t)d->total;
  void *tmp = malloc(n * b->elem);
  if (!tmp) return err_set(e, "out of memory");
  for (size_t i = 0; i < n; i++) {
    if (b->elem == 8)
      ((double *)tmp)[i] = src[i];
    else
      ((float *)tmp)[i] = (float)src[i];
  }
  int rc = b->upload(b, dst, tmp, n * b->elem, e);
  free(tmp);
  return rc;
}

static int from_device(rt_dist *d, double *dst, const void *src, err_t *e) {
  rt_backend *b = d->b;
  size_t n = (size_t)d->total;
  void *tmp = malloc(n * b->elem);
  if (!tmp) return err_set(e, "out of memory");
  int rc = b->download(b, tmp, src, n * b->elem, e);
  for (size_t i = 0; i < n && rc == 0; i++) dst[i] = b->elem == 8 ? ((double *)tmp)[i] : ((float *)tmp)[i];
  free(tmp);
  return rc;
}

int rt_dist_adam(rt_dist *d, const double *grad, double lr, err_t *e) {
  if (to_device(d, d->dg, grad, e) != 0) return -1;
  d->t++;
  float flr = (float)lr, b1 = (float)d->beta1, b2 = (float)d->beta2;
  float bc1 = (float)(1 - pow(d->beta1, (double)d->t)), bc2 = (float)(1 - pow(d->beta2, (double)d->t));
  float eps = (float)d->eps, sign = 1;
  long n = d->total;
  void *params[12] = {&n, &d->dp, &d->dm, &d->dv, &d->dg, &flr, &b1, &b2, &bc1, &bc2, &eps, &sign};
  if (d->b->launch(d->b, d->k_adam, n, params, e) != 0) return -1;
  return from_device(d, d->logits, d->dp, e);
}

int rt_dist_set(rt_dist *d, const double *logits, const double *m, const double *v, long t, err_t *e) {
  memcpy(d->logits, logits, (size_t)d->total * sizeof *logits);
  d->t = t;
  if (!d->b) return 0;
  size_t bytes = (size_t)d->total * d->b->elem;
  if (to_device(d, d->dp, logits, e) != 0) return -1;
  if (m && v) return to_device(d, d->dm, m, e) || to_device(d, d->dv, v, e);
  return d->b->zero(d->b, d->dm, bytes, e) || d->b->zero(d->b, d->dv, bytes, e);
}

int rt_dist_moments(rt_dist *d, double *m, double *v, err_t *e) {
  return from_device(d, m, d->dm, e) || from_device(d, v, d->dv, e);
}

char *rt_dist_json(const rt_dist *d) {
  const sp_space *sp = d->sp;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", "parsec-distribution");
  cJSON_AddNumberToObject(root, "version", 1);
  cJSON_AddStringToObject(root, "space", sp->name);
  cJSON_AddNumberToObject(root, "nodes", sp->nodes);
  cJSON_AddNumberToObject(root, "inputs", sp->inputs);
  cJSON *prims = cJSON_AddArrayToObject(root, "primitives");
  for (int p = 0; p < sp->nprims; p++) cJSON_AddItemToArray(prims, cJSON_CreateString(sp->prims[p].darts_name));
  cJSON_AddNumberToObject(root, "entropy", rt_dist_entropy(d));
  cJSON *cats = cJSON_AddArrayToObject(root, "categoricals");
  double p[GT_MAXNODES * 2 * 64];
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < sp->nodes; n++)
      for (int i = 0; i < sp->inputs; i++) {
        int c = rt_dist_cat(d, t, n, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "cell", t ? "reduce" : "normal");
        cJSON_AddNumberToObject(o, "node", n);
        cJSON_AddNumberToObject(o, "slot", i);
        rt_dist_probs(d, c, p);
        cJSON *choices = cJSON_AddArrayToObject(o, "choices");
        for (int k = 0; k < d->size[c]; k++) {
          cJSON *ch = cJSON_CreateObject();
          cJSON_AddNumberToObject(ch, "input", k / sp->nprims);
          cJSON_AddStringToObject(ch, "primitive", sp->prims[k % sp->nprims].darts_name);
          cJSON_AddNumberToObject(ch, "p", p[k]);
          cJSON_AddNumberToObject(ch, "logit", d->logits[d->off[c] + k]);
          cJSON_AddItemToArray(choices, ch);
        }
        cJSON_AddItemToArray(cats, o);
      }
  char *s = cJSON_Print(root);
  cJSON_Delete(root);
  return s;
}

cJSON *rt_dist_history_line(const rt_dist *d, int epoch) {
  const sp_space *sp = d->sp;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "epoch", epoch);
  cJSON_AddNumberToObject(j, "entropy", rt_dist_entropy(d));
  cJSON *all = cJSON_AddArrayToObject(j, "p");
  double p[GT_MAXNODES * 2 * 64];
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < sp->nodes; n++)
      for (int i = 0; i < sp->inputs; i++) {
        int c = rt_dist_cat(d, t, n, i);
        rt_dist_probs(d, c, p);
        cJSON_AddItemToArray(all, cJSON_CreateDoubleArray(p, d->size[c]));
      }
  return j;
}

int rt_dist_load_json(rt_dist *d, const char *path, err_t *e) {
  char *text = io_read_file(path, "the distribution", IO_TEXT_MAX, NULL, e);
  if (!text) return -1;
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!root) return err_set(e, "%s: not valid JSON", path);
  int rc = 0;
  const sp_space *sp = d->sp;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
  const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
  const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
  const cJSON *prims = cJSON_GetObjectItemCaseSensitive(root, "primitives");
  const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categoricals");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "parsec-distribution") != 0) {
    rc = err_set(e, "%s: not a parsec distribution", path);
  } else if (!cJSON_IsNumber(ver) || ver->valueint != 1) {
    rc = err_set(e, "%s: distribution format version %d is not known to this parsec (it reads version 1)", path,
                 cJSON_IsNumber(ver) ? ver->valueint : -1);
  } else if (!cJSON_IsNumber(nodes) || !cJSON_IsNumber(inputs) || nodes->valueint != sp->nodes ||
             inputs->valueint != sp->inputs || cJSON_GetArraySize(prims) != sp->nprims) {
    rc = err_set(e,
                 "%s: its categoricals differ from this space's: %d nodes x %d inputs over %d primitives there, "
                 "%d x %d over %d here; a distribution transfers only between spaces with the same cell",
                 path, cJSON_IsNumber(nodes) ? nodes->valueint : -1, cJSON_IsNumber(inputs) ? inputs->valueint : -1,
                 cJSON_GetArraySize(prims), sp->nodes, sp->inputs, sp->nprims);
  } else {
    for (int p = 0; p < sp->nprims && rc == 0; p++) {
      const cJSON *pn = cJSON_GetArrayItem(prims, p);
      if (!cJSON_IsString(pn) || sp_prim_index(sp, pn->valuestring) != p) /* either of its names */
        rc = err_set(e,
                     "%s: primitive %d is '%s' there and '%s' here; a distribution transfers only between spaces "
                     "with the same primitives in the same order",
                     path, p, cJSON_IsString(pn) ? pn->valuestring : "?", sp->prims[p].darts_name);
    }
    for (int c = 0; c < d->ncat && rc == 0; c++) {
      const cJSON *ch = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cats, c), "choices");
      if (cJSON_GetArraySize(ch) != d->size[c]) {
        rc = err_set(e, "%s: categorical %d has %d choices, expected %d", path, c, cJSON_GetArraySize(ch), d->size[c]);
        break;
      }
      for (int k = 0; k < d->size[c]; k++) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ch, k), "logit");
        if (!cJSON_IsNumber(l) || !(fabs(l->valuedouble) <= 1e6)) {
          rc = err_set(e, "%s: categorical %d choice %d has no logit, or one that is not a finite number", path, c, k);
          break;
        }
        d->logits[d->off[c] + k] = l->valuedouble;
      }
    }
  }
  cJSON_Delete(root);
  if (rc == 0) rc = rt_dist_set(d, d->logits, NULL, NULL, 0, e);
  return rc;
}
