/* The summary `parsecgen` prints: what a user checks at a glance before a
 * search (primitives, categoricals, shapes, parameters, size of the space). */
#include "sp_summary.h"
#include "nw_layout.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void layer_text(const sp_layer *l, char *buf, size_t cap) {
  switch (l->kind) {
  case SP_CONV: {
    char g[24] = "";
    if (l->groups == 0) snprintf(g, sizeof g, " dw");
    else if (l->groups > 1) snprintf(g, sizeof g, " g%d", l->groups);
    char d[16] = "";
    if (l->dh > 1 || l->dw > 1) snprintf(d, sizeof d, " d%d", l->dh);
    char s[16] = "";
    if (l->sh > 1 || l->sw > 1) snprintf(s, sizeof s, "/%d", l->sh > l->sw ? l->sh : l->sw);
    snprintf(buf, cap, "conv%dx%d%s%s%s", l->kh, l->kw, s, d, g);
    break;
  }
  case SP_AVG_POOL:
  case SP_MAX_POOL:
    snprintf(buf, cap, "%s%dx%d%s", l->kind == SP_AVG_POOL ? "avg" : "max", l->kh, l->kw, l->sh > 1 ? "/2" : "");
    break;
  case SP_BN:
    snprintf(buf, cap, "bn%s", l->search_only ? "(search)" : "");
    break;
  case SP_FACTORIZED_REDUCE:
    snprintf(buf, cap, "fact_reduce");
    break;
  default:
    snprintf(buf, cap, "%s", sp_layer_kind_name(l->kind));
    break;
  }
}

static void layers_text(const sp_prim *p, int stride, char *buf, size_t cap) {
  buf[0] = 0;
  size_t used = 0;
  for (int i = 0; i < p->nlayers[stride - 1] && used + 1 < cap; i++) {
    char one[64];
    layer_text(&p->layers[stride - 1][i], one, sizeof one);
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? " " : "", one);
  }
}

static void print_net(FILE *f, const sp_space *sp, const sp_net *n, const char *what) {
  fprintf(f, "%s: %dx%dx%d -> %d classes, C %d, %d cells, reduction cells", what, n->input_channels,
          n->input_size, n->input_size, n->classes, n->channels, n->cells);
  for (int i = 0; i < n->nreductions; i++) fprintf(f, "%s%d", i ? ", " : " ", n->reductions[i]);
  if (n->auxiliary) fprintf(f, ", auxiliary head (weight %g)", n->auxiliary_weight);
  if (n->drop_path > 0) fprintf(f, ", drop path %g", n->drop_path);
  if (n->label_smoothing > 0) fprintf(f, ", label smoothing %g", n->label_smoothing);
  if (n->imagenet_stem) fprintf(f, ", ImageNet stems (3 convs of stride 2)");
  fprintf(f, "\n");
}

static void print_cells(FILE *f, const sp_space *sp, const sp_net *n) {
  sp_cell_shape sh[64];
  sp_cell_shapes(n, sp->nodes, sh);
  if (n->imagenet_stem)
    fprintf(f, "  stem0      %3d ch  %3dx%-3d\n  stem1      %3d ch  %3dx%-3d\n", n->channels, sh[0].h_in0, sh[0].h_in0,
            n->channels, sh[0].h_in, sh[0].h_in);
  else
    fprintf(f, "  stem       %3d ch  %3dx%-3d\n", n->stem_multiplier * n->channels, n->input_size, n->input_size);
  fprintf(f, "  cell  type       C  in (ch)     map      out\n");
  for (int i = 0; i < n->cells; i++) {
    const sp_cell_shape *s = &sh[i];
    fprintf(f, "  %4d  %-9s %3d  %3d,%-4d  %3dx%-3d -> %3dx%-3d %4d ch%s\n", i, s->reduction ? "reduction" : "normal",
            s->C, s->c_prev_prev, s->c_prev, s->h_in, s->h_in, s->h_out, s->h_out, sp->nodes * s->C,
            s->reduction_prev ? "  (input 0 factorized-reduced)" : "");
  }
}

static void commas(size_t v, char *buf, size_t cap) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%zu", v);
  size_t n = strlen(tmp), o = 0;
  for (size_t i = 0; i < n && o + 2 < cap; i++) {
    if (i && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = 0;
}

int sp_print_summary(FILE *f, const sp_space *sp, err_t *e) {
  fprintf(f, "space '%s' (%s)\n\n", sp->name, sp->src);
  fprintf(f, "primitives (%d):\n", sp->nprims);
  for (int i = 0; i < sp->nprims; i++) {
    const sp_prim *p = &sp->prims[i];
    char l1[512], l2[512];
    layers_text(p, 1, l1, sizeof l1);
    layers_text(p, 2, l2, sizeof l2);
    fprintf(f, "  %d %-16s %s\n", i, p->name, l1);
    if (strcmp(l1, l2) != 0) fprintf(f, "    %-16s at stride 2: %s\n", "", l2);
  }
  fprintf(f, "\ncell: %d nodes, %d inputs per node; %d categoricals per cell type, sizes", sp->nodes, sp->inputs,
          sp_ncats(sp));
  for (int n = 0; n < sp->nodes; n++) fprintf(f, " %d", sp_cat_size(sp, n));
  fprintf(f, " (nodes 0..%d)\n", sp->nodes - 1);
  double lg = sp_log10_cell_space(sp);
  fprintf(f, "space size: %.2fe%d per cell type, %.2fe%d for a normal plus a reduction cell\n\n",
          pow(10, lg - floor(lg)), (int)floor(lg), pow(10, 2 * lg - floor(2 * lg)), (int)floor(2 * lg));
  print_net(f, sp, &sp->net, "search network");
  print_cells(f, sp, &sp->net);
  nw_layout lay;
  if (nw_search_layout(&lay, sp, &sp->net, e) != 0) return -1;
  char buf[32];
  commas(nw_param_count(&lay), buf, sizeof buf);
  fprintf(f, "  parent network parameters: %s (%d edges per cell)\n", buf, lay.nedges / sp->net.cells);
  nw_free(&lay);
  const sp_search *s = &sp->search;
  fprintf(f, "  search recipe: K %d, %d epochs, batch %d, data %s; weights SGD lr %g -> %g, momentum %g, "
             "wd %g, clip %g; logits Adam lr %g, betas %g/%g; split %g, temperature %g",
          s->samples, s->epochs, s->batch, s->data, s->lr, s->lr_min, s->momentum, s->weight_decay, s->grad_clip,
          s->arch_lr, s->arch_beta1, s->arch_beta2, s->split, s->temperature);
  if (s->temperature_end > 0) fprintf(f, " -> %g", s->temperature_end);
  if (s->warmup > 0) fprintf(f, "; warm-up %d epoch%s", s->warmup, s->warmup == 1 ? "" : "s");
  if (s->uniform_weights) fprintf(f, "; uniform weight gradients");
  fprintf(f, "\n\n");
  print_net(f, sp, &sp->eval_net, "evaluation network");
  if (sp->train.lr_decay > 0)
    fprintf(f, "  training recipe: %d epochs, batch %d, cutout %d, SGD lr %g x %g each epoch, wd %g\n",
            sp->train.epochs, sp->train.batch, sp->train.cutout, sp->train.lr, sp->train.lr_decay,
            sp->train.weight_decay);
  else
    fprintf(f, "  training recipe: %d epochs, batch %d, cutout %d, SGD lr %g -> %g\n", sp->train.epochs,
            sp->train.batch, sp->train.cutout, sp->train.lr, sp->train.lr_min);
  return 0;
}
