/* NVRTC opened at run time (see rt_nvrtc.c). */
#ifndef PARSEC_RT_NVRTC_H
#define PARSEC_RT_NVRTC_H
#include "err.h"
#include "rt_cache.h"
#include <stddef.h>

typedef struct {
  char *cubin;
  size_t cubin_size;
  char *log; /* with verbose: ptxas's registers and spills per kernel */
} rt_nvrtc_out;

int rt_nvrtc_available(char *why, size_t cap);
int rt_nvrtc_version(int *major, int *minor);
/* SRC for ARCH: "sm_90" gives a cubin, "compute_90" PTX (in `cubin`);
 * VERBOSE asks ptxas for its per-kernel report. */
int rt_nvrtc_compile(const char *src, const char *arch, int verbose, rt_nvrtc_out *out, err_t *e);
void rt_nvrtc_out_free(rt_nvrtc_out *o);
/* The fixed options, for cache keys. */
const char *rt_nvrtc_options(void);
/* Whether NVRTC can compile for ARCH ("sm_90", "compute_90"); a message
 * listing the architectures it knows when not. */
int rt_nvrtc_check_arch(const char *arch, err_t *e);
/* The kernel cache's compiler for ARCH (which must outlive it); IDENTITY
 * receives NVRTC's version, the options and the architecture. */
int rt_nvrtc_compiler(rt_compiler *c, const char *arch, char *identity, size_t cap, err_t *e);

#endif
