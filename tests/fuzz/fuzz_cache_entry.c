/* A kernel cache entry the process did not write: the bytes of a compiled
 * CPU kernel are checked before dlopen would map them (the first byte: a
 * checksum file that matches the bytes, or the bytes as the checksum file of
 * a sound entry; the cache must recover either way). */
#include "fuzz.h"
#include "rt_cache.h"
#include "rt_cpu.h"

#include <stdio.h>
#include <unistd.h>

static int stub_compile(void *ctx, const char *src, const char *out, err_t *e) {
  FILE *f = fopen(out, "wb");
  if (!f) return err_set(e, "%s: cannot write", out);
  fputs(src, f);
  fclose(f);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char root[4200];
  if (!root[0]) {
    const char *tmp = getenv("TMPDIR"); /* e.g. a tmpfs: the cache's fsyncs bound this target's speed */
    snprintf(root, sizeof root, "%s/parsec-fuzz-cache-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    setenv("PARSEC_CACHE_DIR", root, 1);
    unsetenv("PARSEC_CACHE");
  }
  char file[128];
  snprintf(file, sizeof file, "%s/bytes.so", root);
  err_t e = ERR_INIT;
  rt_compiler comp = {"cpu", "fuzz", ".so", stub_compile, NULL, 1};
  rt_cache *c;
  if (rt_cache_open(&c, &comp, &e) != 0) abort();
  FILE *f = fopen(file, "wb");
  if (f) {
    fwrite(data, 1, size, f);
    fclose(f);
  }
  rt_cpu_elf_whole(file, &e); /* the check a loaded entry passes first */
  err_clear(&e);
  /* the same bytes as an entry's checksum file: a bad one is a miss, rebuilt */
  char *path = NULL, sum[4200];
  const char *src = "int fuzz_kernel;\n";
  if (rt_cache_get(c, &src, 1, &path, &e) != 0) abort();
  snprintf(sum, sizeof sum, "%.*s.sha256", (int)(strlen(path) - 3), path);
  f = fopen(sum, "wb");
  if (f) {
    fwrite(data, 1, size, f);
    fclose(f);
  }
  free(path);
  path = NULL;
  if (rt_cache_get(c, &src, 1, &path, &e) != 0) abort(); /* recovered, not failed */
  free(path);
  rt_cache_close(c);
  err_clear(&e);
  return 0;
}
