/* Lowering the network into ops: the stem, each cell (its two
 * preprocessings, every edge's primitive, layer by layer, into its node), the
 * auxiliary head, and the classifier with its cross-entropy.
 *
 * Fusions: a ReLU is read by the conv that follows it (the RELU flag of the
 * conv kernels); the last BN of a primitive writes straight into its node's
 * slice of the cell output (the node sum and the concat), scaled by the
 * edge's multiplicity and accumulating after the node's first edge. */
#include "pl_builder.h"

#include <stdio.h>
#include <stdlib.h>

/* relu(x) into a new buffer (a ReLU that no conv can absorb), made once per
 * source: a cell's output is ReLU'd by the next cell's preprocess1 and by
 * the one after's preprocess0. */
static view relu_of(builder *b, view x, const char *what) {
  for (int i = 0; i < b->nrelu; i++)
    if (b->relu_src[i].buf == x.buf && b->relu_src[i].coff == x.coff && b->relu_src[i].c == x.c) return b->relu_dst[i];
  view y = pb_view(b, x.c, x.h, x.w);
  op o = pb_blank(OP_GATHER, x, y);
  o.relu = 1;
  pb_emit(b, &o, "%s relu", what);
  if (b->nrelu < 64) {
    b->relu_src[b->nrelu] = x;
    b->relu_dst[b->nrelu++] = y;
  }
  return y;
}

static view conv1x1(builder *b, view x, view y, int wt, const char *what) {
  op o = pb_blank(OP_GEMM, x, y);
  o.wt = wt;
  pb_emit(b, &o, "%s conv1x1", what);
  return y;
}

/* BN with `tensors` starting at layout index T (affine: weight, bias; then
 * running mean, var), into OUT (acc, alpha). */
static void bn(builder *b, view x, view out, int t, int affine, int acc, float alpha, const char *what) {
  op o = pb_blank(OP_BN, x, out);
  o.affine = affine;
  if (affine) {
    o.bn.bn_weight = t++;
    o.bn.bn_bias = t++;
  }
  o.bn.bn_mean = t++;
  o.bn.bn_var = t++;
  o.acc = acc;
  o.alpha = alpha;
  o.save = pb_fixed(b, 2L * x.c);
  o.red = pb_fixed(b, 2L * x.c);
  pb_emit(b, &o, "%s bn", what);
}

/* Factorized reduce of X into C channels at ceil(H/2): relu, two 1x1 convs
 * of C/2 (the second on x shifted by a pixel), concatenated, then BN into
 * OUT.  Tensors from T: conv_1, conv_2, then the BN's. */
static void factorized_reduce(builder *b, view x, view out, int t, int affine, int acc, float alpha, const char *what) {
  int C = out.c, oh = (x.h + 1) / 2, ow = (x.w + 1) / 2;
  view cat = pb_view(b, C, oh, ow);
  for (int half = 0; half < 2; half++) {
    view g = pb_view(b, x.c, oh, ow);
    op o = pb_blank(OP_GATHER, x, g);
    o.relu = 1;
    o.S = 2;
    o.O = half;
    pb_emit(b, &o, "%s factorized reduce gather", what);
    conv1x1(b, g, pb_slice(cat, half * (C / 2), C / 2), t + half, what);
  }
  bn(b, cat, out, t + 2, affine, acc, alpha, what);
}

typedef struct {
  const sp_layer *l[64];
  int n;
} layer_list;

/* The layers that exist in this network kind (search-only BNs stay in search). */
static void effective(const sp_prim *p, int stride, int search, layer_list *out) {
  out->n = 0;
  for (int i = 0; i < p->nlayers[stride - 1] && out->n < 64; i++) {
    const sp_layer *l = &p->layers[stride - 1][i];
    if (l->kind == SP_IDENTITY) continue;
    if (l->kind == SP_BN && l->search_only && !search) continue;
    out->l[out->n++] = l;
  }
}

/* Tensors a layer owns in the layout, in order (see nw_layout.c). */
static int layer_tensors(const sp_layer *l, int search) {
  switch (l->kind) {
    case SP_CONV:
      return 1;
    case SP_BN:
      return (nw_bn_affine(l, search) ? 2 : 0) + 2;
    case SP_FACTORIZED_REDUCE:
      return 2 + (search ? 0 : 2) + 2;
    default:
      return 0;
  }
}

/* Applies primitive P at STRIDE to X, writing into OUT (acc, alpha); its
 * tensors start at layout index T. */
static void lower_prim(builder *b, const sp_prim *p, int stride, view x, view out, int acc, float alpha, int t,
                       const char *what) {
  const int search = b->search;
  layer_list ll;
  effective(p, stride, search, &ll);
  /* tensors of skipped layers still sit in the layout: walk all layers */
  int tens[64], ti = t;
  {
    int k = 0;
    for (int i = 0; i < p->nlayers[stride - 1]; i++) {
      const sp_layer *l = &p->layers[stride - 1][i];
      if (k < ll.n && ll.l[k] == l) tens[k++] = ti;
      ti += layer_tensors(l, search);
    }
  }
  view cur = x;
  int relu = 0, written = 0;
  for (int i = 0; i < ll.n && !b->failed; i++) {
    const sp_layer *l = ll.l[i];
    int last = i == ll.n - 1;
    switch (l->kind) {
      case SP_RELU:
        relu = 1;
        break;
      case SP_CONV: {
        int C = cur.c, groups = l->groups == 0 ? C : l->groups;
        int oh = sp_out_size(cur.h, l->kh, l->sh, l->ph, l->dh), ow = sp_out_size(cur.w, l->kw, l->sw, l->pw, l->dw);
        int pointwise = l->kh == 1 && l->kw == 1 && l->sh == 1 && l->sw == 1 && l->ph == 0 && l->pw == 0 && groups == 1;
        view y = pb_view(b, C, oh, ow);
        if (pointwise) {
          if (relu) cur = relu_of(b, cur, what);
          conv1x1(b, cur, y, tens[i], what);
        } else {
          op o = pb_blank(groups == C ? OP_DWCONV : OP_CONV, cur, y);
          o.kh = l->kh, o.kw = l->kw, o.sh = l->sh, o.sw = l->sw, o.ph = l->ph, o.pw = l->pw, o.dh = l->dh,
          o.dw = l->dw;
          o.groups = groups;
          o.relu = relu;
          o.wt = tens[i];
          pb_emit(b, &o, "%s conv", what);
        }
        relu = 0;
        cur = y;
        break;
      }
      case SP_BN: {
        if (relu) cur = relu_of(b, cur, what);
        relu = 0;
        view y = last ? out : pb_view(b, cur.c, cur.h, cur.w);
        bn(b, cur, y, tens[i], nw_bn_affine(l, search), last ? acc : 0, last ? alpha : 1, what);
        written = last;
        cur = y;
        break;
      }
      case SP_AVG_POOL:
      case SP_MAX_POOL: {
        if (relu) cur = relu_of(b, cur, what);
        relu = 0;
        view y =
            pb_view(b, cur.c, sp_out_size(cur.h, l->kh, l->sh, l->ph, 1), sp_out_size(cur.w, l->kw, l->sw, l->pw, 1));
        op o = pb_blank(l->kind == SP_AVG_POOL ? OP_AVGPOOL : OP_MAXPOOL, cur, y);
        o.kh = l->kh, o.kw = l->kw, o.sh = l->sh, o.sw = l->sw, o.ph = l->ph, o.pw = l->pw;
        if (o.kind == OP_MAXPOOL && b->mode == PL_TRAIN) o.arg = pb_view(b, y.c, y.h, y.w); /* int per output */
        pb_emit(b, &o, "%s pool", what);
        cur = y;
        break;
      }
      case SP_FACTORIZED_REDUCE: {
        relu = 0; /* its own ReLU; relu(relu(x)) = relu(x) */
        view y = last ? out : pb_view(b, cur.c, (cur.h + 1) / 2, (cur.w + 1) / 2);
        factorized_reduce(b, cur, y, tens[i], search ? 0 : 1, last ? acc : 0, last ? alpha : 1, what);
        written = last;
        cur = y;
        break;
      }
      default:
        break;
    }
  }
  if (!written) {
    if (relu) cur = relu_of(b, cur, what);
    op o = pb_blank(OP_AXPY, cur, out);
    o.acc = acc;
    o.alpha = alpha;
    pb_emit(b, &o, "%s add", what);
  }
}

/* ReLU-conv1x1-BN, or a factorized reduce when the input is at twice the
 * resolution. */
static view preprocess(builder *b, view x, int C, int fr, int t, const char *what) {
  int h = fr ? (x.h + 1) / 2 : x.h, w = fr ? (x.w + 1) / 2 : x.w;
  view out = pb_view(b, C, h, w);
  int affine = !b->search;
  if (fr) {
    factorized_reduce(b, x, out, t, affine, 0, 1, what);
  } else {
    view r = relu_of(b, x, what);
    view y = pb_view(b, C, h, w);
    conv1x1(b, r, y, t, what);
    bn(b, y, out, t + 1, affine, 0, 1, what);
  }
  return out;
}

/* An op with no layer to compute (identity): DARTS never drops it. */
static int is_identity(const builder *b, const sp_prim *p, int stride) {
  layer_list ll;
  effective(p, stride, b->search, &ll);
  return ll.n == 0;
}

static void lower_cell(builder *b, int cell, const sp_cell_shape *s, view s0, view s1, view out,
                       const pl_node_edges *edges) {
  char what[64];
  snprintf(what, sizeof what, "cell %d preprocess0", cell);
  view st[2 + GT_MAXNODES];
  st[0] = preprocess(b, s0, s->C, s->reduction_prev, b->lay->pre0_first[cell], what);
  snprintf(what, sizeof what, "cell %d preprocess1", cell);
  st[1] = preprocess(b, s1, s->C, 0, b->lay->pre1_first[cell], what);
  for (int n = 0; n < b->sp->nodes && !b->failed; n++) {
    view node = pb_slice(out, n * s->C, s->C);
    const pl_node_edges *ne = &edges[n];
    for (int k = 0; k < ne->n; k++) {
      int j = ne->pred[k], pr = ne->prim[k];
      int stride = s->reduction && j < 2 ? 2 : 1;
      const sp_prim *prim = &b->sp->prims[pr];
      snprintf(what, sizeof what, "cell %d node %d edge (%d, %s)", cell, n, j, prim->name);
      if (b->drop && !is_identity(b, prim, stride)) {
        /* drop path: the op's output, scaled per sample, into the node */
        view t = pb_view(b, s->C, node.h, node.w);
        lower_prim(b, prim, stride, st[j], t, 0, 1, ne->first[k], what);
        op o = pb_blank(OP_DROP, t, node);
        o.acc = k > 0;
        view m = pb_view(b, 1, 1, 1);
        o.mask = A_view(m).ref;
        pl_plan *p = b->p;
        pl_ref *d = realloc(p->drops, sizeof *d * (size_t)(p->ndrops + 1));
        if (!d) {
          b->failed = 1;
          err_set(b->e, "out of memory");
          return;
        }
        p->drops = d;
        p->drops[p->ndrops++] = o.mask;
        pb_emit(b, &o, "%s drop path", what);
      } else {
        lower_prim(b, prim, stride, st[j], node, k > 0, (float)ne->mult[k], ne->first[k], what);
      }
    }
    st[2 + n] = node;
  }
}

/* DARTS's auxiliary head on the cell output X: ReLU, avg pool to 2x2
 * (kernel 5, stride 3 on 8x8; the kernel adapts on other sizes), 1x1 conv to
 * 128, BN, ReLU, 2x2 conv to 768, BN, ReLU, linear; its cross-entropy, weighted,
 * joins the loss.  Only training plans run it. */
static void aux_head(builder *b, view x) {
  const nw_layout *lay = b->lay;
  const int imagenet = b->net->imagenet_stem;
  /* a 2x2 output: kernel h - 3 at stride 3 (5 on DARTS's 8x8), or h - 1 at
     stride 1 on maps smaller than 5x5; the ImageNet head: kernel 5 at
     stride 2 (2x2 from DARTS's 7x7; larger maps leave more, averaged below),
     h - 1 at stride 1 below 7x7 */
  int t = lay->aux_first, k = x.h >= 5 ? x.h - 3 : x.h - 1, st = x.h >= 5 ? 3 : 1;
  if (imagenet) k = x.h >= 7 ? 5 : x.h - 1, st = x.h >= 7 ? 2 : 1;
  view r = relu_of(b, x, "auxiliary head");
  view pooled = pb_view(b, x.c, sp_out_size(x.h, k, st, 0, 1), sp_out_size(x.w, k, st, 0, 1));
  op o = pb_blank(OP_AVGPOOL, r, pooled);
  o.kh = o.kw = k;
  o.sh = o.sw = st;
  pb_emit(b, &o, "%s", "auxiliary head pool");
  view c1 = pb_view(b, 128, pooled.h, pooled.w), b1 = pb_view(b, 128, pooled.h, pooled.w);
  conv1x1(b, pooled, c1, t, "auxiliary head");
  bn(b, c1, b1, t + 1, 1, 0, 1, "auxiliary head");
  int oh = sp_out_size(pooled.h, 2, 1, 0, 1), ow = sp_out_size(pooled.w, 2, 1, 0, 1);
  view c2 = pb_view(b, 768, oh, ow), b2 = pb_view(b, 768, oh, ow);
  o = pb_blank(OP_CONV, b1, c2);
  o.kh = o.kw = 2;
  o.relu = 1;
  o.wt = t + 5;
  pb_emit(b, &o, "%s", "auxiliary head conv 2x2");
  if (!imagenet) bn(b, c2, b2, t + 6, 1, 0, 1, "auxiliary head"); /* DARTS's ImageNet head has no BN here */
  view r2 = relu_of(b, imagenet ? c2 : b2, "auxiliary head");
  view g = r2;
  if (oh * ow > 1) { /* inputs other than 2x2 after the pool: average what is left */
    g = pb_view(b, 768, 1, 1);
    o = pb_blank(OP_GAP, r2, g);
    pb_emit(b, &o, "%s", "auxiliary head pool");
  }
  view logits = pb_view(b, b->p->classes, 1, 1);
  o = pb_blank(OP_LINEAR, g, logits);
  o.wt = lay->aux_classifier;
  o.bt = lay->aux_classifier + 1;
  pb_emit(b, &o, "%s", "auxiliary classifier");
  view dl, ll = pb_view(b, 1, 1, 1), cor = pb_view(b, 1, 1, 1);
  int acc;
  pb_grad_write(b, logits, &dl, &acc);
  b->p->has_aux = 1;
  b->p->aux_loglik = A_view(ll).ref;
  b->p->aux_correct = A_view(cor).ref;
  o = pb_blank(OP_XENT, logits, dl);
  o.ll = b->p->aux_loglik;
  o.cor = b->p->aux_correct;
  o.mult = b->aux_weight;
  pb_emit(b, &o, "%s", "auxiliary cross-entropy");
}

/* A 3x3 conv of stride 2 to COUT (its input through a ReLU when RELU), then
   BN: one stage of NetworkImageNet's stems */
static view stem_stage(builder *b, view x, int cout, int wt, int bn_weight, int relu, const char *what) {
  int h = sp_out_size(x.h, 3, 2, 1, 1);
  view c = pb_view(b, cout, h, h), y = pb_view(b, cout, h, h);
  op o = pb_blank(OP_CONV, x, c);
  o.kh = o.kw = 3;
  o.sh = o.sw = 2;
  o.ph = o.pw = 1;
  o.relu = relu;
  o.wt = wt;
  pb_emit(b, &o, "%s conv", what);
  bn(b, c, y, bn_weight, 1, 0, 1, what);
  return y;
}

/* NetworkImageNet: stem0 = conv/2, BN, ReLU, conv/2, BN; stem1 = ReLU,
   conv/2, BN.  The first cell reads stem0's output and stem1's. */
static void imagenet_stems(builder *b, view img, view *s0, view *s1) {
  const nw_layout *lay = b->lay;
  int C = b->net->channels;
  view a = stem_stage(b, img, C / 2, lay->stem_weight, lay->stem_bn.bn_weight, 0, "stem0");
  *s0 = stem_stage(b, a, C, lay->stem_more_weight[0], lay->stem_more_bn[0].bn_weight, 1, "stem0");
  *s1 = stem_stage(b, *s0, C, lay->stem_more_weight[1], lay->stem_more_bn[1].bn_weight, 1, "stem1");
}

void pb_lower_network(builder *b, const pl_node_edges *edges) {
  pl_plan *p = b->p;
  const sp_net *net = b->net;
  const nw_layout *lay = b->lay;
  sp_cell_shape sh[64];
  sp_cell_shapes(net, b->sp->nodes, sh);
  int H = net->input_size, cin = net->input_channels, K = net->classes;
  p->in_c = cin;
  p->in_h = p->in_w = H;
  p->classes = K;

  view img = pb_view(b, cin, H, H);
  b->nograd[img.buf] = 1;
  p->images = A_view(img).ref;
  view lab = pb_view(b, 1, 1, 1);
  p->labels = A_view(lab).ref;
  view ll = pb_view(b, 1, 1, 1);
  p->loglik = A_view(ll).ref;
  view cor = pb_view(b, 1, 1, 1);
  p->correct = A_view(cor).ref;

  view s0, s1;
  op o;
  if (net->imagenet_stem) {
    imagenet_stems(b, img, &s0, &s1);
  } else { /* stem: conv3x3 -> BN (affine) */
    int cstem = net->stem_multiplier * net->channels;
    view t0 = pb_view(b, cstem, H, H);
    o = pb_blank(OP_CONV, img, t0);
    o.kh = o.kw = 3;
    o.ph = o.pw = 1;
    o.wt = lay->stem_weight;
    pb_emit(b, &o, "%s", "stem conv");
    view stem = pb_view(b, cstem, H, H);
    bn(b, t0, stem, lay->stem_bn.bn_weight, 1, 0, 1, "stem");
    s0 = s1 = stem;
  }
  for (int c = 0; c < net->cells && !b->failed; c++) {
    view out = pb_view(b, b->sp->nodes * sh[c].C, sh[c].h_out, sh[c].h_out);
    lower_cell(b, c, &sh[c], s0, s1, out, edges + (size_t)c * GT_MAXNODES);
    s0 = s1;
    s1 = out;
    if (c == lay->aux_cell && lay->aux_first >= 0 && b->mode == PL_TRAIN && b->aux_weight > 0) aux_head(b, s1);
  }
  /* head: global average pool, linear, softmax cross-entropy */
  view g = pb_view(b, s1.c, 1, 1);
  o = pb_blank(OP_GAP, s1, g);
  pb_emit(b, &o, "%s", "global average pool");
  view logits = pb_view(b, K, 1, 1);
  o = pb_blank(OP_LINEAR, g, logits);
  o.wt = lay->classifier_weight;
  o.bt = lay->classifier_bias;
  pb_emit(b, &o, "%s", "classifier");
  p->logits = A_view(logits).ref;
  view dlogits = logits;
  if (b->mode == PL_TRAIN) {
    int acc;
    pb_grad_write(b, logits, &dlogits, &acc);
  }
  o = pb_blank(OP_XENT, logits, dlogits);
  o.ll = p->loglik;
  o.cor = p->correct;
  o.mult = 1;
  pb_emit(b, &o, "%s", "cross-entropy");
}
