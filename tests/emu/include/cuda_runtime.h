/* The CUDA runtime calls an exported network.cu makes, for the emulation
 * (../cuda_emu.h): device memory is host memory, a copy is memcpy, and
 * launches run at once, so there is nothing to wait for. */
#ifndef PARSEC_EMU_CUDA_RUNTIME_H
#define PARSEC_EMU_CUDA_RUNTIME_H
#include <cstdlib>
#include <cstring>

typedef enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 } cudaError_t;
typedef enum { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 } cudaMemcpyKind;

static inline cudaError_t cudaMalloc(void **p, size_t n) {
  /* filled with NaN bit patterns: a kernel that reads memory nothing wrote
     gives NaN logits instead of a lucky zero */
  *p = malloc(n ? n : 1);
  if (*p) memset(*p, 0xff, n);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaFree(void *p) {
  free(p);
  return cudaSuccess;
}
static inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k) {
  (void)k;
  memcpy(d, s, n);
  return cudaSuccess;
}
static inline cudaError_t cudaMemset(void *d, int v, size_t n) {
  memset(d, v, n);
  return cudaSuccess;
}
static inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
/* a launch the emulation finds at fault ends the program (cuda_emu.h) */
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
static inline const char *cudaGetErrorString(cudaError_t e) { return e ? "out of memory" : "no error"; }
#endif
