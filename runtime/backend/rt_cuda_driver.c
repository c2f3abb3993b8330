/* Opening the CUDA driver API (libcuda.so.1) at run time. */
#include "rt_cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static rt_cuda_driver real;
static const rt_cuda_driver *installed;
static char why[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define SYM(field, name)                                  \
  do {                                                    \
    *(void **)&real.field = dlsym(h, name);               \
    if (!real.field) {                                    \
      snprintf(why, sizeof why, "libcuda.so.1 lacks %s (driver too old?)", name); \
      return;                                             \
    }                                                     \
  } while (0)

static void open_driver(void) {
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(why, sizeof why, "no CUDA driver (libcuda.so.1 not found: no NVIDIA GPU driver on this machine)");
    return;
  }
  SYM(cuInit, "cuInit");
  SYM(cuDeviceGetCount, "cuDeviceGetCount");
  SYM(cuDeviceGet, "cuDeviceGet");
  SYM(cuDeviceGetName, "cuDeviceGetName");
  SYM(cuDeviceGetAttribute, "cuDeviceGetAttribute");
  SYM(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  SYM(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  SYM(cuCtxSetCurrent, "cuCtxSetCurrent");
  SYM(cuMemAlloc, "cuMemAlloc_v2");
  SYM(cuMemFree, "cuMemFree_v2");
  SYM(cuMemGetInfo, "cuMemGetInfo_v2");
  SYM(cuModuleLoadData, "cuModuleLoadData");
  SYM(cuModuleGetFunction, "cuModuleGetFunction");
  SYM(cuLaunchKernel, "cuLaunchKernel");
  SYM(cuGetErrorString, "cuGetErrorString");
  SYM(cuStreamCreate, "cuStreamCreate");
  SYM(cuStreamDestroy, "cuStreamDestroy_v2");
  SYM(cuStreamSynchronize, "cuStreamSynchronize");
  SYM(cuMemHostAlloc, "cuMemHostAlloc");
  SYM(cuMemFreeHost, "cuMemFreeHost");
  SYM(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  SYM(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  SYM(cuMemsetD8Async, "cuMemsetD8Async");
  SYM(cuStreamBeginCapture, "cuStreamBeginCapture_v2");
  SYM(cuStreamEndCapture, "cuStreamEndCapture");
  SYM(cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
  SYM(cuGraphLaunch, "cuGraphLaunch");
  SYM(cuGraphExecDestroy, "cuGraphExecDestroy");
  SYM(cuGraphDestroy, "cuGraphDestroy");
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
