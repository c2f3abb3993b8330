/* Lowering one op into steps: each op kind's forward and backward side by
 * side, and the table that picks them.  A backward reads the gradient of the
 * op's output (dy) and writes, or adds to, the gradient of its input and of
 * its weights; ops run backward in reverse order. */
#include "pl_builder.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static long plane(view v) { return (long)v.h * v.w; }

/* ---------- specs ---------- */

static void spec_gather(builder *b, const op *o, const char *k, cg_spec *s) {
  pb_spec(b, s, k, CG_CONSTS({"C", o->x.c}, {"H", o->x.h}, {"W", o->x.w}, {"S", o->S}, {"O", o->O}, {"RELU", o->relu}));
}

/* a window op's spec: convolutions add their dilation and fused ReLU */
static void spec_geom(builder *b, const op *o, const char *k, cg_spec *s) {
  const cg_const c[] = {{"C", o->x.c}, {"H", o->x.h}, {"W", o->x.w}, {"KH", o->kh}, {"KW", o->kw}, {"SH", o->sh},
                        {"SW", o->sw}, {"PH", o->ph}, {"PW", o->pw}, {"DH", o->dh}, {"DW", o->dw}, {"RELU", o->relu}};
  pb_spec(b, s, k, c, o->kind == OP_DWCONV || o->kind == OP_CONV ? 12 : 9);
}

/* a per-channel op's spec: channels and plane size */
static void spec_plane(builder *b, const op *o, const char *k, cg_spec *s) {
  pb_spec(b, s, k, CG_CONSTS({"C", o->x.c}, {"HW", plane(o->x)}));
}

/* ---------- gather (ReLU copies, the factorized reduce's strided reads) ---------- */

static void gather_fwd(builder *b, const op *o) {
  cg_spec s;
  spec_gather(b, o, "gather_fwd", &s);
  pb_kstep(b, &s, -1, 2, A_view(o->y), A_view(o->x));
}

static void gather_bwd(builder *b, const op *o, view dy) {
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  cg_spec s;
  spec_gather(b, o, "gather_bwd", &s);
  pb_kstep(b, &s, -1, 4, A_view(dx), A_view(dy), o->relu ? A_view(o->x) : A_null(), A_int(acc));
}

/* ---------- depthwise convolution ---------- */

static void dwconv_fwd(builder *b, const op *o) {
  cg_spec s;
  spec_geom(b, o, "dwconv_fwd", &s);
  pb_kstep(b, &s, -1, 3, A_view(o->y), A_view(o->x), A_tensor(b, PR_PARAM, o->wt));
}

static void dwconv_bwd(builder *b, const op *o, view dy) {
  view dx;
  int acc;
  cg_spec s;
  spec_geom(b, o, "dwconv_bwd_w", &s);
  pb_kstep(b, &s, o->wt, 3, A_tensor(b, PR_GRAD, o->wt), A_view(dy), A_view(o->x));
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  spec_geom(b, o, "dwconv_bwd_data", &s);
  pb_kstep(b, &s, -1, 5, A_view(dx), A_view(dy), o->relu ? A_view(o->x) : A_null(), A_tensor(b, PR_PARAM, o->wt),
           A_int(acc));
}

/* ---------- dense or grouped convolution ---------- */

/* The im2col columns of x, a GEMM per group:
 * y_g[COG, N*OH*OW] = W_g[COG, CIG*KH*KW] col_g.  The columns are a
 * temporary, recomputed for the backward rather than kept alive. */
static view im2col(builder *b, const op *o) {
  long kk = (long)o->kh * o->kw;
  view col = pb_view(b, (int)(o->x.c * kk), o->y.h, o->y.w);
  cg_spec s;
  spec_geom(b, o, "im2col", &s);
  pb_kstep(b, &s, -1, 2, A_view(col), A_view(o->x));
  return col;
}

static void conv_fwd(builder *b, const op *o) {
  long kk = (long)o->kh * o->kw, cig = o->x.c / o->groups, cog = o->y.c / o->groups, ohw = plane(o->y);
  view col = im2col(b, o);
  for (int g = 0; g < o->groups; g++) {
    long m[2] = {cog, 0}, n[2] = {0, ohw}, k[2] = {cig * kk, 0}, lda[2] = {cig * kk, 0}, ld[2] = {0, ohw};
    pl_arg w = A_space(PR_PARAM, (long)b->lay->t[o->wt].offset + g * cog * cig * kk);
    pb_gemm(b, 0, 0, m, n, k, w, lda, A_view(pb_slice(col, (int)(g * cig * kk), (int)(cig * kk))), ld,
            A_view(pb_slice(o->y, (int)(g * cog), (int)cog)), ld, 0, -1);
  }
}

static void conv_bwd(builder *b, const op *o, view dy) {
  long kk = (long)o->kh * o->kw, cig = o->x.c / o->groups, cog = o->y.c / o->groups, ohw = plane(o->y);
  view col = im2col(b, o);
  for (int g = 0; g < o->groups; g++) {
    long m[2] = {cog, 0}, n[2] = {cig * kk, 0}, k[2] = {0, ohw}, ld[2] = {0, ohw}, ldw[2] = {cig * kk, 0};
    pl_arg dw = A_space(PR_GRAD, (long)b->lay->t[o->wt].offset + g * cog * cig * kk);
    pb_gemm(b, 0, 1, m, n, k, A_view(pb_slice(dy, (int)(g * cog), (int)cog)), ld,
            A_view(pb_slice(col, (int)(g * cig * kk), (int)(cig * kk))), ld, dw, ldw, 1, o->wt);
  }
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  view dcol = pb_view(b, (int)(o->x.c * kk), o->y.h, o->y.w);
  for (int g = 0; g < o->groups; g++) {
    long m[2] = {cig * kk, 0}, n[2] = {0, ohw}, k[2] = {cog, 0}, ld[2] = {0, ohw}, ldw[2] = {cig * kk, 0};
    pl_arg w = A_space(PR_PARAM, (long)b->lay->t[o->wt].offset + g * cog * cig * kk);
    pb_gemm(b, 1, 0, m, n, k, w, ldw, A_view(pb_slice(dy, (int)(g * cog), (int)cog)), ld,
            A_view(pb_slice(dcol, (int)(g * cig * kk), (int)(cig * kk))), ld, 0, -1);
  }
  cg_spec s;
  spec_geom(b, o, "col2im", &s);
  pb_kstep(b, &s, -1, 4, A_view(dx), A_view(dcol), o->relu ? A_view(o->x) : A_null(), A_int(acc));
}

/* ---------- 1x1 convolution: one GEMM over the batch ---------- */

static void pointwise_fwd(builder *b, const op *o) {
  long hw = plane(o->x);
  long m[2] = {o->y.c, 0}, n[2] = {0, hw}, k[2] = {o->x.c, 0}, lda[2] = {o->x.c, 0}, ld[2] = {0, hw};
  pb_gemm(b, 0, 0, m, n, k, A_tensor(b, PR_PARAM, o->wt), lda, A_view(o->x), ld, A_view(o->y), ld, 0, -1);
}

static void pointwise_bwd(builder *b, const op *o, view dy) {
  long hw = plane(o->x), co = o->y.c, ci = o->x.c;
  long m[2] = {co, 0}, n[2] = {ci, 0}, k[2] = {0, hw}, ld[2] = {0, hw}, ldw[2] = {ci, 0};
  pb_gemm(b, 0, 1, m, n, k, A_view(dy), ld, A_view(o->x), ld, A_tensor(b, PR_GRAD, o->wt), ldw, 1, o->wt);
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  long m2[2] = {ci, 0}, n2[2] = {0, hw}, k2[2] = {co, 0};
  pb_gemm(b, 1, 0, m2, n2, k2, A_tensor(b, PR_PARAM, o->wt), ldw, A_view(dy), ld, A_view(dx), ld, (float)acc, -1);
}

/* ---------- pools ---------- */

static void avgpool_fwd(builder *b, const op *o) {
  cg_spec s;
  spec_geom(b, o, "avgpool_fwd", &s);
  pb_kstep(b, &s, -1, 2, A_view(o->y), A_view(o->x));
}

static void avgpool_bwd(builder *b, const op *o, view dy) {
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  cg_spec s;
  spec_geom(b, o, "avgpool_bwd", &s);
  pb_kstep(b, &s, -1, 3, A_view(dx), A_view(dy), A_int(acc));
}

/* training plans record each output's argmax for the backward */
static void maxpool_fwd(builder *b, const op *o) {
  cg_spec s;
  spec_geom(b, o, "maxpool_fwd", &s);
  pb_kstep(b, &s, -1, 3, A_view(o->y), b->mode == PL_TRAIN ? A_view(o->arg) : A_null(), A_view(o->x));
}

static void maxpool_bwd(builder *b, const op *o, view dy) {
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  cg_spec s;
  spec_geom(b, o, "maxpool_bwd", &s);
  pb_kstep(b, &s, -1, 4, A_view(dx), A_view(dy), A_view(o->arg), A_int(acc));
}

/* ---------- batch normalisation ---------- */

/* statistics (the batch's, updating the running ones in training plans; the
   running ones in evaluation plans), then the normalisation into y */
static void bn_fwd(builder *b, const op *o) {
  cg_spec st, ap;
  if (b->mode == PL_EVAL) {
    pb_spec(b, &st, "bn_stats_eval", CG_CONSTS({"C", o->x.c}));
    pb_kstep(b, &st, -1, 3, A_space(PR_FIXED, o->save), A_tensor(b, PR_STAT, o->bn.bn_mean),
             A_tensor(b, PR_STAT, o->bn.bn_var));
  } else {
    spec_plane(b, o, "bn_stats", &st);
    pb_kstep(b, &st, -1, 5, A_space(PR_FIXED, o->save), A_tensor(b, PR_STAT, o->bn.bn_mean),
             A_tensor(b, PR_STAT, o->bn.bn_var), A_view(o->x),
             b->mode == PL_TRAIN ? A_kind(PA_BN_MOMENTUM) : A_float(0));
  }
  pb_spec(b, &ap, "bn_apply", CG_CONSTS({"C", o->x.c}, {"HW", plane(o->x)}, {"AFFINE", o->affine}));
  pb_kstep(b, &ap, -1, 7, A_view(o->y), A_view(o->x), A_space(PR_FIXED, o->save),
           A_tensor(b, PR_PARAM, o->bn.bn_weight), A_tensor(b, PR_PARAM, o->bn.bn_bias), A_int(o->acc),
           A_float(o->alpha));
}

static void bn_bwd(builder *b, const op *o, view dy) {
  const cg_const c[] = {{"C", o->x.c}, {"HW", plane(o->x)}, {"AFFINE", o->affine}};
  cg_spec sr, sa;
  pb_spec(b, &sr, "bn_bwd_reduce", c, 3);
  pb_kstep(b, &sr, o->bn.bn_weight, 7, A_space(PR_FIXED, o->red), A_tensor(b, PR_GRAD, o->bn.bn_weight),
           A_tensor(b, PR_GRAD, o->bn.bn_bias), A_view(dy), A_view(o->x), A_space(PR_FIXED, o->save),
           A_float(o->alpha));
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  pb_spec(b, &sa, "bn_bwd_apply", c, 3);
  pb_kstep(b, &sa, -1, 8, A_view(dx), A_view(dy), A_view(o->x), A_space(PR_FIXED, o->save), A_space(PR_FIXED, o->red),
           A_tensor(b, PR_PARAM, o->bn.bn_weight), A_int(acc), A_float(o->alpha));
}

/* ---------- y (+)= alpha x: an identity edge into its node ---------- */

static void axpy_fwd(builder *b, const op *o) {
  cg_spec s;
  pb_spec(b, &s, "axpy", CG_CONSTS({"M", (long)o->x.c * plane(o->x)}));
  pb_kstep(b, &s, -1, 4, A_view(o->y), A_view(o->x), A_int(o->acc), A_float(o->alpha));
}

static void axpy_bwd(builder *b, const op *o, view dy) {
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  cg_spec s;
  pb_spec(b, &s, "axpy", CG_CONSTS({"M", (long)o->x.c * plane(o->x)}));
  pb_kstep(b, &s, -1, 4, A_view(dx), A_view(dy), A_int(acc), A_float(o->alpha));
}

/* ---------- drop path: per-sample scales ---------- */

static void drop_fwd(builder *b, const op *o) {
  cg_spec s;
  spec_plane(b, o, "drop_path", &s);
  pb_kstep(b, &s, -1, 4, A_view(o->y), A_view(o->x), A_ref(o->mask), A_int(o->acc));
}

static void drop_bwd(builder *b, const op *o, view dy) {
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  cg_spec s;
  spec_plane(b, o, "drop_path", &s);
  pb_kstep(b, &s, -1, 4, A_view(dx), A_view(dy), A_ref(o->mask), A_int(acc));
}

/* ---------- global average pool ---------- */

static void gap_fwd(builder *b, const op *o) {
  cg_spec s;
  spec_plane(b, o, "gap_fwd", &s);
  pb_kstep(b, &s, -1, 2, A_view(o->y), A_view(o->x));
}

static void gap_bwd(builder *b, const op *o, view dy) {
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  cg_spec s;
  spec_plane(b, o, "gap_bwd", &s);
  pb_kstep(b, &s, -1, 3, A_view(dx), A_view(dy), A_int(acc));
}

/* ---------- the classifier: a GEMM and a bias ---------- */

static void linear_fwd(builder *b, const op *o) {
  long K = o->y.c, C = o->x.c;
  long m[2] = {K, 0}, n[2] = {0, 1}, k[2] = {C, 0}, lda[2] = {C, 0}, ld[2] = {0, 1};
  pb_gemm(b, 0, 0, m, n, k, A_tensor(b, PR_PARAM, o->wt), lda, A_view(o->x), ld, A_view(o->y), ld, 0, -1);
  cg_spec s;
  pb_spec(b, &s, "bias_fwd", CG_CONSTS({"K", K}));
  pb_kstep(b, &s, -1, 2, A_view(o->y), A_tensor(b, PR_PARAM, o->bt));
}

static void linear_bwd(builder *b, const op *o, view dy) {
  long K = o->y.c, C = o->x.c;
  cg_spec s;
  pb_spec(b, &s, "bias_bwd", CG_CONSTS({"K", K}));
  pb_kstep(b, &s, o->bt, 2, A_tensor(b, PR_GRAD, o->bt), A_view(dy));
  long m[2] = {K, 0}, n[2] = {C, 0}, k[2] = {0, 1}, ld[2] = {0, 1}, ldw[2] = {C, 0};
  pb_gemm(b, 0, 1, m, n, k, A_view(dy), ld, A_view(o->x), ld, A_tensor(b, PR_GRAD, o->wt), ldw, 1, o->wt);
  view dx;
  int acc;
  if (!pb_grad_write(b, o->x, &dx, &acc)) return;
  long m2[2] = {C, 0}, n2[2] = {0, 1}, k2[2] = {K, 0};
  pb_gemm(b, 1, 0, m2, n2, k2, A_tensor(b, PR_PARAM, o->wt), ldw, A_view(dy), ld, A_view(dx), ld, (float)acc, -1);
}

/* ---------- softmax cross-entropy ---------- */

/* log-likelihoods and hits per sample; in training plans also the logits'
   gradient (y), scaled by the run's loss scale times this loss's weight, so
   it has no backward of its own */
static void xent_fwd(builder *b, const op *o) {
  cg_spec s;
  pb_spec(b, &s, "xent", CG_CONSTS({"K", o->x.c}));
  int train = b->mode == PL_TRAIN;
  pl_arg scale = A_kind(PA_LOSS_SCALE);
  scale.f = o->mult;
  pb_kstep(b, &s, -1, 7, A_ref(o->ll), train ? A_view(o->y) : A_null(), A_ref(o->cor), A_view(o->x),
           A_ref(b->p->labels), train ? scale : A_float(0), A_float(train ? (float)b->net->label_smoothing : 0));
}

/* ---------- the table ---------- */

static const struct {
  void (*fwd)(builder *b, const op *o);
  void (*bwd)(builder *b, const op *o, view dy); /* NULL: none */
} lowering[OP_KINDS] = {
    [OP_GATHER] = {gather_fwd, gather_bwd},
    [OP_DWCONV] = {dwconv_fwd, dwconv_bwd},
    [OP_CONV] = {conv_fwd, conv_bwd},
    [OP_GEMM] = {pointwise_fwd, pointwise_bwd},
    [OP_BN] = {bn_fwd, bn_bwd},
    [OP_AVGPOOL] = {avgpool_fwd, avgpool_bwd},
    [OP_MAXPOOL] = {maxpool_fwd, maxpool_bwd},
    [OP_AXPY] = {axpy_fwd, axpy_bwd},
    [OP_GAP] = {gap_fwd, gap_bwd},
    [OP_LINEAR] = {linear_fwd, linear_bwd},
    [OP_XENT] = {xent_fwd, NULL},
    [OP_DROP] = {drop_fwd, drop_bwd},
};

op pb_blank(opkind k, view x, view y) {
  op o;
  memset(&o, 0, sizeof o);
  o.kind = k;
  o.x = x;
  o.y = y;
  o.alpha = 1;
  o.wt = o.bt = -1;
  o.bn = (nw_slots){-1, -1, -1, -1, -1, -1};
  o.kh = o.kw = o.sh = o.sw = o.dh = o.dw = o.groups = o.S = 1;
  return o;
}

/* Records O: in the builder (for the backward) and in the plan (its name,
 * for messages). */
static int add_op(builder *b, op *o, const char *fmt, const char *what) {
  pl_plan *p = b->p;
  if (pb_grow(b, (void **)&b->ops, b->nops, &b->capops, sizeof *b->ops) != 0 ||
      pb_grow(b, (void **)&p->ops, p->nops, &p->capops, sizeof *p->ops) != 0)
    return -1;
  snprintf(p->ops[p->nops].what, sizeof p->ops[p->nops].what, fmt, what);
  o->id = p->nops++;
  b->ops[b->nops++] = *o;
  b->cur_op = o->id;
  return 0;
}

void pb_emit(builder *b, op *o, const char *fmt, const char *what) {
  if (b->failed || add_op(b, o, fmt, what) != 0) return;
  lowering[o->kind].fwd(b, o);
}

void pb_backward(builder *b, const op *o) {
  view dy;
  b->cur_op = o->id;
  if (!lowering[o->kind].bwd || !pb_grad_read(b, o->y, &dy)) return;
  lowering[o->kind].bwd(b, o, dy);
}
