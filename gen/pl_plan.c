/* Planning a child: lowering the network into ops (one per layer call), each
 * op into kernel and GEMM steps, forward then backward in reverse, and the
 * arena buffers placed by liveness.
 *
 * Fusions: a ReLU is read by the conv that follows it (the RELU flag of the
 * conv kernels); the last BN of a primitive writes straight into its node's
 * slice of the cell output (the node sum and the concat), scaled by the
 * edge's multiplicity and accumulating after the node's first edge. */
#include "pl_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int buf, coff, c, h, w;
} view;

typedef enum {
  OP_GATHER, OP_DWCONV, OP_CONV, OP_GEMM, OP_BN, OP_AVGPOOL, OP_MAXPOOL, OP_AXPY, OP_GAP, OP_LINEAR, OP_XENT, OP_DROP
} opkind;

typedef struct {
  opkind kind;
  view x, y;
  int acc;
  float alpha;
  int kh, kw, sh, sw, ph, pw, dh, dw, groups, relu, S, O;
  int wt, bt; /* weight and bias tensors (layout indices), -1 if none */
  nw_slots bn;
  int affine;
  long save, red; /* fixed-region offsets (BN) */
  pl_ref ll, cor; /* cross-entropy: where the log-likelihoods and hits go */
  float mult;     /* cross-entropy: weight of this loss (the auxiliary head's 0.4) */
  pl_ref mask;    /* drop path: the per-sample scales */
  view arg;       /* max pool in training plans: the recorded argmaxes */
  int id;         /* index into plan->ops */
} op;

typedef struct {
  pl_plan *p;
  const sp_space *sp;
  const sp_net *net;
  const nw_layout *lay;
  pl_mode mode;
  int search;       /* the search network (search-mode BNs) or the evaluation one */
  int drop;         /* drop path on ops other than identity */
  float aux_weight; /* > 0: the auxiliary head's loss in training plans */
  err_t *e;
  int failed;
  op *ops;
  int nops, capops;
  /* per arena buffer */
  int capb;
  int *gbuf;             /* gradient buffer, or -1 */
  unsigned char **ginit; /* channels of the gradient written so far */
  int *nograd;
  view *shape; /* the buffer as a whole */
  int cur_op;
  /* ReLU copies made so far: a cell's output feeds two preprocessings */
  view relu_src[64], relu_dst[64];
  int nrelu;
} builder;

#define GROW(arr, n, cap)                                                                   \
  do {                                                                                      \
    if ((n) == (cap)) {                                                                     \
      int nc_ = (cap) ? 2 * (cap) : 64;                                                     \
      void *np_ = realloc((arr), (size_t)nc_ * sizeof *(arr));                              \
      if (!np_) return b->failed = 1, err_set(b->e, "out of memory planning a child"), -1;  \
      (arr) = np_;                                                                          \
      (cap) = nc_;                                                                          \
    }                                                                                       \
  } while (0)

/* ---------- buffers and views ---------- */

static int new_buf(builder *b, int c, int h, int w, int is_grad) {
  pl_plan *p = b->p;
  GROW(p->bufs, p->nbufs, p->capbufs);
  if (p->nbufs == b->capb) {
    int nc = b->capb ? 2 * b->capb : 64;
    int *g = realloc(b->gbuf, (size_t)nc * sizeof *g);
    if (g) b->gbuf = g;
    unsigned char **gi = realloc(b->ginit, (size_t)nc * sizeof *gi);
    if (gi) b->ginit = gi;
    int *ng = realloc(b->nograd, (size_t)nc * sizeof *ng);
    if (ng) b->nograd = ng;
    view *sh = realloc(b->shape, (size_t)nc * sizeof *sh);
    if (sh) b->shape = sh;
    if (!g || !gi || !ng || !sh) return b->failed = 1, err_set(b->e, "out of memory planning a child"), -1;
    b->capb = nc;
  }
  int id = p->nbufs++;
  p->bufs[id] = (pl_buf){(long)c * h * w, -1, -1, 0, is_grad};
  b->gbuf[id] = -1;
  b->ginit[id] = NULL;
  b->nograd[id] = 0;
  b->shape[id] = (view){id, 0, c, h, w};
  return id;
}

static view new_view(builder *b, int c, int h, int w) {
  int id = new_buf(b, c, h, w, 0);
  return (view){id < 0 ? 0 : id, 0, c, h, w};
}

static view slice(view v, int coff, int c) {
  v.coff += coff;
  v.c = c;
  return v;
}

/* ---------- arguments ---------- */

static pl_arg A_view(view v) {
  pl_arg a = {PA_REF, {PR_ARENA, (long)v.coff * v.h * v.w, v.buf}, 0, 0};
  return a;
}
static pl_arg A_space(pl_space s, long off) {
  pl_arg a = {PA_REF, {s, off, -1}, 0, 0};
  return a;
}
static pl_arg A_tensor(const builder *b, pl_space s, int t) {
  return t < 0 ? A_space(PR_NONE, 0) : A_space(s, (long)b->lay->t[t].offset);
}
static pl_arg A_null(void) { return A_space(PR_NONE, 0); }
static pl_arg A_int(long i) {
  pl_arg a = {PA_INT, {PR_NONE, 0, -1}, i, 0};
  return a;
}
static pl_arg A_float(float f) {
  pl_arg a = {PA_FLOAT, {PR_NONE, 0, -1}, 0, f};
  return a;
}
static pl_arg A_kind(pl_argkind k) {
  pl_arg a = {k, {PR_NONE, 0, -1}, 0, 0};
  return a;
}

static void note_buf(pl_step *s, int buf) {
  if (buf < 0) return;
  for (int i = 0; i < s->nbufs; i++)
    if (s->bufs[i] == buf) return;
  if (s->nbufs < 8) s->bufs[s->nbufs++] = buf;
}

static pl_step *new_step(builder *b, pl_stepkind kind) {
  pl_plan *p = b->p;
  if (p->nsteps == p->capsteps) {
    int nc = p->capsteps ? 2 * p->capsteps : 256;
    pl_step *s = realloc(p->steps, (size_t)nc * sizeof *s);
    if (!s) {
      b->failed = 1;
      err_set(b->e, "out of memory planning a child");
      return NULL;
    }
    p->steps = s;
    p->capsteps = nc;
  }
  pl_step *s = &p->steps[p->nsteps++];
  memset(s, 0, sizeof *s);
  s->kind = kind;
  s->weight = -1;
  s->op = b->cur_op;
  return s;
}

static int spec_index(builder *b, const cg_spec *s) {
  pl_plan *p = b->p;
  for (int i = 0; i < p->nspecs; i++)
    if (p->specs[i].k == s->k && memcmp(p->specs[i].vals, s->vals, sizeof s->vals) == 0) return i;
  GROW(p->specs, p->nspecs, p->capspecs);
  p->specs[p->nspecs] = *s;
  return p->nspecs++;
}

/* A kernel step: SPEC (built by the caller) with ARGS in the kernel's order. */
static void kstep(builder *b, const cg_spec *spec, int weight, int nargs, ...) {
  if (b->failed) return;
  int si = spec_index(b, spec);
  pl_step *s = new_step(b, PS_KERNEL);
  if (!s || si < 0) return;
  s->spec = si;
  s->weight = weight;
  va_list ap;
  va_start(ap, nargs);
  for (int i = 0; i < nargs; i++) {
    s->args[i] = va_arg(ap, pl_arg);
    note_buf(s, s->args[i].ref.buf);
  }
  va_end(ap);
  s->nargs = nargs;
  if (nargs != spec->k->nargs) {
    b->failed = 1;
    err_set(b->e, "internal: kernel %s takes %d arguments, the planner gave %d", spec->k->name, spec->k->nargs, nargs);
  }
}

#define SPEC(var, ...)                                                   \
  cg_spec var;                                                           \
  if (!b->failed && cg_spec_make(&var, b->e, __VA_ARGS__, NULL) != 0) b->failed = 1; \
  if (b->failed) return

static void gemm(builder *b, int ta, int tb, const long m[2], const long n[2], const long k[2], pl_arg A,
                 const long lda[2], pl_arg B, const long ldb[2], pl_arg C, const long ldc[2], float beta, int weight) {
  pl_step *s = new_step(b, PS_GEMM);
  if (!s) return;
  s->ta = ta;
  s->tb = tb;
  memcpy(s->m, m, sizeof s->m);
  memcpy(s->n, n, sizeof s->n);
  memcpy(s->k, k, sizeof s->k);
  memcpy(s->lda, lda, sizeof s->lda);
  memcpy(s->ldb, ldb, sizeof s->ldb);
  memcpy(s->ldc, ldc, sizeof s->ldc);
  s->a = A.ref;
  s->b = B.ref;
  s->c = C.ref;
  s->alpha = 1;
  s->beta = beta;
  s->weight = weight;
  note_buf(s, A.ref.buf);
  note_buf(s, B.ref.buf);
  note_buf(s, C.ref.buf);
}

static void zero(builder *b, view v) {
  pl_step *s = new_step(b, PS_ZERO);
  if (!s) return;
  s->a = A_view(v).ref;
  s->count[0] = 0;
  s->count[1] = (long)v.c * v.h * v.w;
  note_buf(s, v.buf);
}

static long fixed(builder *b, long n) {
  long off = b->p->fixed_elems;
  b->p->fixed_elems += (n + 15) & ~15L;
  return off;
}

/* ---------- forward ---------- */

static int add_op(builder *b, op *o, const char *fmt, ...) {
  GROW(b->ops, b->nops, b->capops);
  pl_plan *p = b->p;
  GROW(p->ops, p->nops, p->capops);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->ops[p->nops].what, sizeof p->ops[p->nops].what, fmt, ap);
  va_end(ap);
  o->id = p->nops++;
  b->ops[b->nops++] = *o;
  b->cur_op = o->id;
  return 0;
}

static void spec_gather(builder *b, const op *o, const char *k, cg_spec *s) {
  if (cg_spec_make(s, b->e, k, "C", (long)o->x.c, "H", (long)o->x.h, "W", (long)o->x.w, "S", (long)o->S, "O",
                   (long)o->O, "RELU", (long)o->relu, NULL) != 0)
    b->failed = 1;
}

static void spec_geom(builder *b, const op *o, const char *k, cg_spec *s) {
  int r;
  if (o->kind == OP_DWCONV || o->kind == OP_CONV)
    r = cg_spec_make(s, b->e, k, "C", (long)o->x.c, "H", (long)o->x.h, "W", (long)o->x.w, "KH", (long)o->kh, "KW",
                     (long)o->kw, "SH", (long)o->sh, "SW", (long)o->sw, "PH", (long)o->ph, "PW", (long)o->pw, "DH",
                     (long)o->dh, "DW", (long)o->dw, "RELU", (long)o->relu, NULL);
  else
    r = cg_spec_make(s, b->e, k, "C", (long)o->x.c, "H", (long)o->x.h, "W", (long)o->x.w, "KH", (long)o->kh, "KW",
                     (long)o->kw, "SH", (long)o->sh, "SW", (long)o->sw, "PH", (long)o->ph, "PW", (long)o->pw, NULL);
  if (r) b->failed = 1;
}

/* A dense or grouped convolution: the im2col columns of x, then a GEMM per
 * group, y_g[COG, N*OH*OW] = W_g[COG, CIG*KH*KW] col_g.  The columns are a
 * temporary, recomputed for the backward rather than kept alive. */
static view im2col(builder *b, const op *o) {
  long kk = (long)o->kh * o->kw;
  view col = new_view(b, (int)(o->x.c * kk), o->y.h, o->y.w);
  cg_spec s;
  spec_geom(b, o, "im2col", &s);
  kstep(b, &s, -1, 2, A_view(col), A_view(o->x));
  return col;
}

static void conv_gemm(builder *b, const op *o) {
  long kk = (long)o->kh * o->kw, cig = o->x.c / o->groups, cog = o->y.c / o->groups, ohw = (long)o->y.h * o->y.w;
  view col = im2col(b, o);
  for (int g = 0; g < o->groups; g++) {
    long m[2] = {cog, 0}, n[2] = {0, ohw}, k[2] = {cig * kk, 0}, lda[2] = {cig * kk, 0}, ld[2] = {0, ohw};
    pl_arg w = A_space(PR_PARAM, (long)b->lay->t[o->wt].offset + g * cog * cig * kk);
    gemm(b, 0, 0, m, n, k, w, lda, A_view(slice(col, (int)(g * cig * kk), (int)(cig * kk))), ld,
         A_view(slice(o->y, (int)(g * cog), (int)cog)), ld, 0, -1);
  }
}

static int grad_write(builder *b, view v, view *g, int *acc);

static void conv_gemm_bwd(builder *b, const op *o, view dy) {
  long kk = (long)o->kh * o->kw, cig = o->x.c / o->groups, cog = o->y.c / o->groups, ohw = (long)o->y.h * o->y.w;
  view col = im2col(b, o);
  for (int g = 0; g < o->groups; g++) {
    long m[2] = {cog, 0}, n[2] = {cig * kk, 0}, k[2] = {0, ohw}, ld[2] = {0, ohw}, ldw[2] = {cig * kk, 0};
    pl_arg dw = A_space(PR_GRAD, (long)b->lay->t[o->wt].offset + g * cog * cig * kk);
    gemm(b, 0, 1, m, n, k, A_view(slice(dy, (int)(g * cog), (int)cog)), ld,
         A_view(slice(col, (int)(g * cig * kk), (int)(cig * kk))), ld, dw, ldw, 1, o->wt);
  }
  view dx;
  int acc;
  if (!grad_write(b, o->x, &dx, &acc)) return;
  view dcol = new_view(b, (int)(o->x.c * kk), o->y.h, o->y.w);
  for (int g = 0; g < o->groups; g++) {
    long m[2] = {cig * kk, 0}, n[2] = {0, ohw}, k[2] = {cog, 0}, ld[2] = {0, ohw}, ldw[2] = {cig * kk, 0};
    pl_arg w = A_space(PR_PARAM, (long)b->lay->t[o->wt].offset + g * cog * cig * kk);
    gemm(b, 1, 0, m, n, k, w, ldw, A_view(slice(dy, (int)(g * cog), (int)cog)), ld,
         A_view(slice(dcol, (int)(g * cig * kk), (int)(cig * kk))), ld, 0, -1);
  }
  cg_spec s;
  spec_geom(b, o, "col2im", &s);
  kstep(b, &s, -1, 4, A_view(dx), A_view(dcol), o->relu ? A_view(o->x) : A_null(), A_int(acc));
}

static void fwd(builder *b, const op *o) {
  long hw = (long)o->x.h * o->x.w, ohw = (long)o->y.h * o->y.w;
  cg_spec s;
  switch (o->kind) {
  case OP_GATHER:
    spec_gather(b, o, "gather_fwd", &s);
    kstep(b, &s, -1, 2, A_view(o->y), A_view(o->x));
    break;
  case OP_DWCONV:
    spec_geom(b, o, "dwconv_fwd", &s);
    kstep(b, &s, -1, 3, A_view(o->y), A_view(o->x), A_tensor(b, PR_PARAM, o->wt));
    break;
  case OP_CONV:
    conv_gemm(b, o);
    break;
  case OP_AVGPOOL:
    spec_geom(b, o, "avgpool_fwd", &s);
    kstep(b, &s, -1, 2, A_view(o->y), A_view(o->x));
    break;
  case OP_MAXPOOL:
    spec_geom(b, o, "maxpool_fwd", &s);
    kstep(b, &s, -1, 3, A_view(o->y), b->mode == PL_TRAIN ? A_view(o->arg) : A_null(), A_view(o->x));
    break;
  case OP_GEMM: {
    long m[2] = {o->y.c, 0}, n[2] = {0, hw}, k[2] = {o->x.c, 0}, lda[2] = {o->x.c, 0}, ld[2] = {0, hw};
    gemm(b, 0, 0, m, n, k, A_tensor(b, PR_PARAM, o->wt), lda, A_view(o->x), ld, A_view(o->y), ld, 0, -1);
    break;
  }
  case OP_BN: {
    cg_spec st, ap;
    if (b->mode == PL_EVAL) {
      SPEC(se, "bn_stats_eval", "C", (long)o->x.c);
      st = se;
      kstep(b, &st, -1, 3, A_space(PR_FIXED, o->save), A_tensor(b, PR_STAT, o->bn.bn_mean),
            A_tensor(b, PR_STAT, o->bn.bn_var));
    } else {
      SPEC(sb, "bn_stats", "C", (long)o->x.c, "HW", hw);
      st = sb;
      kstep(b, &st, -1, 5, A_space(PR_FIXED, o->save), A_tensor(b, PR_STAT, o->bn.bn_mean),
            A_tensor(b, PR_STAT, o->bn.bn_var), A_view(o->x),
            b->mode == PL_TRAIN ? A_kind(PA_BN_MOMENTUM) : A_float(0));
    }
    SPEC(sa, "bn_apply", "C", (long)o->x.c, "HW", hw, "AFFINE", (long)o->affine);
    ap = sa;
    kstep(b, &ap, -1, 7, A_view(o->y), A_view(o->x), A_space(PR_FIXED, o->save), A_tensor(b, PR_PARAM, o->bn.bn_weight),
          A_tensor(b, PR_PARAM, o->bn.bn_bias), A_int(o->acc), A_float(o->alpha));
    break;
  }
  case OP_AXPY: {
    SPEC(sx, "axpy", "M", (long)o->x.c * hw);
    kstep(b, &sx, -1, 4, A_view(o->y), A_view(o->x), A_int(o->acc), A_float(o->alpha));
    break;
  }
  case OP_GAP: {
    SPEC(sg, "gap_fwd", "C", (long)o->x.c, "HW", hw);
    kstep(b, &sg, -1, 2, A_view(o->y), A_view(o->x));
    break;
  }
  case OP_LINEAR: {
    long K = o->y.c, C = o->x.c;
    long m[2] = {K, 0}, n[2] = {0, 1}, k[2] = {C, 0}, lda[2] = {C, 0}, ld[2] = {0, 1};
    gemm(b, 0, 0, m, n, k, A_tensor(b, PR_PARAM, o->wt), lda, A_view(o->x), ld, A_view(o->y), ld, 0, -1);
    SPEC(sb, "bias_fwd", "K", K);
    kstep(b, &sb, -1, 2, A_view(o->y), A_tensor(b, PR_PARAM, o->bt));
    break;
  }
  case OP_XENT: {
    SPEC(sx, "xent", "K", (long)o->x.c);
    pl_plan *p = b->p;
    int train = b->mode == PL_TRAIN;
    pl_arg dl = train ? A_view(o->y) : A_null();
    pl_arg scale = A_kind(PA_LOSS_SCALE);
    scale.f = o->mult; /* the run's loss scale times this loss's weight */
    kstep(b, &sx, -1, 6, (pl_arg){PA_REF, o->ll, 0, 0}, dl, (pl_arg){PA_REF, o->cor, 0, 0}, A_view(o->x),
          (pl_arg){PA_REF, p->labels, 0, 0}, train ? scale : A_float(0));
    break;
  }
  case OP_DROP: {
    SPEC(sd, "drop_path", "C", (long)o->x.c, "HW", hw);
    kstep(b, &sd, -1, 4, A_view(o->y), A_view(o->x), (pl_arg){PA_REF, o->mask, 0, 0}, A_int(o->acc));
    break;
  }
  }
  (void)ohw;
}

static void emit(builder *b, op *o, const char *fmt, const char *what) {
  if (b->failed) return;
  add_op(b, o, fmt, what);
  fwd(b, o);
}

static op blank(opkind k, view x, view y) {
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

/* relu(x) into a new buffer (a ReLU that no conv can absorb), made once per
 * source: a cell's output is ReLU'd by the next cell's preprocess1 and by
 * the one after's preprocess0. */
static view relu_of(builder *b, view x, const char *what) {
  for (int i = 0; i < b->nrelu; i++)
    if (b->relu_src[i].buf == x.buf && b->relu_src[i].coff == x.coff && b->relu_src[i].c == x.c) return b->relu_dst[i];
  view y = new_view(b, x.c, x.h, x.w);
  op o = blank(OP_GATHER, x, y);
  o.relu = 1;
  emit(b, &o, "%s relu", what);
  if (b->nrelu < 64) {
    b->relu_src[b->nrelu] = x;
    b->relu_dst[b->nrelu++] = y;
  }
  return y;
}

static view conv1x1(builder *b, view x, view y, int wt, const char *what) {
  op o = blank(OP_GEMM, x, y);
  o.wt = wt;
  emit(b, &o, "%s conv1x1", what);
  return y;
}

/* BN with `tensors` starting at layout index T (affine: weight, bias; then
 * running mean, var), into OUT (acc, alpha). */
static void bn(builder *b, view x, view out, int t, int affine, int acc, float alpha, const char *what) {
  op o = blank(OP_BN, x, out);
  o.affine = affine;
  if (affine) {
    o.bn.bn_weight = t++;
    o.bn.bn_bias = t++;
  }
  o.bn.bn_mean = t++;
  o.bn.bn_var = t++;
  o.acc = acc;
  o.alpha = alpha;
  o.save = fixed(b, 2L * x.c);
  o.red = fixed(b, 2L * x.c);
  emit(b, &o, "%s bn", what);
}

/* Factorized reduce of X into C channels at ceil(H/2): relu, two 1x1 convs
 * of C/2 (the second on x shifted by a pixel), concatenated, then BN into
 * OUT.  Tensors from T: conv_1, conv_2, then the BN's. */
static void factorized_reduce(builder *b, view x, view out, int t, int affine, int acc, float alpha, const char *what) {
  int C = out.c, oh = (x.h + 1) / 2, ow = (x.w + 1) / 2;
  view cat = new_view(b, C, oh, ow);
  for (int half = 0; half < 2; half++) {
    view g = new_view(b, x.c, oh, ow);
    op o = blank(OP_GATHER, x, g);
    o.relu = 1;
    o.S = 2;
    o.O = half;
    emit(b, &o, "%s factorized reduce gather", what);
    conv1x1(b, g, slice(cat, half * (C / 2), C / 2), t + half, what);
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
  case SP_CONV: return 1;
  case SP_BN: return (nw_bn_affine(l, search) ? 2 : 0) + 2;
  case SP_FACTORIZED_REDUCE: return 2 + (search ? 0 : 2) + 2;
  default: return 0;
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
      view y = new_view(b, C, oh, ow);
      if (pointwise) {
        if (relu) cur = relu_of(b, cur, what);
        conv1x1(b, cur, y, tens[i], what);
      } else {
        op o = blank(groups == C ? OP_DWCONV : OP_CONV, cur, y);
        o.kh = l->kh, o.kw = l->kw, o.sh = l->sh, o.sw = l->sw, o.ph = l->ph, o.pw = l->pw, o.dh = l->dh, o.dw = l->dw;
        o.groups = groups;
        o.relu = relu;
        o.wt = tens[i];
        emit(b, &o, "%s conv", what);
      }
      relu = 0;
      cur = y;
      break;
    }
    case SP_BN: {
      if (relu) cur = relu_of(b, cur, what);
      relu = 0;
      view y = last ? out : new_view(b, cur.c, cur.h, cur.w);
      bn(b, cur, y, tens[i], nw_bn_affine(l, search), last ? acc : 0, last ? alpha : 1, what);
      written = last;
      cur = y;
      break;
    }
    case SP_AVG_POOL:
    case SP_MAX_POOL: {
      if (relu) cur = relu_of(b, cur, what);
      relu = 0;
      view y = new_view(b, cur.c, sp_out_size(cur.h, l->kh, l->sh, l->ph, 1), sp_out_size(cur.w, l->kw, l->sw, l->pw, 1));
      op o = blank(l->kind == SP_AVG_POOL ? OP_AVGPOOL : OP_MAXPOOL, cur, y);
      o.kh = l->kh, o.kw = l->kw, o.sh = l->sh, o.sw = l->sw, o.ph = l->ph, o.pw = l->pw;
      if (o.kind == OP_MAXPOOL && b->mode == PL_TRAIN) o.arg = new_view(b, y.c, y.h, y.w); /* int per output */
      emit(b, &o, "%s pool", what);
      cur = y;
      break;
    }
    case SP_FACTORIZED_REDUCE: {
      relu = 0; /* its own ReLU; relu(relu(x)) = relu(x) */
      view y = last ? out : new_view(b, cur.c, (cur.h + 1) / 2, (cur.w + 1) / 2);
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
    op o = blank(OP_AXPY, cur, out);
    o.acc = acc;
    o.alpha = alpha;
    emit(b, &o, "%s add", what);
  }
}

/* ReLU-conv1x1-BN, or a factorized reduce when the input is at twice the
 * resolution. */
static view preprocess(builder *b, view x, int C, int fr, int t, const char *what) {
  int h = fr ? (x.h + 1) / 2 : x.h, w = fr ? (x.w + 1) / 2 : x.w;
  view out = new_view(b, C, h, w);
  int affine = !b->search;
  if (fr) {
    factorized_reduce(b, x, out, t, affine, 0, 1, what);
  } else {
    view r = relu_of(b, x, what);
    view y = new_view(b, C, h, w);
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
    view node = slice(out, n * s->C, s->C);
    const pl_node_edges *ne = &edges[n];
    for (int k = 0; k < ne->n; k++) {
      int j = ne->pred[k], pr = ne->prim[k];
      int stride = s->reduction && j < 2 ? 2 : 1;
      const sp_prim *prim = &b->sp->prims[pr];
      snprintf(what, sizeof what, "cell %d node %d edge (%d, %s)", cell, n, j, prim->name);
      if (b->drop && !is_identity(b, prim, stride)) {
        /* drop path: the op's output, scaled per sample, into the node */
        view t = new_view(b, s->C, node.h, node.w);
        lower_prim(b, prim, stride, st[j], t, 0, 1, ne->first[k], what);
        op o = blank(OP_DROP, t, node);
        o.acc = k > 0;
        view m = new_view(b, 1, 1, 1);
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
        emit(b, &o, "%s drop path", what);
      } else {
        lower_prim(b, prim, stride, st[j], node, k > 0, (float)ne->mult[k], ne->first[k], what);
      }
    }
    st[2 + n] = node;
  }
}

/* ---------- backward ---------- */

/* The gradient of view V, for reading: 0 when nothing was written to it (a
 * zero gradient: the op's backward is skipped); a partly written one is
 * completed with zeros. */
static int grad_read(builder *b, view v, view *g) {
  int gb = b->gbuf[v.buf];
  if (gb < 0) return 0;
  unsigned char *in = b->ginit[v.buf];
  int any = 0, all = 1;
  for (int c = v.coff; c < v.coff + v.c; c++) {
    any |= in[c];
    all &= in[c];
  }
  if (!any) return 0;
  *g = v;
  g->buf = gb;
  if (!all) {
    for (int c = v.coff; c < v.coff + v.c; c++)
      if (!in[c]) {
        zero(b, (view){gb, c, 1, v.h, v.w});
        in[c] = 1;
      }
  }
  return 1;
}

/* The gradient of view V, for writing: *acc says whether to add to what is
 * there.  Returns 0 when V needs no gradient. */
static int grad_write(builder *b, view v, view *g, int *acc) {
  if (b->nograd[v.buf]) return 0;
  if (b->gbuf[v.buf] < 0) {
    view whole = b->shape[v.buf];
    int gb = new_buf(b, whole.c, whole.h, whole.w, 1);
    if (gb < 0) return 0;
    b->gbuf[v.buf] = gb;
    b->ginit[v.buf] = calloc((size_t)whole.c, 1);
    if (!b->ginit[v.buf]) {
      b->failed = 1;
      err_set(b->e, "out of memory planning a child");
      return 0;
    }
  }
  unsigned char *in = b->ginit[v.buf];
  int any = 0, all = 1;
  for (int c = v.coff; c < v.coff + v.c; c++) {
    any |= in[c];
    all &= in[c];
  }
  *g = v;
  g->buf = b->gbuf[v.buf];
  if (any && !all)
    for (int c = v.coff; c < v.coff + v.c; c++)
      if (!in[c]) zero(b, (view){g->buf, c, 1, v.h, v.w});
  for (int c = v.coff; c < v.coff + v.c; c++) in[c] = 1;
  *acc = any;
  return 1;
}

static void bwd(builder *b, const op *o) {
  view dy, dx;
  int acc = 0;
  long hw = (long)o->x.h * o->x.w, ohw = (long)o->y.h * o->y.w;
  b->cur_op = o->id;
  if (o->kind == OP_XENT) return; /* its gradient comes with its forward */
  if (!grad_read(b, o->y, &dy)) return;
  cg_spec s;
  switch (o->kind) {
  case OP_GATHER:
    if (!grad_write(b, o->x, &dx, &acc)) return;
    spec_gather(b, o, "gather_bwd", &s);
    kstep(b, &s, -1, 4, A_view(dx), A_view(dy), o->relu ? A_view(o->x) : A_null(), A_int(acc));
    break;
  case OP_DWCONV:
    spec_geom(b, o, "dwconv_bwd_w", &s);
    kstep(b, &s, o->wt, 3, A_tensor(b, PR_GRAD, o->wt), A_view(dy), A_view(o->x));
    if (!grad_write(b, o->x, &dx, &acc)) return;
    spec_geom(b, o, "dwconv_bwd_data", &s);
    kstep(b, &s, -1, 5, A_view(dx), A_view(dy), o->relu ? A_view(o->x) : A_null(), A_tensor(b, PR_PARAM, o->wt),
          A_int(acc));
    break;
  case OP_CONV:
    conv_gemm_bwd(b, o, dy);
    break;
  case OP_AVGPOOL:
    if (!grad_write(b, o->x, &dx, &acc)) return;
    spec_geom(b, o, "avgpool_bwd", &s);
    kstep(b, &s, -1, 3, A_view(dx), A_view(dy), A_int(acc));
    break;
  case OP_MAXPOOL:
    if (!grad_write(b, o->x, &dx, &acc)) return;
    spec_geom(b, o, "maxpool_bwd", &s);
    kstep(b, &s, -1, 4, A_view(dx), A_view(dy), A_view(o->arg), A_int(acc));
    break;
  case OP_GEMM: {
    long co = o->y.c, ci = o->x.c;
    long m[2] = {co, 0}, n[2] = {ci, 0}, k[2] = {0, hw}, ld[2] = {0, hw}, ldw[2] = {ci, 0};
    gemm(b, 0, 1, m, n, k, A_view(dy), ld, A_view(o->x), ld, A_tensor(b, PR_GRAD, o->wt), ldw, 1, o->wt);
    if (!grad_write(b, o->x, &dx, &acc)) return;
    long m2[2] = {ci, 0}, n2[2] = {0, hw}, k2[2] = {co, 0};
    gemm(b, 1, 0, m2, n2, k2, A_tensor(b, PR_PARAM, o->wt), ldw, A_view(dy), ld, A_view(dx), ld, (float)acc, -1);
    break;
  }
  case OP_BN: {
    SPEC(sr, "bn_bwd_reduce", "C", (long)o->x.c, "HW", hw, "AFFINE", (long)o->affine);
    kstep(b, &sr, o->bn.bn_weight, 7, A_space(PR_FIXED, o->red), A_tensor(b, PR_GRAD, o->bn.bn_weight),
          A_tensor(b, PR_GRAD, o->bn.bn_bias), A_view(dy), A_view(o->x), A_space(PR_FIXED, o->save),
          A_float(o->alpha));
    if (!grad_write(b, o->x, &dx, &acc)) return;
    SPEC(sa, "bn_bwd_apply", "C", (long)o->x.c, "HW", hw, "AFFINE", (long)o->affine);
    kstep(b, &sa, -1, 8, A_view(dx), A_view(dy), A_view(o->x), A_space(PR_FIXED, o->save), A_space(PR_FIXED, o->red),
          A_tensor(b, PR_PARAM, o->bn.bn_weight), A_int(acc), A_float(o->alpha));
    break;
  }
  case OP_AXPY: {
    if (!grad_write(b, o->x, &dx, &acc)) return;
    SPEC(sx, "axpy", "M", (long)o->x.c * hw);
    kstep(b, &sx, -1, 4, A_view(dx), A_view(dy), A_int(acc), A_float(o->alpha));
    break;
  }
  case OP_DROP: {
    if (!grad_write(b, o->x, &dx, &acc)) return;
    SPEC(sd, "drop_path", "C", (long)o->x.c, "HW", hw);
    kstep(b, &sd, -1, 4, A_view(dx), A_view(dy), (pl_arg){PA_REF, o->mask, 0, 0}, A_int(acc));
    break;
  }
  case OP_GAP: {
    if (!grad_write(b, o->x, &dx, &acc)) return;
    SPEC(sg, "gap_bwd", "C", (long)o->x.c, "HW", hw);
    kstep(b, &sg, -1, 3, A_view(dx), A_view(dy), A_int(acc));
    break;
  }
  case OP_LINEAR: {
    long K = o->y.c, C = o->x.c;
    SPEC(sb, "bias_bwd", "K", K);
    kstep(b, &sb, o->bt, 2, A_tensor(b, PR_GRAD, o->bt), A_view(dy));
    long m[2] = {K, 0}, n[2] = {C, 0}, k[2] = {0, 1}, ld[2] = {0, 1}, ldw[2] = {C, 0};
    gemm(b, 0, 1, m, n, k, A_view(dy), ld, A_view(o->x), ld, A_tensor(b, PR_GRAD, o->wt), ldw, 1, o->wt);
    if (!grad_write(b, o->x, &dx, &acc)) return;
    long m2[2] = {C, 0}, n2[2] = {0, 1}, k2[2] = {K, 0};
    gemm(b, 1, 0, m2, n2, k2, A_tensor(b, PR_PARAM, o->wt), ldw, A_view(dy), ld, A_view(dx), ld, (float)acc, -1);
    break;
  }
  default:
    break;
  }
  (void)ohw;
}

/* ---------- placement ---------- */

typedef struct {
  long off, end;
  int first, last; /* the buffer's lifetime, in steps */
} span;

typedef struct {
  long units;
  int id;
} sized;

/* largest first; ties in creation order, so placement is deterministic */
static int order_cmp(const void *a, const void *b) {
  const sized *x = a, *y = b;
  if (x->units != y->units) return x->units < y->units ? 1 : -1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Greedy by size: the largest buffers first, each at the lowest offset free
 * over its lifetime (the placed buffers are kept sorted by offset, so each
 * placement is one pass over them). */
static int place(builder *b) {
  pl_plan *p = b->p;
  for (int i = 0; i < p->nsteps; i++)
    for (int k = 0; k < p->steps[i].nbufs; k++) {
      pl_buf *u = &p->bufs[p->steps[i].bufs[k]];
      if (u->first < 0) u->first = i;
      u->last = i;
    }
  /* inputs and outputs live for the whole plan */
  int io[6] = {p->images.buf, p->labels.buf, p->loglik.buf, p->correct.buf, -1, -1};
  if (p->has_aux) io[4] = p->aux_loglik.buf, io[5] = p->aux_correct.buf;
  for (int k = 0; k < 6; k++)
    if (io[k] >= 0) {
      p->bufs[io[k]].first = 0;
      p->bufs[io[k]].last = p->nsteps;
    }
  for (int k = 0; k < p->ndrops; k++) {
    p->bufs[p->drops[k].buf].first = 0;
    p->bufs[p->drops[k].buf].last = p->nsteps;
  }
  sized *order = malloc((size_t)p->nbufs * sizeof *order);
  span *sp = malloc((size_t)p->nbufs * sizeof *sp);
  if (!order || !sp) {
    free(order);
    free(sp);
    return err_set(b->e, "out of memory placing buffers");
  }
  int n = 0;
  for (int i = 0; i < p->nbufs; i++)
    if (p->bufs[i].first >= 0) order[n++] = (sized){p->bufs[i].units, i};
  qsort(order, (size_t)n, sizeof *order, order_cmp);
  int np = 0;
  p->arena_units = 0;
  for (int i = 0; i < n; i++) {
    pl_buf *u = &p->bufs[order[i].id];
    /* sizes rounded to 16 elements keep every buffer 64-byte aligned */
    long size = (u->units + 15) & ~15L, off = 0;
    for (int j = 0; j < np; j++) {
      if (sp[j].first > u->last || u->first > sp[j].last) continue; /* not alive together */
      if (sp[j].off >= off + size) break;
      if (sp[j].end > off) off = sp[j].end;
    }
    u->off = off;
    if (u->off + u->units > p->arena_units) p->arena_units = u->off + u->units;
    int at = np++;
    for (; at > 0 && sp[at - 1].off > off; at--) sp[at] = sp[at - 1];
    sp[at] = (span){off, off + size, u->first, u->last};
  }
  free(order);
  free(sp);
  /* the most units alive at once */
  long *delta = calloc((size_t)p->nsteps + 2, sizeof *delta);
  if (delta) {
    for (int i = 0; i < p->nbufs; i++)
      if (p->bufs[i].first >= 0) {
        delta[p->bufs[i].first] += p->bufs[i].units;
        delta[p->bufs[i].last + 1] -= p->bufs[i].units;
      }
    long live = 0;
    p->peak_units = 0;
    for (int i = 0; i <= p->nsteps; i++) {
      live += delta[i];
      if (live > p->peak_units) p->peak_units = live;
    }
    free(delta);
  }
  return 0;
}

static void resolve(pl_plan *p, pl_ref *r) {
  if (r->space == PR_ARENA && r->buf >= 0) {
    r->off += p->bufs[r->buf].off;
  }
}

static void resolve_all(pl_plan *p) {
  for (int i = 0; i < p->nsteps; i++) {
    pl_step *s = &p->steps[i];
    for (int k = 0; k < s->nargs; k++)
      if (s->args[k].kind == PA_REF) resolve(p, &s->args[k].ref);
    resolve(p, &s->a);
    resolve(p, &s->b);
    resolve(p, &s->c);
  }
  resolve(p, &p->images);
  resolve(p, &p->labels);
  resolve(p, &p->loglik);
  resolve(p, &p->correct);
  resolve(p, &p->logits);
  if (p->has_aux) {
    resolve(p, &p->aux_loglik);
    resolve(p, &p->aux_correct);
  }
  for (int k = 0; k < p->ndrops; k++) resolve(p, &p->drops[k]);
}

static int collect_touched(pl_plan *p, const nw_layout *lay, err_t *e) {
  unsigned char *seen = calloc((size_t)lay->n, 1);
  if (!seen) return err_set(e, "out of memory");
  for (int i = 0; i < p->nsteps; i++) {
    int w = p->steps[i].weight;
    if (w >= 0) {
      seen[w] = 1;
      /* an affine BN's reduce step writes its bias's gradient too */
      if (i < p->nsteps && p->steps[i].kind == PS_KERNEL &&
          strcmp(p->specs[p->steps[i].spec].k->name, "bn_bwd_reduce") == 0 && w + 1 < lay->n)
        seen[w + 1] = 1;
    }
  }
  p->ntouched = 0;
  for (int i = 0; i < lay->n; i++) p->ntouched += seen[i];
  p->touched = malloc((size_t)(p->ntouched + 1) * sizeof *p->touched);
  if (!p->touched) {
    free(seen);
    return err_set(e, "out of memory");
  }
  int k = 0;
  for (int i = 0; i < lay->n; i++)
    if (seen[i]) p->touched[k++] = i;
  free(seen);
  return 0;
}

/* ---------- the network ---------- */

/* DARTS's auxiliary head on the cell output X: ReLU, avg pool to 2x2
 * (kernel 5, stride 3 on 8x8; the kernel adapts on other sizes), 1x1 conv to
 * 128, BN, ReLU, 2x2 conv to 768, BN, ReLU, linear; its cross-entropy, weighted,
 * joins the loss.  Only training plans run it. */
static void aux_head(builder *b, view x) {
  const nw_layout *lay = b->lay;
  /* a 2x2 output: kernel h - 3 at stride 3 (5 on DARTS's 8x8), or h - 1 at
     stride 1 on maps smaller than 5x5 */
  int t = lay->aux_first, k = x.h >= 5 ? x.h - 3 : x.h - 1, st = x.h >= 5 ? 3 : 1;
  view r = relu_of(b, x, "auxiliary head");
  view pooled = new_view(b, x.c, sp_out_size(x.h, k, st, 0, 1), sp_out_size(x.w, k, st, 0, 1));
  op o = blank(OP_AVGPOOL, r, pooled);
  o.kh = o.kw = k;
  o.sh = o.sw = st;
  emit(b, &o, "%s", "auxiliary head pool");
  view c1 = new_view(b, 128, pooled.h, pooled.w), b1 = new_view(b, 128, pooled.h, pooled.w);
  conv1x1(b, pooled, c1, t, "auxiliary head");
  bn(b, c1, b1, t + 1, 1, 0, 1, "auxiliary head");
  int oh = sp_out_size(pooled.h, 2, 1, 0, 1), ow = sp_out_size(pooled.w, 2, 1, 0, 1);
  view c2 = new_view(b, 768, oh, ow), b2 = new_view(b, 768, oh, ow);
  o = blank(OP_CONV, b1, c2);
  o.kh = o.kw = 2;
  o.relu = 1;
  o.wt = t + 5;
  emit(b, &o, "%s", "auxiliary head conv 2x2");
  bn(b, c2, b2, t + 6, 1, 0, 1, "auxiliary head");
  view r2 = relu_of(b, b2, "auxiliary head");
  view g = r2;
  if (oh * ow > 1) { /* inputs other than 2x2 after the pool: average what is left */
    g = new_view(b, 768, 1, 1);
    o = blank(OP_GAP, r2, g);
    emit(b, &o, "%s", "auxiliary head pool");
  }
  view logits = new_view(b, b->p->classes, 1, 1);
  o = blank(OP_LINEAR, g, logits);
  o.wt = t + 10;
  o.bt = t + 11;
  emit(b, &o, "%s", "auxiliary classifier");
  view dl, ll = new_view(b, 1, 1, 1), cor = new_view(b, 1, 1, 1);
  int acc;
  grad_write(b, logits, &dl, &acc);
  b->p->has_aux = 1;
  b->p->aux_loglik = A_view(ll).ref;
  b->p->aux_correct = A_view(cor).ref;
  o = blank(OP_XENT, logits, dl);
  o.ll = b->p->aux_loglik;
  o.cor = b->p->aux_correct;
  o.mult = b->aux_weight;
  emit(b, &o, "%s", "auxiliary cross-entropy");
}

static int build(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const pl_node_edges *edges,
                 pl_mode mode, int drop, float aux_weight, err_t *e) {
  static _Atomic unsigned long serials;
  memset(p, 0, sizeof *p);
  p->mode = mode;
  p->serial = ++serials;
  builder bb = {0}, *b = &bb;
  b->p = p;
  b->sp = sp;
  b->net = net;
  b->lay = lay;
  b->mode = mode;
  b->search = !lay->eval;
  b->drop = drop && mode == PL_TRAIN;
  b->aux_weight = aux_weight;
  b->e = e;
  if (cg_kernels_load(e) != 0) return -1;
  sp_cell_shape sh[64];
  sp_cell_shapes(net, sp->nodes, sh);
  int H = net->input_size, cin = net->input_channels, K = net->classes;
  p->in_c = cin;
  p->in_h = p->in_w = H;
  p->classes = K;

  view img = new_view(b, cin, H, H);
  b->nograd[img.buf] = 1;
  p->images = A_view(img).ref;
  view lab = new_view(b, 1, 1, 1);
  p->labels = A_view(lab).ref;
  view ll = new_view(b, 1, 1, 1);
  p->loglik = A_view(ll).ref;
  view cor = new_view(b, 1, 1, 1);
  p->correct = A_view(cor).ref;

  /* stem: conv3x3 -> BN (affine) */
  int cstem = net->stem_multiplier * net->channels;
  view t0 = new_view(b, cstem, H, H);
  op o = blank(OP_CONV, img, t0);
  o.kh = o.kw = 3;
  o.ph = o.pw = 1;
  o.wt = lay->stem_weight;
  emit(b, &o, "%s", "stem conv");
  view stem = new_view(b, cstem, H, H);
  bn(b, t0, stem, lay->stem_bn.bn_weight, 1, 0, 1, "stem");

  view s0 = stem, s1 = stem;
  for (int c = 0; c < net->cells && !b->failed; c++) {
    view out = new_view(b, sp->nodes * sh[c].C, sh[c].h_out, sh[c].h_out);
    lower_cell(b, c, &sh[c], s0, s1, out, edges + (size_t)c * GT_MAXNODES);
    s0 = s1;
    s1 = out;
    if (c == lay->aux_cell && lay->aux_first >= 0 && mode == PL_TRAIN && b->aux_weight > 0) aux_head(b, s1);
  }
  /* head: global average pool, linear, softmax cross-entropy */
  view g = new_view(b, s1.c, 1, 1);
  o = blank(OP_GAP, s1, g);
  emit(b, &o, "%s", "global average pool");
  view logits = new_view(b, K, 1, 1);
  o = blank(OP_LINEAR, g, logits);
  o.wt = lay->classifier_weight;
  o.bt = lay->classifier_bias;
  emit(b, &o, "%s", "classifier");
  p->logits = A_view(logits).ref;
  view dlogits = logits;
  if (mode == PL_TRAIN) {
    int acc;
    grad_write(b, logits, &dlogits, &acc);
  }
  o = blank(OP_XENT, logits, dlogits);
  o.ll = p->loglik;
  o.cor = p->correct;
  o.mult = 1;
  emit(b, &o, "%s", "cross-entropy");
  if (mode == PL_TRAIN)
    for (int i = b->nops - 1; i >= 0 && !b->failed; i--) bwd(b, &b->ops[i]);
  int rc = b->failed ? -1 : 0;
  if (rc == 0) rc = place(b);
  if (rc == 0) resolve_all(p);
  if (rc == 0 && mode == PL_TRAIN) rc = collect_touched(p, lay, e);
  for (int i = 0; i < p->nbufs && b->ginit; i++) free(b->ginit[i]);
  free(b->ginit);
  free(b->gbuf);
  free(b->nograd);
  free(b->shape);
  free(b->ops);
  if (rc != 0) pl_free(p);
  return rc;
}

int pl_build_child(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                   pl_mode mode, err_t *e) {
  return pl_build_child_aux(p, sp, net, lay, g, mode, lay->aux_first >= 0 ? (float)net->auxiliary_weight : 0, e);
}

int pl_build_child_aux(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                       pl_mode mode, float aux_weight, err_t *e) {
  pl_node_edges *edges = calloc((size_t)net->cells * GT_MAXNODES, sizeof *edges);
  if (!edges) return err_set(e, "out of memory");
  for (int c = 0; c < net->cells; c++) {
    int t = sp_is_reduction(net, c) ? 1 : 0;
    for (int n = 0; n < sp->nodes; n++) {
      pl_node_edges *ne = &edges[(size_t)c * GT_MAXNODES + n];
      for (int i = 0; i < sp->inputs; i++) {
        int j = g->pred[t][n][i], pr = g->prim[t][n][i], k;
        for (k = 0; k < ne->n; k++)
          if (ne->pred[k] == j && ne->prim[k] == pr) break;
        if (k == ne->n) {
          ne->pred[k] = j;
          ne->prim[k] = pr;
          ne->mult[k] = 0;
          ne->first[k] = lay->edges[nw_edge_index(lay, sp, c, n, j, pr)].first;
          ne->n++;
        }
        ne->mult[k]++;
      }
    }
  }
  int rc = build(p, sp, net, lay, edges, mode, 0, aux_weight, e);
  free(edges);
  return rc;
}

int pl_build_supernet(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, pl_mode mode,
                      err_t *e) {
  pl_node_edges *edges = calloc((size_t)net->cells * GT_MAXNODES, sizeof *edges);
  if (!edges) return err_set(e, "out of memory");
  for (int c = 0; c < net->cells; c++)
    for (int n = 0; n < sp->nodes; n++) {
      pl_node_edges *ne = &edges[(size_t)c * GT_MAXNODES + n];
      for (int j = 0; j < 2 + n; j++)
        for (int pr = 0; pr < sp->nprims && ne->n < 64; pr++) {
          ne->pred[ne->n] = j;
          ne->prim[ne->n] = pr;
          ne->first[ne->n] = lay->edges[nw_edge_index(lay, sp, c, n, j, pr)].first;
          ne->mult[ne->n++] = 1;
        }
    }
  int rc = build(p, sp, net, lay, edges, mode, 0, lay->aux_first >= 0 ? (float)net->auxiliary_weight : 0, e);
  free(edges);
  return rc;
}

int pl_build_eval(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                  pl_mode mode, int drop_path, float aux_weight, err_t *e) {
  if (!lay->eval) return err_set(e, "internal: pl_build_eval needs an evaluation layout");
  pl_node_edges *edges = calloc((size_t)net->cells * GT_MAXNODES, sizeof *edges);
  if (!edges) return err_set(e, "out of memory");
  int per_cell = sp->nodes * sp->inputs;
  for (int c = 0; c < net->cells; c++) {
    int t = sp_is_reduction(net, c) ? 1 : 0;
    for (int n = 0; n < sp->nodes; n++) {
      pl_node_edges *ne = &edges[(size_t)c * GT_MAXNODES + n];
      for (int i = 0; i < sp->inputs; i++) { /* every genotype entry is an op of its own */
        ne->pred[i] = g->pred[t][n][i];
        ne->prim[i] = g->prim[t][n][i];
        ne->mult[i] = 1;
        ne->first[i] = lay->entry_first[c * per_cell + n * sp->inputs + i];
      }
      ne->n = sp->inputs;
    }
  }
  int rc = build(p, sp, net, lay, edges, mode, drop_path, aux_weight, e);
  free(edges);
  return rc;
}

void pl_free(pl_plan *p) {
  free(p->drops);
  free(p->steps);
  free(p->specs);
  free(p->bufs);
  free(p->ops);
  free(p->touched);
  memset(p, 0, sizeof *p);
}

size_t pl_arena_bytes(const pl_plan *p, long N, size_t elem) {
  return ((size_t)p->arena_units * (size_t)N + (size_t)p->fixed_elems) * elem;
}

int pl_check_placement(const pl_plan *p, err_t *e) {
  for (int i = 0; i < p->nbufs; i++) {
    const pl_buf *a = &p->bufs[i];
    if (a->first < 0) continue;
    if (a->off % 16) return err_set(e, "buffer %d is not aligned", i);
    for (int j = i + 1; j < p->nbufs; j++) {
      const pl_buf *c = &p->bufs[j];
      if (c->first < 0) continue;
      int live_together = a->first <= c->last && c->first <= a->last;
      int overlap = a->off < c->off + c->units && c->off < a->off + a->units;
      if (live_together && overlap)
        return err_set(e, "buffers %d [%ld, %ld) steps %d..%d and %d [%ld, %ld) steps %d..%d overlap", i, a->off,
                       a->off + a->units, a->first, a->last, j, c->off, c->off + c->units, c->first, c->last);
    }
  }
  return 0;
}

static int add_specs(cg_spec **all, int *n, int *cap, const cg_spec *s, int ns, err_t *e) {
  for (int i = 0; i < ns; i++) {
    int k;
    for (k = 0; k < *n; k++)
      if ((*all)[k].k == s[i].k && memcmp((*all)[k].vals, s[i].vals, sizeof s[i].vals) == 0) break;
    if (k < *n) continue;
    if (*n == *cap) {
      int nc = *cap ? 2 * *cap : 256;
      cg_spec *v = realloc(*all, (size_t)nc * sizeof *v);
      if (!v) return err_set(e, "out of memory");
      *all = v;
      *cap = nc;
    }
    (*all)[(*n)++] = s[i];
  }
  return 0;
}

int pl_space_specs(const sp_space *sp, const sp_net *net, const nw_layout *lay, cg_spec **out, int *nout, err_t *e) {
  cg_spec *all = NULL;
  int n = 0, cap = 0;
  const pl_mode modes[2] = {PL_TRAIN, PL_EVAL};
  for (int m = 0; m < 2; m++) {
    pl_plan p;
    if (pl_build_supernet(&p, sp, net, lay, modes[m], e) != 0) goto fail;
    int rc = add_specs(&all, &n, &cap, p.specs, p.nspecs, e);
    pl_free(&p);
    if (rc) goto fail;
  }
  cg_spec opt[3];
  if (cg_spec_make(&opt[0], e, "sgd", NULL) || cg_spec_make(&opt[1], e, "sumsq", "CHUNK", 4096L, NULL) ||
      cg_spec_make(&opt[2], e, "adam", NULL) || add_specs(&all, &n, &cap, opt, 3, e))
    goto fail;
  *out = all;
  *nout = n;
  return 0;
fail:
  free(all);
  return -1;
}
