#include "rt_backend.h"
#include "rt_cache.h"
#include "rt_kernels.h"

#include <stdlib.h>

void rt_backend_close(rt_backend *b) {
  if (!b) return;
  rt_kmap_free(b->kmap);
  rt_cache_close(b->cache);
  if (b->destroy) b->destroy(b);
  free(b);
}
