/* The plan of one child network: its layer calls in order (kernel launches
 * and GEMMs), forward and, for training, backward, with every activation and
 * activation gradient placed in one arena by liveness.
 *
 * Layout: activations are CNHW (a channel's N planes are contiguous), so a
 * view of channels [c0, c0 + c) of a buffer is one contiguous block and a 1x1
 * convolution over the whole batch is one GEMM.  An arena buffer of u units
 * per sample takes N*u elements for a batch of N, at element offset N*off:
 * the plan is laid out once per unit and holds for every batch size up to
 * the one the arena was sized for.  Small per-layer buffers (BN statistics)
 * live in a fixed region after the scaled one. */
#ifndef PARSEC_PL_PLAN_H
#define PARSEC_PL_PLAN_H
#include "cg_kernel.h"
#include "gt_genotype.h"
#include "nw_layout.h"

typedef enum {
  PL_TRAIN,    /* forward with batch statistics (updating the running ones) and backward */
  PL_FORWARD,  /* forward with batch statistics, no update (the search-split log-likelihoods) */
  PL_EVAL,     /* forward with running statistics (the mode's accuracy) */
} pl_mode;

/* Where a pointer argument points. */
typedef enum {
  PR_NONE,   /* NULL */
  PR_ARENA,  /* base + N * off (scaled region) */
  PR_FIXED,  /* base + fixed_at(N) + off (fixed region) */
  PR_PARAM,  /* parameter block + off */
  PR_GRAD,   /* gradient block + off */
  PR_STAT,   /* BN running statistics + off */
} pl_space;

typedef struct {
  pl_space space;
  long off; /* elements (arena: units per sample; resolved after placement) */
  int buf;  /* arena buffer before placement, else -1 */
} pl_ref;

/* Run-time scalars filled in at execution. */
typedef enum { PA_REF, PA_INT, PA_LONG, PA_FLOAT, PA_LOSS_SCALE, PA_BN_MOMENTUM } pl_argkind;

typedef struct {
  pl_argkind kind;
  pl_ref ref;
  long i;
  float f;
} pl_arg;

typedef enum { PS_KERNEL, PS_GEMM, PS_ZERO } pl_stepkind;

/* A dimension that may scale with the batch: d[0] + d[1] * N. */
typedef long pl_dim[2];

typedef struct {
  pl_stepkind kind;
  int spec; /* kernel: index into plan->specs */
  int nargs;
  pl_arg args[CG_MAXARGS];
  /* GEMM, row-major: C = alpha * op(A) op(B) + beta * C */
  int ta, tb;
  pl_dim m, n, k, lda, ldb, ldc;
  pl_ref a, b, c;
  float alpha, beta;
  /* ZERO: `count` elements at `a` */
  pl_dim count;
  int weight; /* layout tensor whose gradient this step writes, or -1 */
  int op;     /* index of the op it belongs to (for messages) */
  int bufs[8], nbufs; /* arena buffers read or written (liveness) */
} pl_step;

typedef struct {
  long units; /* elements per sample */
  int first, last;
  long off; /* placement, units per sample */
  int is_grad;
} pl_buf;

typedef struct {
  char what[96];
} pl_opinfo;

typedef struct {
  pl_mode mode;
  unsigned long serial; /* unique within the process: a plan's identity, whatever its address */
  int nsteps, capsteps;
  pl_step *steps;
  int nspecs, capspecs;
  cg_spec *specs;
  int nbufs, capbufs;
  pl_buf *bufs;
  int nops, capops;
  pl_opinfo *ops;
  long arena_units;  /* scaled region, elements per sample */
  long fixed_elems;  /* fixed region */
  long peak_units;   /* most units live at once (a lower bound on arena_units) */
  /* inputs and outputs (PR_ARENA refs) */
  pl_ref images;   /* [Cin, N, H, W] */
  pl_ref labels;   /* int[N] */
  pl_ref loglik;   /* [N] per-sample log-likelihood */
  pl_ref correct;  /* int[N] */
  pl_ref logits;   /* [K, N] */
  int in_c, in_h, in_w, classes;
  /* the auxiliary head's outputs (training plans of networks with one) */
  int has_aux;
  pl_ref aux_loglik, aux_correct;
  /* drop path: one per-sample scale vector [N] per dropped op, filled by the
     caller before each run (0 or 1/keep) */
  int ndrops;
  pl_ref *drops;
  /* parameter tensors that receive a gradient (training plans) */
  int *touched;
  int ntouched;
} pl_plan;

/* The edges of one node: (predecessor, primitive, multiplicity, first
 * tensor in the layout); a child has `inputs` choices per node, the supernet
 * every edge. */
typedef struct {
  int n;
  int pred[64], prim[64], mult[64], first[64];
} pl_node_edges;

/* A child of the search network. */
int pl_build_child(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                   pl_mode mode, err_t *e);
/* The same with the auxiliary head's loss weight, for networks with one (a
 * transfer search): its loss enters the weight gradients of training plans. */
int pl_build_child_aux(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                       pl_mode mode, float aux_weight, err_t *e);
/* The DARTS supernet on the same network (every edge of every node): for
 * measuring its activation memory, never run. */
int pl_build_supernet(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, pl_mode mode,
                      err_t *e);
/* The evaluation network of genotype G (LAY from nw_eval_layout): affine
 * BNs, no BN after pools, the auxiliary head in training plans when the
 * network has one, and DROP_PATH: drop-path masks on every op but identity. */
int pl_build_eval(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                  pl_mode mode, int drop_path, float aux_weight, err_t *e);
void pl_free(pl_plan *p);

/* Every kernel spec that a network of the space can need (training and
 * inference, every edge, the optimizers): what `parsecgen -o` renders and
 * `--precompile` compiles.  *out is malloc'd. */
int pl_space_specs(const sp_space *sp, const sp_net *net, const nw_layout *lay, cg_spec **out, int *nout, err_t *e);

/* Bytes of the arena for a batch of N (scaled and fixed regions). */
size_t pl_arena_bytes(const pl_plan *p, long N, size_t elem);

/* Checks the placement: no two buffers that are alive at the same step overlap. */
int pl_check_placement(const pl_plan *p, err_t *e);

#endif
