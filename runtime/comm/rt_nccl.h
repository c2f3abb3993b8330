/* NCCL for the sums between the GPUs of several ranks: libnccl.so.2 opened
 * at run time (like the CUDA driver), one communicator over the job's ranks
 * bootstrapped through MPI (rank 0's unique id broadcast), and all-reduces
 * queued on the caller's CUDA stream.  A test may install a double of the
 * library's table. */
#ifndef PARSEC_RT_NCCL_H
#define PARSEC_RT_NCCL_H
#include "rt_comm.h"

typedef struct {
  char internal[128];
} rt_nccl_id; /* ncclUniqueId */

/* The library's functions used here, with NCCL's signatures (ncclResult_t,
   ncclComm_t, ncclDataType_t, ncclRedOp_t and cudaStream_t as int/void *). */
typedef struct {
  int (*GetVersion)(int *version);
  int (*GetUniqueId)(rt_nccl_id *id);
  int (*CommInitRank)(void **comm, int nranks, rt_nccl_id id, int rank);
  int (*AllReduce)(const void *send, void *recv, size_t count, int datatype, int op, void *comm, void *stream);
  int (*CommGetAsyncError)(void *comm, int *async_error);
  int (*CommDestroy)(void *comm);
  int (*CommAbort)(void *comm);
  const char *(*GetErrorString)(int result);
} rt_nccl_api;

typedef struct rt_nccl rt_nccl;

/* A communicator over C's ranks, on the CUDA context current on this thread.
   Collective: every rank calls it.  When some rank cannot open libnccl.so.2
   none uses NCCL: *N is NULL, 0 returned, and *WHY says which rank lacks it
   (the caller sums through host memory instead). */
int rt_nccl_open(rt_nccl **n, rt_comm *c, char *why, size_t why_len, err_t *e);
/* Sums COUNT floats at device address P across the ranks, in place, queued
   on STREAM (a CUstream) behind the work already there. */
int rt_nccl_sum_f32(rt_nccl *n, void *p, size_t count, void *stream, err_t *e);
/* NCCL_VERSION_CODE of the library opened (22809: 2.28.9), 0 if unknown */
int rt_nccl_version(const rt_nccl *n);
/* A peer's failure NCCL noticed since the last call (after a stream sync). */
int rt_nccl_check(rt_nccl *n, err_t *e);
void rt_nccl_close(rt_nccl *n);

/* Installs a double of the library (NULL: behave as if libnccl.so.2 were
   missing); rt_nccl_open then uses it instead of opening the library. */
void rt_nccl_set(const rt_nccl_api *api);

#endif
