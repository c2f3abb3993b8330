/* Loading kernels: spec -> loaded kernel, once per process.  The misses of a
 * request are rendered, compiled together through the on-disk cache (in
 * parallel) and loaded by the backend.  The one path every kernel takes,
 * for a run and for `parsecgen --precompile`. */
#ifndef PARSEC_RT_KERNELS_H
#define PARSEC_RT_KERNELS_H
#include "rt_backend.h"
#include "rt_cache.h"

/* Kernels for SPECS, rendered for the backend's target and precision,
 * compiled through its cache and loaded; out[i] stays valid until the
 * backend is closed. */
int rt_kernels_get(rt_backend *b, const cg_spec *specs, int n, const rt_kernel **out, err_t *e);
/* Kernel requests, compiles, disk loads and compile seconds so far. */
rt_cache_stats rt_kernel_stats(rt_backend *b);
void rt_kmap_free(rt_kmap *m);

/* What `parsecgen --precompile` did. */
typedef struct {
  rt_cache_stats stats; /* misses: compiled now; disk_hits: there already */
  char dir[4096];       /* the cache directory */
} rt_precompiled;

/* Compiles SPECS into the kernel cache ahead of a run, as a backend of
 * TARGET ("cpu", or "cuda" for the GPU architecture ARCH, "sm_90") would:
 * the same rendering and cache as rt_kernels_get, without a device. */
int rt_kernels_precompile(const char *target, const char *arch, const cg_spec *specs, int n, rt_precompiled *info,
                          err_t *e);

#endif
