/* The backend interface: a struct of function pointers, chosen once at
 * start-up, so the search and training code never asks which device it runs
 * on.  A backend owns device memory, loads compiled kernels and launches
 * them, and runs GEMMs (OpenBLAS on the CPU, cuBLAS on the GPU).  Each
 * backend declares its own open (rt_cpu.h, rt_cuda.h); rt_device.h picks one
 * from --device. */
#ifndef PARSEC_RT_BACKEND_H
#define PARSEC_RT_BACKEND_H
#include "cg_kernel.h"
#include "rt_comm.h"

typedef struct {
  void *fn;     /* CPU: void (*)(void **params); CUDA: CUfunction */
  cg_grid grid; /* work items: (g0n * N + g0c) x g1 */
  char name[96];
} rt_kernel;

typedef struct rt_cache rt_cache; /* rt_cache.h */
typedef struct rt_kmap rt_kmap;   /* rt_kernels.h */
typedef struct rt_backend rt_backend;

struct rt_backend {
  const char *name; /* "cpu", "cuda" */
  char device[160]; /* what it runs on, for logs */
  cg_target target;
  cg_prec prec;
  size_t elem; /* bytes per element: 4 (float) or 8 (double) */
  void *(*alloc)(rt_backend *b, size_t bytes, err_t *e);
  void (*free)(rt_backend *b, void *p);
  /* Host memory the backend copies from fastest (page-locked on CUDA): the
     staging of batches.  An upload from it may still be in flight when
     upload returns, so the host rewrites it only after a later download or
     sync, which wait for everything queued before them. */
  void *(*host_alloc)(rt_backend *b, size_t bytes, err_t *e);
  void (*host_free)(rt_backend *b, void *p);
  /* Work is queued in order; upload, zero, launch, gemm and fetch may
     return before it is done, download returns with the data there. */
  int (*upload)(rt_backend *b, void *dst, const void *src, size_t bytes, err_t *e);
  int (*download)(rt_backend *b, void *dst, const void *src, size_t bytes, err_t *e);
  /* a download queued behind the work before it, into host_alloc memory:
     the data is there after the next sync */
  int (*fetch)(rt_backend *b, void *dst, const void *src, size_t bytes, err_t *e);
  int (*zero)(rt_backend *b, void *dst, size_t bytes, err_t *e);
  /* loads symbol SYM from the compiled file PATH */
  int (*load)(rt_backend *b, const char *path, const char *sym, void **fn, err_t *e);
  /* params[0] points to N; params[1..] to the kernel's arguments */
  int (*launch)(rt_backend *b, const rt_kernel *k, long N, void **params, err_t *e);
  /* row-major C = alpha op(A) op(B) + beta C */
  int (*gemm)(rt_backend *b, int ta, int tb, long m, long n, long k, float alpha, const void *A, long lda,
              const void *B, long ldb, float beta, void *C, long ldc, err_t *e);
  int (*sync)(rt_backend *b, err_t *e);
  /* device memory in use (all processes), 0 where the backend cannot say */
  size_t (*mem_used)(rt_backend *b);
  /* Graphs, NULL where the backend has none: between capture_begin and
     capture_end the queued work is recorded instead of run (capture_end
     always ends the recording; *graph is NULL when it failed), and
     graph_launch queues the recording again, as one launch. */
  int (*capture_begin)(rt_backend *b, err_t *e);
  int (*capture_end)(rt_backend *b, void **graph, err_t *e);
  int (*graph_launch)(rt_backend *b, void *graph, err_t *e);
  void (*graph_free)(rt_backend *b, void *graph);
  void (*destroy)(rt_backend *b);
  /* Several ranks (rt_backend_join): sums N floats of device memory across
     the ranks in place, on the device (NCCL on CUDA), the time spent counted
     in the ranks' rt_comm; NULL where the backend has no such path, and the
     caller stages the sums through host memory and MPI. */
  int (*sum_f32)(rt_backend *b, void *p, size_t n, err_t *e);
  char sums[160]; /* how several ranks' sums go, for the logs */
  int (*join)(rt_backend *b, rt_comm *c, err_t *e);
  rt_cache *cache; /* compiled kernels on disk */
  rt_kmap *kmap;   /* the in-memory layer: a process loads a kernel once */
  void *impl;
};

/* Joins the backend to the ranks of C (collective: every rank calls it, once,
 * after opening its backend): sets sum_f32 and sums. */
int rt_backend_join(rt_backend *b, rt_comm *c, err_t *e);

/* Closes any backend: its loaded kernels, its cache, then the device. */
void rt_backend_close(rt_backend *b);

#endif
