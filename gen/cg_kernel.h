/* Kernel templates and their rendering.
 *
 * A template (templates/NAME.k, embedded in the binaries) holds kernels in a
 * small format:
 *
 *   @kernel dwconv_fwd                    name
 *   @const C H W KH ...                   compile-time constants the caller gives
 *   @let OH = (H + 2*PH - KH) / SH + 1    derived constants
 *   @args real *y, const real *x, int acc run-time arguments (after the size N)
 *   @grid C*N, OH*OW[, WORK]              work items: outer (may use N) x inner,
 *                                         and the values one item touches
 *   @block                                (optional) on CUDA, one block per item
 *   { body }                              plain C, valid as CUDA too, using g0, g1
 *
 * Work items are independent (no item reads what another writes), so the C
 * target may vectorise the inner grid loop.  Bodies may use the helpers every
 * target defines: real, acc_t (double), SQRT_ACC/EXP_ACC/LOG_ACC, INFINITY, imin, imax,
 * ceil_div, floor_div, and SIMD / SIMD_SUM(v) / SIMD_SUM2(a, b) before a loop
 * that may be vectorised (with a sum reduction).  The CUDA target turns SIMD
 * into a 4-way unroll: fully unrolled, these long constant-trip loops would
 * pull a work item's local arrays into registers and spill.
 *
 * A spec (a kernel plus values for its constants) is rendered for a target by
 * one table of what differs between targets (cg_render.c): the C target turns
 * the grid into loops parallelised with OpenMP; the CUDA target into one
 * thread per work item of an `extern "C" __global__` kernel.  Every kernel
 * takes the run-time size N first; its other arguments follow @args.
 *
 * A kernel whose items are long reductions (a channel's statistics over the
 * batch) says @block: on CUDA each item is then a block of CG_BLOCK_THREADS
 * threads, which split its loops written `for (long i = LANE; i < n; i +=
 * LANES)`, sum a value over the block with BLOCK_SUM(v) / BLOCK_SUM2(a, b)
 * (every thread gets the total), and write what must be written once under
 * `if (LANE == 0)`.  On the C target LANE is 0, LANES 1 and the sums are
 * empty, so the same body is the plain loop; any kernel may use them.
 *
 *   @gpu NAME                             (optional) the CUDA target runs
 *                                         kernel NAME in this one's place
 *
 * A kernel shaped for a CPU (a whole plane per work item, with local copies
 * that make its loops contiguous) leaves a GPU nearly idle: C x N threads
 * with kilobytes of local arrays each.  Such a kernel names a GPU form, a
 * second kernel with the same constants and arguments and the same results,
 * decomposed for a GPU (an output pixel per thread, a block per reduction).
 * Both forms are rendered for both targets and tested on the CPU; which one
 * runs is the target's choice (cg_spec_on), made wherever a spec is
 * rendered, named or launched. */
#ifndef PARSEC_CG_KERNEL_H
#define PARSEC_CG_KERNEL_H
#include "cg_expr.h"
#include "err.h"
#include <stddef.h>

#define CG_MAXCONST 20
#define CG_MAXLET 8
#define CG_MAXARGS 12
#define CG_IDLEN 24

typedef enum { CG_ARG_PTR, CG_ARG_INT, CG_ARG_LONG, CG_ARG_FLOAT } cg_argkind;

typedef struct cg_kernel {
  char name[CG_IDLEN * 2];
  const char *file; /* template file, e.g. "templates/dwconv.k" */
  int line;         /* line of @kernel in that file */
  int nconst;
  char consts[CG_MAXCONST][CG_IDLEN];
  int nlet;
  char lets[CG_MAXLET][CG_IDLEN];
  char *let_expr[CG_MAXLET];
  int nargs;
  char arg_type[CG_MAXARGS][32]; /* e.g. "const real *" */
  char arg_name[CG_MAXARGS][CG_IDLEN];
  cg_argkind arg_kind[CG_MAXARGS];
  char *grid0, *grid1;
  /* values each work item touches (default 1): the C rendering runs the grid
     on one thread when grid x work is too small to pay for waking the others */
  char *work;
  int block; /* @block: one CUDA block per work item */
  /* @gpu NAME: the kernel the CUDA target runs in this one's place (same
     constants and arguments, a decomposition shaped for a GPU) */
  const struct cg_kernel *gpu;
  char gpu_name[CG_IDLEN * 2];
  char *body;
  int body_line;
} cg_kernel;

/* The kernels of all embedded templates, parsed once. */
int cg_kernels_load(err_t *e);
const cg_kernel *cg_kernel_find(const char *name);
int cg_kernel_count(void);
const cg_kernel *cg_kernel_at(int i);

/* A kernel with values for its constants, in the kernel's @const order. */
typedef struct {
  const cg_kernel *k;
  long vals[CG_MAXCONST];
} cg_spec;

/* A value for one of a kernel's constants. */
typedef struct {
  const char *name;
  long value;
} cg_const;

/* Builds a spec of KERNEL from N name/value pairs, in any order; every
 * constant must be given exactly once:
 *   cg_spec_make(&s, "bias_fwd", CG_CONSTS({"K", 10}), e)
 * (a kernel without constants: NULL, 0). */
int cg_spec_make(cg_spec *s, const char *kernel, const cg_const *consts, int n, err_t *e);
/* The array and its length, for cg_spec_make. */
#define CG_CONSTS(...) \
  (const cg_const[]){__VA_ARGS__}, (int)(sizeof((const cg_const[]){__VA_ARGS__}) / sizeof(cg_const))
/* "dwconv_fwd:C=16,H=28,..." : identifies the spec across processes. */
void cg_spec_key(const cg_spec *s, char *buf, size_t cap);
/* The constants and the derived ones. */
int cg_spec_vars(const cg_spec *s, cg_vars *v, err_t *e);
/* Launch size: outer = g0n * N + g0c work items, inner = g1; block: one
 * CUDA block of CG_BLOCK_THREADS per work item, else one thread. */
typedef struct {
  long g0n, g0c, g1;
  int block;
} cg_grid;
#define CG_BLOCK_THREADS 256
int cg_spec_grid(const cg_spec *s, cg_grid *g, err_t *e);

typedef enum { CG_TARGET_C, CG_TARGET_CUDA } cg_target;
typedef enum { CG_F32, CG_F64 } cg_prec;

/* S as TARGET runs it: on CUDA, the @gpu form of its kernel where it names
 * one; otherwise S itself. */
cg_spec cg_spec_on(const cg_spec *s, cg_target t);

/* The symbol a rendered spec is exported as: name_<16 hex digits of its key>. */
void cg_symbol(const cg_spec *s, cg_prec prec, char *buf, size_t cap);
/* The shared part of every rendered file (types, math, helpers). */
const char *cg_prelude(cg_target t, cg_prec prec);
/* A whole translation unit: the prelude and N kernels. */
char *cg_render(const cg_spec *specs, int n, cg_target t, cg_prec prec, err_t *e);
/* Version of the generator, part of every cache key. */
extern const char cg_generator_version[];

#endif
