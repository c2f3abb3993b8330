/* The planner's inside, shared by its files and by nothing else: a plan is
 * built by lowering the network into ops (pl_net.c), each op into kernel,
 * GEMM and zeroing steps, its forward and its backward (pl_ops.c), through
 * the builder's primitives for buffers, views, steps and gradients
 * (pl_builder.c); then its buffers are placed by liveness (pl_place.c).
 * pl_plan.c drives the build and is the planner's public face. */
#ifndef PARSEC_PL_BUILDER_H
#define PARSEC_PL_BUILDER_H
#include "pl_plan.h"

/* Channels [coff, coff + c) of an arena buffer of c x h x w per sample. */
typedef struct {
  int buf, coff, c, h, w;
} view;

typedef enum {
  OP_GATHER,
  OP_DWCONV,
  OP_CONV,
  OP_GEMM,
  OP_BN,
  OP_AVGPOOL,
  OP_MAXPOOL,
  OP_AXPY,
  OP_GAP,
  OP_LINEAR,
  OP_XENT,
  OP_DROP,
  OP_KINDS
} opkind;

/* One layer call: what it reads (x) and writes (y), and its parameters. */
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
  int failed; /* set with the first error; every later call does nothing */
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

/* ---------- pl_builder.c: buffers, steps, gradients ---------- */

/* Makes room for one more of *ARR's N elements of ELEM bytes; -1 (and the
 * builder failed) when memory ran out. */
int pb_grow(builder *b, void **arr, int n, int *cap, size_t elem);
/* A new arena buffer and a view of all of it. */
int pb_buf(builder *b, int c, int h, int w, int is_grad);
view pb_view(builder *b, int c, int h, int w);
static inline view pb_slice(view v, int coff, int c) {
  v.coff += coff;
  v.c = c;
  return v;
}
/* Elements of the fixed region (BN statistics), 16-aligned. */
long pb_fixed(builder *b, long n);
/* The spec of KERNEL with N constants; on an error the builder fails. */
void pb_spec(builder *b, cg_spec *s, const char *kernel, const cg_const *consts, int n);
/* A kernel step: SPEC with ARGS (pl_arg) in the kernel's order; WEIGHT: the
 * layout tensor whose gradient it writes, or -1. */
void pb_kstep(builder *b, const cg_spec *spec, int weight, int nargs, ...);
/* A GEMM step, row-major C = op(A) op(B) + beta C; dimensions d[0] + d[1] N. */
void pb_gemm(builder *b, int ta, int tb, const long m[2], const long n[2], const long k[2], pl_arg A, const long lda[2],
             pl_arg B, const long ldb[2], pl_arg C, const long ldc[2], float beta, int weight);
void pb_zero(builder *b, view v);
/* The gradient of V for reading: 0 when nothing was written to it (its
 * op's backward is skipped); a partly written one is completed with zeros. */
int pb_grad_read(builder *b, view v, view *g);
/* The gradient of V for writing, *acc: whether to add to what is there; 0
 * when V needs none. */
int pb_grad_write(builder *b, view v, view *g, int *acc);

/* Arguments of steps. */
static inline pl_arg A_view(view v) {
  pl_arg a = {PA_REF, {PR_ARENA, (long)v.coff * v.h * v.w, v.buf}, 0, 0};
  return a;
}
static inline pl_arg A_space(pl_space s, long off) {
  pl_arg a = {PA_REF, {s, off, -1}, 0, 0};
  return a;
}
static inline pl_arg A_tensor(const builder *b, pl_space s, int t) {
  return t < 0 ? A_space(PR_NONE, 0) : A_space(s, (long)b->lay->t[t].offset);
}
static inline pl_arg A_null(void) { return A_space(PR_NONE, 0); }
static inline pl_arg A_ref(pl_ref r) {
  pl_arg a = {PA_REF, r, 0, 0};
  return a;
}
static inline pl_arg A_int(long i) {
  pl_arg a = {PA_INT, {PR_NONE, 0, -1}, i, 0};
  return a;
}
static inline pl_arg A_float(float f) {
  pl_arg a = {PA_FLOAT, {PR_NONE, 0, -1}, 0, f};
  return a;
}
static inline pl_arg A_kind(pl_argkind k) {
  pl_arg a = {k, {PR_NONE, 0, -1}, 0, 0};
  return a;
}

/* ---------- pl_ops.c: each op's forward and backward ---------- */

/* An op of kind K from X to Y, every other field at its neutral value. */
op pb_blank(opkind k, view x, view y);
/* Records O (described by FMT and WHAT) and lowers its forward. */
void pb_emit(builder *b, op *o, const char *fmt, const char *what);
/* Lowers O's backward (training plans, ops in reverse). */
void pb_backward(builder *b, const op *o);

/* ---------- pl_net.c: the network ---------- */

/* The stem, the cells (EDGES: per cell and node), the auxiliary head when
 * there is one, and the classifier with its cross-entropy. */
void pb_lower_network(builder *b, const pl_node_edges *edges);

/* ---------- pl_place.c: placement ---------- */

/* Places the arena buffers by liveness and resolves every reference. */
int pb_place(builder *b);
/* The layout tensors the plan's training steps write gradients to. */
int pb_collect_touched(pl_plan *p, const nw_layout *lay, err_t *e);

#endif
