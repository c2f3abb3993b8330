/* Opening the CUDA driver API (libcuda.so.1) at run time. */
#include "rt_cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static rt_cuda_driver real;
static const rt_cuda_driver *installed;
static char why[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_driver(void) {
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(why, sizeof why, "no CUDA driver (libcuda.so.1 not found: no NVIDIA GPU driver on this machine)");
    return;
  }
  const struct {
    void **slot;
    const char *name;
  } syms[] = {
      {(void **)&real.cuInit, "cuInit"},
      {(void **)&real.cuDeviceGetCount, "cuDeviceGetCount"},
      {(void **)&real.cuDeviceGet, "cuDeviceGet"},
      {(void **)&real.cuDeviceGetName, "cuDeviceGetName"},
      {(void **)&real.cuDeviceGetAttribute, "cuDeviceGetAttribute"},
      {(void **)&real.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
      {(void **)&real.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
      {(void **)&real.cuCtxSetCurrent, "cuCtxSetCurrent"},
      {(void **)&real.cuMemAlloc, "cuMemAlloc_v2"},
      {(void **)&real.cuMemFree, "cuMemFree_v2"},
      {(void **)&real.cuMemGetInfo, "cuMemGetInfo_v2"},
      {(void **)&real.cuModuleLoadData, "cuModuleLoadData"},
      {(void **)&real.cuModuleGetFunction, "cuModuleGetFunction"},
      {(void **)&real.cuLaunchKernel, "cuLaunchKernel"},
      {(void **)&real.cuGetErrorString, "cuGetErrorString"},
      {(void **)&real.cuStreamCreate, "cuStreamCreate"},
      {(void **)&real.cuStreamDestroy, "cuStreamDestroy_v2"},
      {(void **)&real.cuStreamSynchronize, "cuStreamSynchronize"},
      {(void **)&real.cuMemHostAlloc, "cuMemHostAlloc"},
      {(void **)&real.cuMemFreeHost, "cuMemFreeHost"},
      {(void **)&real.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"},
      {(void **)&real.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"},
      {(void **)&real.cuMemsetD8Async, "cuMemsetD8Async"},
      {(void **)&real.cuStreamBeginCapture, "cuStreamBeginCapture_v2"},
      {(void **)&real.cuStreamEndCapture, "cuStreamEndCapture"},
      {(void **)&real.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags"},
      {(void **)&real.cuGraphLaunch, "cuGraphLaunch"},
      {(void **)&real.cuGraphExecDestroy, "cuGraphExecDestroy"},
      {(void **)&real.cuGraphDestroy, "cuGraphDestroy"},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
    if (!(*syms[i].slot = dlsym(h, syms[i].name))) {
      snprintf(why, sizeof why, "libcuda.so.1 lacks %s (driver too old?)", syms[i].name);
      return;
    }
  installed = &real;
}

const rt_cuda_driver *rt_cuda_driver_get(err_t *e) {
  if (installed) return installed;
  pthread_once(&once, open_driver);
  if (!installed) err_set(e, "%s", why);
  return installed;
}

void rt_cuda_driver_set(const rt_cuda_driver *d) {
  pthread_once(&once, open_driver);
  installed = d;
}
