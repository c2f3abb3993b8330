#include "rt_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *key;
  rt_kernel *k;
} slot;

struct rt_kmap {
  slot *v;
  size_t n, cap;
  rt_cache_stats stats;
};

static unsigned long hash_str(const char *s) {
  unsigned long h = 5381;
  for (; *s; s++) h = h * 33 ^ (unsigned char)*s;
  return h;
}

static rt_kernel *kmap_find(rt_kmap *m, const char *key) {
  if (!m || !m->cap) return NULL;
  for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    if (!m->v[i].key) return NULL;
    if (strcmp(m->v[i].key, key) == 0) return m->v[i].k;
  }
}

static int kmap_put(rt_kmap *m, char *key, rt_kernel *k) {
  if (2 * (m->n + 1) > m->cap) {
    size_t nc = m->cap ? 2 * m->cap : 256;
    slot *nv = calloc(nc, sizeof *nv);
    if (!nv) return -1;
    for (size_t i = 0; i < m->cap; i++)
      if (m->v[i].key) {
        size_t j = hash_str(m->v[i].key) & (nc - 1);
        while (nv[j].key) j = (j + 1) & (nc - 1);
        nv[j] = m->v[i];
      }
    free(m->v);
    m->v = nv;
    m->cap = nc;
  }
  size_t j = hash_str(key) & (m->cap - 1);
  while (m->v[j].key) j = (j + 1) & (m->cap - 1);
  m->v[j] = (slot){key, k};
  m->n++;
  return 0;
}

void rt_kmap_free(rt_kmap *m) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++) {
    free(m->v[i].key);
    free(m->v[i].k);
  }
  free(m->v);
  free(m);
}

static char *full_key(const cg_spec *s, cg_prec prec) {
  char buf[1024];
  cg_spec_key(s, buf, sizeof buf);
  size_t n = strlen(buf);
  snprintf(buf + n, sizeof buf - n, "|%s", prec == CG_F64 ? "f64" : "f32");
  return strdup(buf);
}

int rt_kernels_get(rt_backend *b, const cg_spec *specs, int n, const rt_kernel **out, err_t *e) {
  if (!b->kmap && !(b->kmap = calloc(1, sizeof *b->kmap))) return err_set(e, "out of memory");
  rt_kmap *m = b->kmap;
  m->stats.requests += n;
  int *miss = malloc((size_t)n * sizeof *miss);
  char **srcs = calloc((size_t)n, sizeof *srcs);
  char **paths = calloc((size_t)n, sizeof *paths);
  char **keys = calloc((size_t)n, sizeof *keys);
  int nmiss = 0, rc = 0;
  if (!miss || !srcs || !paths || !keys) {
    rc = err_set(e, "out of memory");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const cg_spec on = cg_spec_on(&specs[i], b->target);
    char *key = full_key(&on, b->prec);
    if (!key) {
      rc = err_set(e, "out of memory");
      goto done;
    }
    out[i] = kmap_find(m, key);
    int dup = 0;
    for (int j = 0; j < nmiss && !out[i] && !dup; j++) dup = strcmp(keys[j], key) == 0;
    if (out[i] || dup) {
      free(key);
      continue;
    }
    keys[nmiss] = key;
    srcs[nmiss] = cg_render(&on, 1, b->target, b->prec, e);
    if (!srcs[nmiss]) {
      free(key);
      keys[nmiss] = NULL;
      rc = -1;
      goto done;
    }
    miss[nmiss++] = i;
  }
  if (nmiss > 0) {
    if (rt_cache_get(b->cache, (const char *const *)srcs, nmiss, paths, e) != 0) {
      rc = -1;
      goto done;
    }
    for (int j = 0; j < nmiss; j++) {
      const cg_spec on = cg_spec_on(&specs[miss[j]], b->target), *s = &on;
      rt_kernel *k = calloc(1, sizeof *k);
      if (!k) {
        rc = err_set(e, "out of memory");
        goto done;
      }
      cg_symbol(s, b->prec, k->name, sizeof k->name);
      if (cg_spec_grid(s, &k->grid, e) != 0 || b->load(b, paths[j], k->name, &k->fn, e) != 0 ||
          kmap_put(m, keys[j], k) != 0) {
        free(k);
        rc = -1;
        goto done;
      }
      keys[j] = NULL; /* owned by the map */
    }
    for (int i = 0; i < n; i++)
      if (!out[i]) {
        const cg_spec on = cg_spec_on(&specs[i], b->target);
        char *key = full_key(&on, b->prec);
        out[i] = kmap_find(m, key);
        free(key);
      }
  }
done:
  for (int j = 0; j < n && srcs; j++) {
    free(srcs[j]);
    if (paths) free(paths[j]);
    if (keys) free(keys[j]);
  }
  free(miss);
  free(srcs);
  free(paths);
  free(keys);
  return rc;
}

rt_cache_stats rt_kernel_stats(rt_backend *b) {
  rt_cache_stats s = *rt_cache_stats_of(b->cache);
  s.requests = b->kmap ? b->kmap->stats.requests : 0;
  return s;
}
