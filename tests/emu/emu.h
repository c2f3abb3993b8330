/* The test side of the CUDA emulation (cuda_emu.h): specs' CUDA rendering,
 * unchanged, compiled by the host C++ compiler into a shared object and
 * launched on an explicit grid, its blocks' threads run as fibers. */
#ifndef PARSEC_TESTS_EMU_H
#define PARSEC_TESTS_EMU_H
#include "cg_kernel.h"
#include "err.h"

/* A launch: GX blocks of BX threads, PARAMS as CUDA's kernelParams (&N
   first).  Returns the number of errors the emulation detected. */
typedef long (*emu_entry)(unsigned gx, unsigned bx, void **params);

typedef struct {
  void *so;
  int n;
  emu_entry *fn;              /* one per spec */
  const char *(*error)(void); /* the first error of the last launch */
} emu_mod;

/* Compiles SPECS in PREC.  FROM, when given, must occur in the rendered
   source and its first occurrence is replaced by TO: a mutation. */
int emu_build(emu_mod *m, const cg_spec *specs, int n, cg_prec prec, const char *from, const char *to, err_t *e);
void emu_free(emu_mod *m);

/* The launch the CUDA backend makes for SPEC on N (rt_cuda.c): a block of
   CG_BLOCK_THREADS per work item for @block kernels, else 256 threads per
   block over the items. */
void emu_dims(const cg_grid *g, long N, unsigned *gx, unsigned *bx);

/* SPEC run on N with PARAMS, compiled once per process (kept by symbol). */
int emu_run(const cg_spec *spec, cg_prec prec, long N, void **params, err_t *e);

#endif
