#include "rt_backend.h"
#include "rt_cache.h"
#include "rt_kernels.h"

#include <stdio.h>
#include <stdlib.h>

int rt_backend_join(rt_backend *b, rt_comm *c, err_t *e) {
  snprintf(b->sums, sizeof b->sums, "%s", c->size > 1 ? "MPI, through host memory" : "");
  return c->size > 1 && b->join ? b->join(b, c, e) : 0;
}

void rt_backend_close(rt_backend *b) {
  if (!b) return;
  rt_kmap_free(b->kmap);
  rt_cache_close(b->cache);
  if (b->destroy) b->destroy(b);
  free(b);
}
