/* NCCL behind rt_nccl.h: the library opened once per process, the
 * communicator bootstrapped over MPI (rt_comm). */
#include "rt_nccl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NCCL_SUM = 0, NCCL_FLOAT32 = 7 }; /* ncclSum, ncclFloat32 */

struct rt_nccl {
  const rt_nccl_api *api;
  void *comm; /* ncclComm_t */
  int version; /* NCCL_VERSION_CODE of the library */
};

static rt_nccl_api real;
static const rt_nccl_api *installed;
static int forced; /* rt_nccl_set was called: no library is opened */
static char missing[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_library(void) {
  void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(missing, sizeof missing, "libnccl.so.2 not found (install NCCL, or put its lib directory on LD_LIBRARY_PATH)");
    return;
  }
  const struct {
    void **slot;
    const char *name;
  } syms[] = {
      {(void **)&real.GetVersion, "ncclGetVersion"},
      {(void **)&real.GetUniqueId, "ncclGetUniqueId"},
      {(void **)&real.CommInitRank, "ncclCommInitRank"},
      {(void **)&real.AllReduce, "ncclAllReduce"},
      {(void **)&real.CommGetAsyncError, "ncclCommGetAsyncError"},
      {(void **)&real.CommDestroy, "ncclCommDestroy"},
      {(void **)&real.CommAbort, "ncclCommAbort"},
      {(void **)&real.GetErrorString, "ncclGetErrorString"},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
    if (!(*syms[i].slot = dlsym(h, syms[i].name))) {
      snprintf(missing, sizeof missing, "libnccl.so.2 lacks %s (NCCL older than 2.4?)", syms[i].name);
      return;
    }
  installed = &real;
}

void rt_nccl_set(const rt_nccl_api *api) {
  installed = api;
  forced = 1;
  if (!api) snprintf(missing, sizeof missing, "libnccl.so.2 not found (as a test asked)");
}

static const rt_nccl_api *library(void) {
  if (!forced) pthread_once(&once, open_library);
  return installed;
}

static int check(const rt_nccl *n, int rc, const char *call, err_t *e) {
  if (rc == 0) return 0;
  const char *s = n->api->GetErrorString ? n->api->GetErrorString(rc) : NULL;
  return err_set(e, "%s failed: %s (NCCL error %d)", call, s ? s : "unknown", rc);
}

int rt_nccl_open(rt_nccl **out, rt_comm *c, char *why, size_t why_len, err_t *e) {
  *out = NULL;
  const rt_nccl_api *api = library();
  /* all ranks or none: the first rank without the library, if any, for all */
  int lacking = api ? c->size : c->rank;
  if (rt_comm_min(c, &lacking, 1, e) != 0) return -1;
  if (lacking < c->size) {
    snprintf(why, why_len, "rank %d: %s", lacking, lacking == c->rank ? missing : "no usable NCCL");
    return 0;
  }
  rt_nccl *n = calloc(1, sizeof *n);
  if (!n) return err_set(e, "out of memory");
  n->api = api;
  if (api->GetVersion) api->GetVersion(&n->version);
  /* rank 0's id to every rank (a zero id says rank 0 failed to make one),
     then the communicator, which waits for all ranks */
  rt_nccl_id id, none;
  memset(&id, 0, sizeof id);
  memset(&none, 0, sizeof none);
  int rc = c->rank == 0 ? check(n, api->GetUniqueId(&id), "ncclGetUniqueId", e) : 0;
  if (rt_comm_bcast(c, &id, sizeof id, 0, e) != 0) rc = -1;
  else if (rc == 0 && memcmp(&id, &none, sizeof id) == 0) rc = err_set(e, "rank 0 could not create an NCCL id");
  if (rc == 0) rc = check(n, api->CommInitRank(&n->comm, c->size, id, c->rank), "ncclCommInitRank", e);
  if (rc != 0) {
    free(n);
    return -1;
  }
  *out = n;
  return 0;
}

int rt_nccl_version(const rt_nccl *n) { return n->version; }

int rt_nccl_sum_f32(rt_nccl *n, void *p, size_t count, void *stream, err_t *e) {
  return check(n, n->api->AllReduce(p, p, count, NCCL_FLOAT32, NCCL_SUM, n->comm, stream), "ncclAllReduce", e);
}

int rt_nccl_check(rt_nccl *n, err_t *e) {
  int async = 0;
  if (n->api->CommGetAsyncError && n->api->CommGetAsyncError(n->comm, &async) == 0 && async != 0)
    return check(n, async, "an NCCL all-reduce (a peer rank failed?)", e);
  return 0;
}

void rt_nccl_close(rt_nccl *n) {
  if (!n) return;
  if (n->comm) n->api->CommDestroy(n->comm);
  free(n);
}
