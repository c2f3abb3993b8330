/* The on-disk kernel cache.
 *
 * An entry is the compiled form of one rendered source (a shared object for
 * the CPU, a cubin for CUDA), named by the SHA-256 of the generator version,
 * the target, the source and the compiler's identity (compiler, version,
 * options, machine or GPU architecture).  Location: $PARSEC_CACHE_DIR, else
 * $XDG_CACHE_HOME/parsec, else ~/.cache/parsec; PARSEC_CACHE=off compiles into
 * a temporary directory instead.  Entries are written to a temporary file and
 * renamed; a per-key lock (flock) makes concurrent processes compile a key
 * once; a stored checksum is verified on load (a bad entry is a miss, with a
 * warning); the directory is created 0700 and files not owned by the user are
 * refused.  Size cap: $PARSEC_CACHE_MAX_MB (default 1024), oldest first. */
#ifndef PARSEC_RT_CACHE_H
#define PARSEC_RT_CACHE_H
#include "err.h"
#include <stddef.h>

/* Compiles SRC into the file OUT (the cache renames it into place). */
typedef int (*rt_compile_fn)(void *ctx, const char *src, const char *out, err_t *e);

typedef struct {
  const char *target;   /* directory under the cache root, e.g. "cpu", "cuda" */
  const char *identity; /* compiler, version, options, architecture */
  const char *ext;      /* ".so", ".cubin" */
  rt_compile_fn compile;
  void *ctx;
  int jobs; /* compiles to run at once (0: one per core) */
} rt_compiler;

/* requests and misses give the hit rate: hits = requests - misses. */
typedef struct {
  long requests;  /* kernel lookups (each layer call's kernel counts once; kept by the backend) */
  long misses;    /* kernels compiled by this process */
  long disk_hits; /* kernels loaded compiled from disk */
  long corrupt;   /* entries that failed their checksum and were recompiled */
  double compile_seconds;
} rt_cache_stats;

typedef struct rt_cache rt_cache;

int rt_cache_open(rt_cache **c, const rt_compiler *comp, err_t *e);
void rt_cache_close(rt_cache *c);
/* The cache's directory for this target, and whether it is a temporary one. */
const char *rt_cache_dir(const rt_cache *c);
int rt_cache_is_temporary(const rt_cache *c);

/* Paths of the compiled forms of N sources; compiles the missing ones,
 * `jobs` at a time.  paths[i] is malloc'd. */
int rt_cache_get(rt_cache *c, const char *const *srcs, int n, char **paths, err_t *e);
rt_cache_stats *rt_cache_stats_of(rt_cache *c);
/* Drops the compiled form of SRC (it failed to load though its checksum
 * matched: a file truncated and its checksum rewritten); the next get
 * compiles it again. */
int rt_cache_evict(rt_cache *c, const char *src);

/* The root directory from the environment (no side effects). */
int rt_cache_root(char *buf, size_t cap, err_t *e);
/* Totals over a root: entries and bytes; clear removes every entry. */
int rt_cache_usage(const char *root, long *entries, long long *bytes, err_t *e);
int rt_cache_clear(const char *root, long *removed, err_t *e);

#endif
