/* The CUDA driver API as a table of functions, opened from libcuda.so.1 at
 * run time.  A test may install a double of the table to exercise the CUDA
 * backend's host side without a GPU. */
#ifndef PARSEC_RT_CUDA_DRIVER_H
#define PARSEC_RT_CUDA_DRIVER_H
#include "err.h"
#include <stddef.h>

typedef struct {
  int (*cuInit)(unsigned flags);
  int (*cuDeviceGetCount)(int *n);
  int (*cuDeviceGet)(int *dev, int ordinal);
  int (*cuDeviceGetName)(char *name, int len, int dev);
  int (*cuDeviceGetAttribute)(int *v, int attr, int dev);
  int (*cuDevicePrimaryCtxRetain)(void **ctx, int dev);
  int (*cuDevicePrimaryCtxRelease)(int dev);
  int (*cuCtxSetCurrent)(void *ctx);
  int (*cuMemAlloc)(unsigned long long *p, size_t bytes);
  int (*cuMemFree)(unsigned long long p);
  int (*cuMemGetInfo)(size_t *free_bytes, size_t *total);
  int (*cuModuleLoadData)(void **mod, const void *image);
  int (*cuModuleGetFunction)(void **fn, void *mod, const char *name);
  int (*cuLaunchKernel)(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void *stream, void **params, void **extra);
  int (*cuGetErrorString)(int err, const char **s);
  int (*cuStreamCreate)(void **stream, unsigned flags);
  int (*cuStreamDestroy)(void *stream);
  int (*cuStreamSynchronize)(void *stream);
  int (*cuMemHostAlloc)(void **p, size_t bytes, unsigned flags);
  int (*cuMemFreeHost)(void *p);
  int (*cuMemcpyHtoDAsync)(unsigned long long dst, const void *src, size_t bytes, void *stream);
  int (*cuMemcpyDtoHAsync)(void *dst, unsigned long long src, size_t bytes, void *stream);
  int (*cuMemsetD8Async)(unsigned long long dst, unsigned char v, size_t bytes, void *stream);
  int (*cuStreamBeginCapture)(void *stream, int mode);
  int (*cuStreamEndCapture)(void *stream, void **graph);
  int (*cuGraphInstantiateWithFlags)(void **exec, void *graph, unsigned long long flags);
  int (*cuGraphLaunch)(void *exec, void *stream);
  int (*cuGraphExecDestroy)(void *exec);
  int (*cuGraphDestroy)(void *graph);
  /* cuBLAS: left NULL, the backend opens libcublas; a double may supply them */
  int (*cublasCreate)(void **handle);
  int (*cublasSgemm)(void *handle, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
                     const float *B, int ldb, const float *beta, float *C, int ldc);
  int (*cublasDestroy)(void *handle);
  int (*cublasSetStream)(void *handle, void *stream);
} rt_cuda_driver;

/* libcuda.so.1's table (opened once), or the installed double; NULL with a
 * message naming what is missing. */
const rt_cuda_driver *rt_cuda_driver_get(err_t *e);
void rt_cuda_driver_set(const rt_cuda_driver *d);

#endif
