#include "nw_layout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nw_bn_affine(const sp_layer *l, int search) {
  if (l->affine == SP_AFFINE_ALWAYS) return 1;
  if (l->affine == SP_AFFINE_NEVER) return 0;
  return !search;
}

/* Adds tensor PREFIX SUFFIX (the name in two parts spares callers a buffer). */
static int add(nw_layout *lay, nw_tensor_kind kind, int edge, const char *prefix, const char *suffix, int ndim,
               const int *shape, err_t *e) {
  if (lay->n == lay->cap) {
    int cap = lay->cap ? 2 * lay->cap : 256;
    nw_tensor *t = realloc(lay->t, (size_t)cap * sizeof *t);
    if (!t) return err_set(e, "out of memory");
    lay->t = t;
    lay->cap = cap;
  }
  nw_tensor *t = &lay->t[lay->n];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s%s", prefix, suffix);
  t->kind = kind;
  t->ndim = ndim;
  t->numel = 1;
  for (int i = 0; i < ndim; i++) {
    t->shape[i] = shape[i];
    t->numel *= (size_t)shape[i];
  }
  size_t *top = kind == NW_PARAM ? &lay->nparams : &lay->nstats;
  /* 16-element alignment keeps every tensor on a 64-byte boundary (SIMD loads) */
  t->offset = *top;
  *top += (t->numel + 15) & ~(size_t)15;
  t->edge = edge;
  return lay->n++;
}

/* Conv weight [cout, cin/groups, kh, kw], uniform(+-1/sqrt(fan_in)). */
static int add_conv(nw_layout *lay, int edge, const char *prefix, const char *suffix, int cout, int cin,
                    int groups, int kh, int kw, err_t *e) {
  int shape[4] = {cout, cin / groups, kh, kw};
  int i = add(lay, NW_PARAM, edge, prefix, suffix, 4, shape, e);
  if (i >= 0) lay->t[i].init = (float)(1.0 / sqrt((double)(cin / groups) * kh * kw));
  return i;
}

/* BN of C channels: affine weight and bias when AFFINE, running stats always. */
static int add_bn(nw_layout *lay, int edge, const char *prefix, int C, int affine, nw_slots *s, err_t *e) {
  int shape[1] = {C};
  s->bn_weight = s->bn_bias = -1;
  if (affine) {
    if ((s->bn_weight = add(lay, NW_PARAM, edge, prefix, ".weight", 1, shape, e)) < 0) return -1;
    lay->t[s->bn_weight].init = 1.0f;
    lay->t[s->bn_weight].init_const = 1;
    if ((s->bn_bias = add(lay, NW_PARAM, edge, prefix, ".bias", 1, shape, e)) < 0) return -1;
    lay->t[s->bn_bias].init_const = 1;
  }
  if ((s->bn_mean = add(lay, NW_STAT, edge, prefix, ".running_mean", 1, shape, e)) < 0) return -1;
  lay->t[s->bn_mean].init_const = 1;
  if ((s->bn_var = add(lay, NW_STAT, edge, prefix, ".running_var", 1, shape, e)) < 0) return -1;
  lay->t[s->bn_var].init = 1.0f;
  lay->t[s->bn_var].init_const = 1;
  return 0;
}

/* Factorized reduce cin -> cout: two 1x1 convs of cout/2, then BN. */
static int add_fr(nw_layout *lay, int edge, const char *prefix, int cin, int cout, int affine, err_t *e) {
  char name[NW_NAME_MAX];
  nw_slots s;
  if (add_conv(lay, edge, prefix, ".conv_1.weight", cout / 2, cin, 1, 1, 1, e) < 0) return -1;
  if (add_conv(lay, edge, prefix, ".conv_2.weight", cout / 2, cin, 1, 1, 1, e) < 0) return -1;
  snprintf(name, sizeof name, "%.100s.bn", prefix);
  return add_bn(lay, edge, name, cout, affine, &s, e);
}

/* The tensors of one primitive's layers, in layer order.  Search network:
 * PREFIX.<layer index>.  Evaluation network, as DARTS's modules name them:
 * a primitive of one layer is the module itself (PREFIX.conv_1.weight for a
 * factorized reduce), a longer one a Sequential (PREFIX.op.<index>). */
static int add_prim(nw_layout *lay, int edge, const char *prefix, const sp_prim *p, int stride, int C, int search,
                    err_t *e) {
  char name[NW_NAME_MAX];
  int n = p->nlayers[stride - 1], bare = !search && n == 1;
  for (int i = 0; i < n; i++) {
    const sp_layer *l = &p->layers[stride - 1][i];
    nw_slots s;
    if (bare) snprintf(name, sizeof name, "%.100s", prefix);
    else snprintf(name, sizeof name, search ? "%.100s.%d" : "%.100s.op.%d", prefix, i);
    switch (l->kind) {
    case SP_CONV: {
      int groups = l->groups == 0 ? C : l->groups;
      if (add_conv(lay, edge, name, ".weight", C, C, groups, l->kh, l->kw, e) < 0) return -1;
      break;
    }
    case SP_BN:
      if (l->search_only && !search) break;
      if (add_bn(lay, edge, name, C, nw_bn_affine(l, search), &s, e) < 0) return -1;
      break;
    case SP_FACTORIZED_REDUCE:
      if (add_fr(lay, edge, name, C, C, search ? 0 : 1, e) < 0) return -1;
      break;
    default:
      break;
    }
  }
  return 0;
}

static int add_preprocess(nw_layout *lay, int cell, int which, int cin, int C, int fr, int affine, err_t *e) {
  char prefix[NW_NAME_MAX];
  nw_slots s;
  snprintf(prefix, sizeof prefix, "cells.%d.preprocess%d", cell, which);
  if (fr) return add_fr(lay, -1, prefix, cin, C, affine, e);
  if (add_conv(lay, -1, prefix, ".op.1.weight", C, cin, 1, 1, 1, e) < 0) return -1;
  char name[NW_NAME_MAX];
  snprintf(name, sizeof name, "%.100s.op.2", prefix);
  return add_bn(lay, -1, name, C, affine, &s, e);
}

/* DARTS's AuxiliaryHeadCIFAR: ReLU, avg pool, 1x1 conv to 128, BN, ReLU,
 * 2x2 conv to 768, BN, ReLU, linear; AuxiliaryHeadImageNet (IMAGENET) has
 * no BN after the 2x2 conv. */
static int add_aux(nw_layout *lay, int cin, int classes, int imagenet, err_t *e) {
  nw_slots s;
  int shape[2] = {classes, 768};
  lay->aux_first = lay->n;
  if (add_conv(lay, -1, "auxiliary_head.features.2", ".weight", 128, cin, 1, 1, 1, e) < 0 ||
      add_bn(lay, -1, "auxiliary_head.features.3", 128, 1, &s, e) < 0 ||
      add_conv(lay, -1, "auxiliary_head.features.5", ".weight", 768, 128, 1, 2, 2, e) < 0 ||
      (!imagenet && add_bn(lay, -1, "auxiliary_head.features.6", 768, 1, &s, e) < 0))
    return -1;
  int w = lay->aux_classifier = add(lay, NW_PARAM, -1, "auxiliary_head.classifier", ".weight", 2, shape, e);
  int b = w >= 0 ? add(lay, NW_PARAM, -1, "auxiliary_head.classifier", ".bias", 1, shape, e) : -1;
  if (b < 0) return -1;
  lay->t[w].init = lay->t[b].init = (float)(1.0 / sqrt(768.0));
  return 0;
}

static int add_classifier(nw_layout *lay, int cfinal, int classes, err_t *e) {
  int shape[2] = {classes, cfinal};
  if ((lay->classifier_weight = add(lay, NW_PARAM, -1, "classifier", ".weight", 2, shape, e)) < 0) return -1;
  lay->t[lay->classifier_weight].init = (float)(1.0 / sqrt((double)cfinal));
  if ((lay->classifier_bias = add(lay, NW_PARAM, -1, "classifier", ".bias", 1, shape, e)) < 0) return -1;
  lay->t[lay->classifier_bias].init = (float)(1.0 / sqrt((double)cfinal));
  return 0;
}

/* The stem (affine BN in both networks); NetworkImageNet's: stem0 = conv
 * 3x3 to C/2, BN, ReLU, conv 3x3 to C, BN; stem1 = ReLU, conv 3x3, BN. */
static int add_stem(nw_layout *lay, const sp_net *net, err_t *e) {
  if (net->imagenet_stem) {
    int C = net->channels;
    return (lay->stem_weight = add_conv(lay, -1, "stem0.0", ".weight", C / 2, net->input_channels, 1, 3, 3, e)) < 0 ||
                   add_bn(lay, -1, "stem0.1", C / 2, 1, &lay->stem_bn, e) < 0 ||
                   (lay->stem_more_weight[0] = add_conv(lay, -1, "stem0.3", ".weight", C, C / 2, 1, 3, 3, e)) < 0 ||
                   add_bn(lay, -1, "stem0.4", C, 1, &lay->stem_more_bn[0], e) < 0 ||
                   (lay->stem_more_weight[1] = add_conv(lay, -1, "stem1.1", ".weight", C, C, 1, 3, 3, e)) < 0 ||
                   add_bn(lay, -1, "stem1.2", C, 1, &lay->stem_more_bn[1], e) < 0
               ? -1
               : 0;
  }
  int cstem = net->stem_multiplier * net->channels;
  if ((lay->stem_weight = add_conv(lay, -1, "stem.0", ".weight", cstem, net->input_channels, 1, 3, 3, e)) < 0) return -1;
  return add_bn(lay, -1, "stem.1", cstem, 1, &lay->stem_bn, e);
}

int nw_search_layout(nw_layout *lay, const sp_space *sp, const sp_net *net, err_t *e) {
  memset(lay, 0, sizeof *lay);
  lay->aux_first = -1;
  lay->aux_cell = 2 * net->cells / 3;
  sp_cell_shape sh[64];
  sp_cell_shapes(net, sp->nodes, sh);
  if (add_stem(lay, net, e) < 0) goto fail;
  lay->edge_base = calloc((size_t)net->cells * (size_t)sp->nodes, sizeof *lay->edge_base);
  int total_edges = 0;
  for (int n = 0; n < sp->nodes; n++) total_edges += (2 + n) * sp->nprims;
  lay->edges = calloc((size_t)total_edges * (size_t)net->cells, sizeof *lay->edges);
  if (!lay->edge_base || !lay->edges) {
    err_set(e, "out of memory");
    goto fail;
  }
  for (int c = 0; c < net->cells; c++) {
    const sp_cell_shape *s = &sh[c];
    lay->pre0_first[c] = lay->n;
    if (add_preprocess(lay, c, 0, s->c_prev_prev, s->C, s->reduction_prev, 0, e) < 0) goto fail;
    lay->pre1_first[c] = lay->n;
    if (add_preprocess(lay, c, 1, s->c_prev, s->C, 0, 0, e) < 0) goto fail;
    for (int n = 0; n < sp->nodes; n++) {
      lay->edge_base[c * sp->nodes + n] = lay->nedges;
      for (int j = 0; j < 2 + n; j++) {
        int stride = s->reduction && j < 2 ? 2 : 1;
        for (int p = 0; p < sp->nprims; p++) {
          nw_edge *ed = &lay->edges[lay->nedges];
          *ed = (nw_edge){c, n, j, p, lay->n, 0};
          char prefix[NW_NAME_MAX];
          /* cell, node, input, op: every search weight has a name that says where it acts */
          snprintf(prefix, sizeof prefix, "cells.%d.nodes.%d.inputs.%d.%.64s", c, n, j, sp->prims[p].darts_name);
          if (add_prim(lay, lay->nedges, prefix, &sp->prims[p], stride, s->C, 1, e) < 0) goto fail;
          ed->count = lay->n - ed->first;
          lay->nedges++;
        }
      }
    }
  }
  if (net->auxiliary && add_aux(lay, sp->nodes * sh[lay->aux_cell].C, net->classes, net->imagenet_stem, e) < 0)
    goto fail;
  if (add_classifier(lay, sp->nodes * sh[net->cells - 1].C, net->classes, e) < 0) goto fail;
  return 0;
fail:
  nw_free(lay);
  return -1;
}

int nw_eval_layout(nw_layout *lay, const sp_space *sp, const sp_net *net, const gt_genotype *g, err_t *e) {
  memset(lay, 0, sizeof *lay);
  lay->eval = 1;
  lay->aux_first = -1;
  lay->aux_cell = 2 * net->cells / 3;
  sp_cell_shape sh[64];
  sp_cell_shapes(net, sp->nodes, sh);
  int per_cell = sp->nodes * sp->inputs;
  lay->entry_first = calloc((size_t)net->cells * (size_t)per_cell, sizeof *lay->entry_first);
  if (!lay->entry_first) {
    err_set(e, "out of memory");
    goto fail;
  }
  if (add_stem(lay, net, e) < 0) goto fail;
  for (int c = 0; c < net->cells; c++) {
    const sp_cell_shape *s = &sh[c];
    int t = s->reduction ? 1 : 0;
    lay->pre0_first[c] = lay->n;
    if (add_preprocess(lay, c, 0, s->c_prev_prev, s->C, s->reduction_prev, 1, e) < 0) goto fail;
    lay->pre1_first[c] = lay->n;
    if (add_preprocess(lay, c, 1, s->c_prev, s->C, 0, 1, e) < 0) goto fail;
    for (int k = 0; k < per_cell; k++) {
      int j = g->pred[t][k / sp->inputs][k % sp->inputs], p = g->prim[t][k / sp->inputs][k % sp->inputs];
      int stride = s->reduction && j < 2 ? 2 : 1;
      lay->entry_first[c * per_cell + k] = lay->n;
      char prefix[NW_NAME_MAX];
      snprintf(prefix, sizeof prefix, "cells.%d._ops.%d", c, k);
      if (add_prim(lay, -1, prefix, &sp->prims[p], stride, s->C, 0, e) < 0) goto fail;
    }
  }
  if (net->auxiliary && add_aux(lay, sp->nodes * sh[lay->aux_cell].C, net->classes, net->imagenet_stem, e) < 0)
    goto fail;
  if (add_classifier(lay, sp->nodes * sh[net->cells - 1].C, net->classes, e) < 0) goto fail;
  return 0;
fail:
  nw_free(lay);
  return -1;
}

void nw_free(nw_layout *lay) {
  free(lay->t);
  free(lay->edges);
  free(lay->edge_base);
  free(lay->entry_first);
  memset(lay, 0, sizeof *lay);
}

int nw_edge_index(const nw_layout *lay, const sp_space *sp, int cell, int node, int pred, int prim) {
  return lay->edge_base[cell * sp->nodes + node] + pred * sp->nprims + prim;
}

size_t nw_param_count(const nw_layout *lay) {
  size_t n = 0;
  for (int i = 0; i < lay->n; i++)
    if (lay->t[i].kind == NW_PARAM) n += lay->t[i].numel;
  return n;
}

size_t nw_param_count_main(const nw_layout *lay) {
  size_t n = 0;
  for (int i = 0; i < lay->n; i++)
    if (lay->t[i].kind == NW_PARAM && strncmp(lay->t[i].name, "auxiliary_head", 14) != 0) n += lay->t[i].numel;
  return n;
}

int nw_find(const nw_layout *lay, const char *name) {
  for (int i = 0; i < lay->n; i++)
    if (strcmp(lay->t[i].name, name) == 0) return i;
  return -1;
}
