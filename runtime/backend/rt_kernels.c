#include "rt_kernels.h"
#include "rt_cc.h"
#include "rt_nvrtc.h"

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

/* The spec as the target runs it, and the precision: what a loaded kernel is
 * found by. */
static char *full_key(const cg_spec *spec, cg_target t, cg_prec prec) {
  const cg_spec on = cg_spec_on(spec, t);
  char buf[1024];
  cg_spec_key(&on, buf, sizeof buf);
  size_t n = strlen(buf);
  snprintf(buf + n, sizeof buf - n, "|%s", prec == CG_F64 ? "f64" : "f32");
  return strdup(buf);
}

/* SPECS rendered as TARGET runs them, compiled through the cache C (those
 * not there yet, together): paths[i], malloc'd, of each compiled form. */
static int compile_specs(rt_cache *c, cg_target t, cg_prec prec, const cg_spec *specs, int n, char **paths, err_t *e) {
  char **srcs = calloc((size_t)n + 1, sizeof *srcs);
  int rc = srcs ? 0 : err_set(e, "out of memory");
  for (int i = 0; i < n && rc == 0; i++) {
    const cg_spec on = cg_spec_on(&specs[i], t);
    if (!(srcs[i] = cg_render(&on, 1, t, prec, e))) rc = -1;
  }
  if (rc == 0) rc = rt_cache_get(c, (const char *const *)srcs, n, paths, e);
  for (int i = 0; i < n && srcs; i++) free(srcs[i]);
  free(srcs);
  return rc;
}

/* Loads the compiled kernel of SPEC from PATH into the map, under KEY. */
static int load_one(rt_backend *b, const cg_spec *spec, const char *path, char *key, err_t *e) {
  const cg_spec on = cg_spec_on(spec, b->target);
  rt_kernel *k = calloc(1, sizeof *k);
  if (!k) return err_set(e, "out of memory");
  cg_symbol(&on, b->prec, k->name, sizeof k->name);
  if (cg_spec_grid(&on, &k->grid, e) != 0 || b->load(b, path, k->name, &k->fn, e) != 0 ||
      (kmap_put(b->kmap, key, k) != 0 && err_set(e, "out of memory"))) {
    free(k);
    return -1;
  }
  return 0;
}

/* A compiled kernel that would not load though its checksum matched (a
 * file truncated and its checksum rewritten to match): dropped from the
 * cache and compiled once more; a second failure is reported. */
static int reload(rt_backend *b, const cg_spec *spec, char *key, err_t *e) {
  const cg_spec on = cg_spec_on(spec, b->target);
  char *src = cg_render(&on, 1, b->target, b->prec, e), *path = NULL;
  if (!src) return -1;
  fprintf(stderr, "parsec: warning: %s; compiling it again\n", err_msg(e));
  err_clear(e); /* said; a success leaves no message behind */
  rt_cache_evict(b->cache, src);
  free(src);
  int rc = compile_specs(b->cache, b->target, b->prec, spec, 1, &path, e) || load_one(b, spec, path, key, e);
  free(path);
  return rc ? err_append(e, " (the kernel cache may be damaged: parsec-run cache clear empties it)"), -1 : 0;
}

int rt_kernels_get(rt_backend *b, const cg_spec *specs, int n, const rt_kernel **out, err_t *e) {
  if (!b->kmap && !(b->kmap = calloc(1, sizeof *b->kmap))) return err_set(e, "out of memory");
  rt_kmap *m = b->kmap;
  m->stats.requests += n;
  cg_spec *todo = malloc((size_t)(n + 1) * sizeof *todo);
  char **paths = calloc((size_t)n + 1, sizeof *paths);
  char **keys = calloc((size_t)n + 1, sizeof *keys);
  int nmiss = 0, rc = todo && paths && keys ? 0 : err_set(e, "out of memory");
  /* the misses, each once */
  for (int i = 0; i < n && rc == 0; i++) {
    char *key = full_key(&specs[i], b->target, b->prec);
    if (!key) {
      rc = err_set(e, "out of memory");
      break;
    }
    out[i] = kmap_find(m, key);
    int dup = 0;
    for (int j = 0; j < nmiss && !out[i] && !dup; j++) dup = strcmp(keys[j], key) == 0;
    if (out[i] || dup) {
      free(key);
      continue;
    }
    keys[nmiss] = key;
    todo[nmiss++] = specs[i];
  }
  if (rc == 0 && nmiss > 0) rc = compile_specs(b->cache, b->target, b->prec, todo, nmiss, paths, e);
  for (int j = 0; j < nmiss && rc == 0; j++) {
    rc = load_one(b, &todo[j], paths[j], keys[j], e);
    if (rc != 0) rc = reload(b, &todo[j], keys[j], e);
    if (rc == 0) keys[j] = NULL; /* owned by the map */
  }
  for (int i = 0; i < n && rc == 0; i++)
    if (!out[i]) {
      char *key = full_key(&specs[i], b->target, b->prec);
      out[i] = key ? kmap_find(m, key) : NULL;
      free(key);
    }
  for (int j = 0; j < nmiss; j++) {
    free(paths[j]);
    free(keys[j]);
  }
  free(todo);
  free(paths);
  free(keys);
  return rc;
}

int rt_kernels_precompile(const char *target, const char *arch, const cg_spec *specs, int n, rt_precompiled *info,
                          err_t *e) {
  rt_cc cc;
  rt_compiler comp;
  char identity[512];
  cg_target t = strcmp(target, "cuda") == 0 ? CG_TARGET_CUDA : CG_TARGET_C;
  if (t == CG_TARGET_C && strcmp(target, "cpu") != 0)
    return err_set_code(e, ERR_USAGE, "--precompile takes cpu or cuda, not '%s'", target);
  /* an architecture NVRTC does not know fails before the cache has a
     directory for it: nothing is left behind */
  if (t == CG_TARGET_CUDA && rt_nvrtc_check_arch(arch, e) != 0) return -1;
  if (t == CG_TARGET_C ? rt_cc_init(&cc, e) != 0 : rt_nvrtc_compiler(&comp, arch, identity, sizeof identity, e) != 0)
    return -1;
  if (t == CG_TARGET_C) comp = rt_cc_compiler(&cc);
  rt_cache *c;
  if (rt_cache_open(&c, &comp, e) != 0) return -1;
  char **paths = calloc((size_t)n + 1, sizeof *paths);
  int rc = paths ? compile_specs(c, t, CG_F32, specs, n, paths, e) : err_set(e, "out of memory");
  for (int i = 0; i < n && paths; i++) free(paths[i]);
  free(paths);
  info->stats = *rt_cache_stats_of(c);
  snprintf(info->dir, sizeof info->dir, "%s", rt_cache_dir(c));
  rt_cache_close(c);
  return rc;
}

rt_cache_stats rt_kernel_stats(rt_backend *b) {
  rt_cache_stats s = *rt_cache_stats_of(b->cache);
  s.requests = b->kmap ? b->kmap->stats.requests : 0;
  return s;
}
