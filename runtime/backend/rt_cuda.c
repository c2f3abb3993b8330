/* The CUDA backend: device memory (plain cuMemAlloc, never managed memory),
 * kernels compiled by NVRTC into cubins (through the kernel cache) and
 * launched with the driver API, GEMMs through cuBLAS.  The driver, NVRTC and
 * cuBLAS are opened at run time, so one binary runs on machines without a
 * GPU, where this backend reports what is missing.
 *
 * Everything goes onto one stream of the backend's own, in order: copies
 * from the page-locked staging and the launches return at once, so the host
 * stages and queues the next work while the GPU runs; a download waits. */
#include "rt_cuda.h"
#include "rt_cuda_driver.h"
#include "io.h"
#include "rt_nccl.h"
#include "rt_nvrtc.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long devptr;

/* cublasOperation_t */
enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };

typedef struct {
  const rt_cuda_driver *drv;
  void *cublas_lib;
  void *handle; /* cublasHandle_t */
  int (*sgemm)(void *, int, int, int, int, int, const float *, const float *, int, const float *, int, const float *,
               float *, int);
  int (*destroy)(void *);
  int (*set_stream)(void *, void *);
  void *ctx, *stream;
  int dev;
  char arch[16];
  char identity[512];
  rt_compiler comp;
  rt_nccl *nccl; /* several ranks: the sums between their GPUs */
  rt_comm *comm;
} cuda;

static const char *cu_err(const rt_cuda_driver *d, int rc) {
  const char *s = NULL;
  if (d->cuGetErrorString) d->cuGetErrorString(rc, &s);
  return s ? s : "unknown CUDA error";
}

/* 0, or -1 with the driver's message when RC is an error */
static int cu_check(const cuda *c, int rc, const char *what, err_t *e) {
  return rc == 0 ? 0 : err_set(e, "%s failed: %s (CUDA error %d)", what, cu_err(c->drv, rc), rc);
}

static void *cu_alloc(rt_backend *b, size_t bytes, err_t *e) {
  cuda *c = b->impl;
  devptr p = 0;
  int rc = c->drv->cuMemAlloc(&p, bytes ? bytes : 16);
  if (rc != 0) {
    size_t fr = 0, tot = 0;
    if (c->drv->cuMemGetInfo) c->drv->cuMemGetInfo(&fr, &tot);
    err_set(e, "cuMemAlloc of %.1f MiB failed: %s (%.1f of %.1f MiB free on the GPU)", (double)bytes / (1 << 20),
            cu_err(c->drv, rc), (double)fr / (1 << 20), (double)tot / (1 << 20));
    return NULL;
  }
  return (void *)(uintptr_t)p;
}

/* queued work may still use P */
static void cu_free(rt_backend *b, void *p) {
  cuda *c = b->impl;
  if (!p) return;
  c->drv->cuStreamSynchronize(c->stream);
  c->drv->cuMemFree((devptr)(uintptr_t)p);
}

static void *cu_host_alloc(rt_backend *b, size_t bytes, err_t *e) {
  cuda *c = b->impl;
  void *p = NULL;
  int rc = c->drv->cuMemHostAlloc(&p, bytes ? bytes : 16, 0);
  if (rc != 0) {
    err_set(e, "cuMemHostAlloc of %.1f MiB (page-locked staging) failed: %s", (double)bytes / (1 << 20),
            cu_err(c->drv, rc));
    return NULL;
  }
  return p;
}

static void cu_host_free(rt_backend *b, void *p) {
  cuda *c = b->impl;
  if (!p) return;
  c->drv->cuStreamSynchronize(c->stream); /* a copy from P may be queued */
  c->drv->cuMemFreeHost(p);
}

/* From page-locked memory the copy is queued; from pageable memory the
   driver has read the source when the call returns. */
static int cu_upload(rt_backend *b, void *dst, const void *src, size_t bytes, err_t *e) {
  cuda *c = b->impl;
  return cu_check(c, c->drv->cuMemcpyHtoDAsync((devptr)(uintptr_t)dst, src, bytes, c->stream), "cuMemcpyHtoDAsync", e);
}

static int cu_fetch(rt_backend *b, void *dst, const void *src, size_t bytes, err_t *e) {
  cuda *c = b->impl;
  return cu_check(c, c->drv->cuMemcpyDtoHAsync(dst, (devptr)(uintptr_t)src, bytes, c->stream), "cuMemcpyDtoHAsync", e);
}

static int cu_download(rt_backend *b, void *dst, const void *src, size_t bytes, err_t *e) {
  cuda *c = b->impl;
  if (cu_fetch(b, dst, src, bytes, e) != 0) return -1;
  return cu_check(c, c->drv->cuStreamSynchronize(c->stream), "cuStreamSynchronize (after a download)", e);
}

static int cu_zero(rt_backend *b, void *dst, size_t bytes, err_t *e) {
  cuda *c = b->impl;
  return cu_check(c, c->drv->cuMemsetD8Async((devptr)(uintptr_t)dst, 0, bytes, c->stream), "cuMemsetD8Async", e);
}

/* thread-local capture: a call from this thread that is unsafe during
   capture (a synchronous copy, an allocation) fails it instead of running */
static int cu_capture_begin(rt_backend *b, err_t *e) {
  cuda *c = b->impl;
  return cu_check(c, c->drv->cuStreamBeginCapture(c->stream, 1 /* CU_STREAM_CAPTURE_MODE_THREAD_LOCAL */),
                  "cuStreamBeginCapture", e);
}

static int cu_capture_end(rt_backend *b, void **out, err_t *e) {
  cuda *c = b->impl;
  void *graph = NULL, *exec = NULL;
  *out = NULL;
  if (cu_check(c, c->drv->cuStreamEndCapture(c->stream, &graph), "cuStreamEndCapture", e) != 0) return -1;
  int rc = c->drv->cuGraphInstantiateWithFlags(&exec, graph, 0);
  c->drv->cuGraphDestroy(graph); /* the instantiated graph stands alone */
  if (rc != 0) return err_set(e, "cuGraphInstantiateWithFlags failed: %s (CUDA error %d)", cu_err(c->drv, rc), rc);
  *out = exec;
  return 0;
}

static int cu_graph_launch(rt_backend *b, void *graph, err_t *e) {
  cuda *c = b->impl;
  return cu_check(c, c->drv->cuGraphLaunch(graph, c->stream), "cuGraphLaunch", e);
}

static void cu_graph_free(rt_backend *b, void *graph) {
  cuda *c = b->impl;
  if (!graph) return;
  c->drv->cuStreamSynchronize(c->stream); /* it may be queued */
  c->drv->cuGraphExecDestroy(graph);
}

static size_t cu_mem_used(rt_backend *b) {
  cuda *c = b->impl;
  size_t fr = 0, tot = 0;
  return c->drv->cuMemGetInfo(&fr, &tot) == 0 && tot >= fr ? tot - fr : 0;
}

static int cu_load(rt_backend *b, const char *path, const char *sym, void **fn, err_t *e) {
  cuda *c = b->impl;
  size_t n;
  char *image = io_read_file(path, "the compiled kernel", (size_t)1 << 30, &n, e);
  if (!image) return -1;
  void *mod = NULL;
  int rc = c->drv->cuModuleLoadData(&mod, image);
  free(image);
  if (rc != 0) return err_set(e, "cuModuleLoadData(%s) failed: %s", path, cu_err(c->drv, rc)); /* a cubin, or PTX */
  rc = c->drv->cuModuleGetFunction(fn, mod, sym);
  if (rc != 0) return err_set(e, "cuModuleGetFunction(%s) in %s failed: %s", sym, path, cu_err(c->drv, rc));
  return 0;
}

static int cu_launch(rt_backend *b, const rt_kernel *k, long N, void **params, err_t *e) {
  cuda *c = b->impl;
  long total = (k->grid.g0n * N + k->grid.g0c) * k->grid.g1;
  if (total <= 0) return 0;
  /* @block kernels: one block per work item (its threads share the item's
     loops and sums); the others: one thread per item */
  unsigned threads = k->grid.block ? CG_BLOCK_THREADS : 256;
  unsigned blocks = (unsigned)(k->grid.block ? total : (total + threads - 1) / threads);
  int rc = c->drv->cuLaunchKernel(k->fn, blocks, 1, 1, threads, 1, 1, 0, c->stream, params, NULL);
  if (rc != 0)
    return err_set(e, "cuLaunchKernel(%s, grid %u x %u threads, N %ld) failed: %s", k->name, blocks, threads, N,
                   cu_err(c->drv, rc));
  return 0;
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T. */
static int cu_gemm(rt_backend *b, int ta, int tb, long m, long n, long k, float alpha, const void *A, long lda,
                   const void *B, long ldb, float beta, void *C, long ldc, err_t *e) {
  cuda *c = b->impl;
  if (m <= 0 || n <= 0) return 0;
  int rc = c->sgemm(c->handle, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m, (int)k,
                    &alpha, B, (int)ldb, A, (int)lda, &beta, C, (int)ldc);
  if (rc != 0)
    return err_set(e, "cublasSgemm(m %ld, n %ld, k %ld, transposes %d/%d) failed with status %d", m, n, k, ta, tb, rc);
  return 0;
}

static int cu_sync(rt_backend *b, err_t *e) {
  cuda *c = b->impl;
  return cu_check(c, c->drv->cuStreamSynchronize(c->stream), "cuStreamSynchronize", e);
}

/* Several ranks: the sum is queued behind this rank's work on its stream;
   waiting before and after it makes the time counted the exchange's alone
   (the step waits for its gradients' norm right after anyway). */
static int cu_sum_f32(rt_backend *b, void *p, size_t n, err_t *e) {
  cuda *c = b->impl;
  if (cu_sync(b, e) != 0) return -1;
  double t0 = rt_comm_clock();
  int rc = rt_nccl_sum_f32(c->nccl, p, n, c->stream, e) || cu_sync(b, e) || rt_nccl_check(c->nccl, e);
  c->comm->secs += rt_comm_clock() - t0;
  return rc ? -1 : 0;
}

/* NCCL when every rank has it; otherwise the sums stay on MPI, and say why */
static int cu_join(rt_backend *b, rt_comm *comm, err_t *e) {
  cuda *c = b->impl;
  char why[300] = "";
  if (c->drv->cuCtxSetCurrent(c->ctx) != 0) return err_set(e, "cuCtxSetCurrent failed before NCCL's set-up");
  if (rt_nccl_open(&c->nccl, comm, why, sizeof why, e) != 0) return -1;
  if (!c->nccl) {
    snprintf(b->sums, sizeof b->sums, "MPI, through host memory (no NCCL: %.100s)", why);
    return 0;
  }
  c->comm = comm;
  b->sum_f32 = cu_sum_f32;
  int v = rt_nccl_version(c->nccl);
  snprintf(b->sums, sizeof b->sums, "NCCL %d.%d.%d, on the GPUs", v / 10000, v / 100 % 100, v % 100);
  return 0;
}

static void cu_destroy(rt_backend *b) {
  cuda *c = b->impl;
  if (c->stream) c->drv->cuStreamSynchronize(c->stream);
  rt_nccl_close(c->nccl);
  if (c->handle && c->destroy) c->destroy(c->handle);
  if (c->stream) c->drv->cuStreamDestroy(c->stream);
  if (c->ctx && c->drv->cuDevicePrimaryCtxRelease) c->drv->cuDevicePrimaryCtxRelease(c->dev);
  free(c);
}

static int open_cublas(cuda *c, err_t *e) {
  if (c->drv->cublasSgemm) { /* supplied with the driver table (a test double) */
    c->sgemm = c->drv->cublasSgemm;
    c->destroy = c->drv->cublasDestroy;
    c->set_stream = c->drv->cublasSetStream;
    if (c->drv->cublasCreate(&c->handle) != 0) return err_set(e, "cublasCreate failed");
    return c->set_stream(c->handle, c->stream) == 0 ? 0 : err_set(e, "cublasSetStream failed");
  }
  const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so", "/usr/local/cuda/lib64/libcublas.so"};
  for (size_t i = 0; i < sizeof names / sizeof names[0] && !c->cublas_lib; i++)
    c->cublas_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!c->cublas_lib) return err_set(e, "cuBLAS not found (libcublas.so): install the CUDA toolkit's cuBLAS");
  int (*create)(void **) = (int (*)(void **))dlsym(c->cublas_lib, "cublasCreate_v2");
  c->sgemm = (int (*)(void *, int, int, int, int, int, const float *, const float *, int, const float *, int,
                      const float *, float *, int))dlsym(c->cublas_lib, "cublasSgemm_v2");
  c->destroy = (int (*)(void *))dlsym(c->cublas_lib, "cublasDestroy_v2");
  c->set_stream = (int (*)(void *, void *))dlsym(c->cublas_lib, "cublasSetStream_v2");
  if (!create || !c->sgemm || !c->destroy || !c->set_stream)
    return err_set(e, "libcublas.so lacks cublasCreate_v2/cublasSgemm_v2/cublasSetStream_v2");
  int rc = create(&c->handle);
  if (rc != 0) return err_set(e, "cublasCreate failed with status %d", rc);
  if ((rc = c->set_stream(c->handle, c->stream)) != 0) return err_set(e, "cublasSetStream failed with status %d", rc);
  return 0;
}

int rt_cuda_open(rt_backend **out, int device_index, err_t *e) {
  const rt_cuda_driver *drv = rt_cuda_driver_get(e);
  if (!drv) return -1;
  int count = 0, rc = drv->cuInit(0);
  if (rc != 0) return err_set(e, "cuInit failed: %s (is the NVIDIA driver loaded?)", cu_err(drv, rc));
  if ((rc = drv->cuDeviceGetCount(&count)) != 0 || count == 0)
    return err_set(e, "the CUDA driver sees no GPU%s", rc ? " (cuDeviceGetCount failed)" : "");
  if (device_index >= count) return err_set(e, "GPU %d requested, the driver sees %d", device_index, count);
  rt_backend *b = calloc(1, sizeof *b);
  cuda *c = calloc(1, sizeof *c);
  if (!b || !c) {
    free(b);
    free(c);
    return err_set(e, "out of memory");
  }
  b->impl = c;
  c->drv = drv;
  b->name = "cuda";
  b->target = CG_TARGET_CUDA;
  b->prec = CG_F32;
  b->elem = 4;
  b->alloc = cu_alloc;
  b->free = cu_free;
  b->host_alloc = cu_host_alloc;
  b->host_free = cu_host_free;
  b->mem_used = cu_mem_used;
  b->capture_begin = cu_capture_begin;
  b->capture_end = cu_capture_end;
  b->graph_launch = cu_graph_launch;
  b->graph_free = cu_graph_free;
  b->upload = cu_upload;
  b->download = cu_download;
  b->fetch = cu_fetch;
  b->zero = cu_zero;
  b->load = cu_load;
  b->launch = cu_launch;
  b->gemm = cu_gemm;
  b->sync = cu_sync;
  b->destroy = cu_destroy;
  b->join = cu_join;
  int major = 0, minor = 0;
  char name[128] = "GPU";
  if ((rc = drv->cuDeviceGet(&c->dev, device_index)) != 0 ||
      (rc = drv->cuDeviceGetAttribute(&major, 75 /* COMPUTE_CAPABILITY_MAJOR */, c->dev)) != 0 ||
      (rc = drv->cuDeviceGetAttribute(&minor, 76 /* COMPUTE_CAPABILITY_MINOR */, c->dev)) != 0) {
    err_set(e, "cannot query GPU %d: %s", device_index, cu_err(drv, rc));
    goto fail;
  }
  drv->cuDeviceGetName(name, sizeof name, c->dev);
  if ((rc = drv->cuDevicePrimaryCtxRetain(&c->ctx, c->dev)) != 0 || (rc = drv->cuCtxSetCurrent(c->ctx)) != 0) {
    err_set(e, "cannot create a CUDA context on %s: %s", name, cu_err(drv, rc));
    goto fail;
  }
  if ((rc = drv->cuStreamCreate(&c->stream, 1 /* CU_STREAM_NON_BLOCKING */)) != 0) {
    err_set(e, "cuStreamCreate on %s failed: %s", name, cu_err(drv, rc));
    goto fail;
  }
  snprintf(c->arch, sizeof c->arch, "sm_%d%d", major, minor);
  size_t fr = 0, tot = 0;
  if (drv->cuMemGetInfo) drv->cuMemGetInfo(&fr, &tot);
  snprintf(b->device, sizeof b->device, "%s (%s, %.0f GiB)", name, c->arch, (double)tot / (1 << 30));
  if (open_cublas(c, e) != 0) goto fail;
  if (rt_nvrtc_compiler(&c->comp, c->arch, c->identity, sizeof c->identity, e) != 0) goto fail;
  if (rt_cache_open(&b->cache, &c->comp, e) != 0) goto fail;
  *out = b;
  return 0;
fail:
  rt_backend_close(b);
  return -1;
}
