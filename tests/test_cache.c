/* The on-disk kernel cache: hit after miss, a corrupt entry recompiled with
 * a warning, two processes compiling the same key once, the cache switched
 * off, an unusable cache directory, a missing compiler, `cache clear`
 * removing only what the cache wrote, and entries damaged in ways a
 * checksum alone cannot catch (a directory or a FIFO in an entry's place, a
 * truncated library whose checksum was rewritten) recovered, not fatal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rt_cpu.h"
#include "rt_kernels.h"
#include "rt_cc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static rt_cc CC;
static char ROOT[256];

static int setup(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  if (rt_cc_init(&CC, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return -1;
  }
  snprintf(ROOT, sizeof ROOT, "/tmp/parsec-test-cache-XXXXXX");
  if (!mkdtemp(ROOT)) return -1;
  setenv("PARSEC_CACHE_DIR", ROOT, 1);
  unsetenv("PARSEC_CACHE");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  long removed;
  err_t e = ERR_INIT;
  rt_cache_clear(ROOT, &removed, &e);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", ROOT);
  return system(cmd) == 0 ? 0 : -1;
}

static rt_cache *open_cache(void) {
  rt_compiler comp = rt_cc_compiler(&CC);
  rt_cache *c;
  err_t e = ERR_INIT;
  if (rt_cache_open(&c, &comp, &e) != 0) fail_msg("%s", err_msg(&e));
  return c;
}

/* a distinct source per test, so tests do not share entries */
static void source(char *buf, size_t cap, const char *tag) {
  snprintf(buf, cap, "int parsec_test_%s(int x) { return x + %d; }\n", tag, (int)getpid());
}

static char *get_one(rt_cache *c, const char *src) {
  char *path = NULL;
  err_t e = ERR_INIT;
  if (rt_cache_get(c, &src, 1, &path, &e) != 0) fail_msg("%s", err_msg(&e));
  return path;
}

static void test_hit_after_miss(void **state) {
  (void)state;
  char src[128];
  source(src, sizeof src, "hit");
  rt_cache *c = open_cache();
  char *p1 = get_one(c, src);
  assert_int_equal(rt_cache_stats_of(c)->misses, 1);
  rt_cache_close(c);
  c = open_cache(); /* a new process-like session */
  char *p2 = get_one(c, src);
  assert_int_equal(rt_cache_stats_of(c)->misses, 0);
  assert_int_equal(rt_cache_stats_of(c)->disk_hits, 1);
  assert_string_equal(p1, p2);
  struct stat st;
  assert_int_equal(stat(p1, &st), 0);
  /* private: the directory is 0700 */
  char dir[512];
  snprintf(dir, sizeof dir, "%s/cpu", ROOT);
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  free(p1);
  free(p2);
  rt_cache_close(c);
}

static void test_corrupt_entry_recompiled(void **state) {
  (void)state;
  char src[128];
  source(src, sizeof src, "corrupt");
  rt_cache *c = open_cache();
  char *p = get_one(c, src);
  /* truncate the compiled file */
  FILE *f = fopen(p, "r+b");
  assert_non_null(f);
  assert_int_equal(ftruncate(fileno(f), 100), 0);
  fclose(f);
  char *p2 = get_one(c, src);
  assert_int_equal(rt_cache_stats_of(c)->corrupt, 1);
  assert_int_equal(rt_cache_stats_of(c)->misses, 2);
  struct stat st;
  assert_int_equal(stat(p2, &st), 0);
  assert_true(st.st_size > 100);
  /* an altered byte is caught too */
  f = fopen(p2, "r+b");
  fseek(f, 200, SEEK_SET);
  fputc('X', f);
  fclose(f);
  free(get_one(c, src));
  assert_int_equal(rt_cache_stats_of(c)->corrupt, 2);
  free(p);
  free(p2);
  rt_cache_close(c);
}

static void test_concurrent_processes(void **state) {
  (void)state;
  char src[128];
  source(src, sizeof src, "concurrent");
  int fds[2][2];
  pid_t pid[2];
  for (int k = 0; k < 2; k++) {
    assert_int_equal(pipe(fds[k]), 0);
    pid[k] = fork();
    if (pid[k] == 0) {
      rt_cache *c = open_cache();
      char *p = NULL;
      err_t e = ERR_INIT;
      int rc = rt_cache_get(c, (const char *const *)&(const char *){src}, 1, &p, &e);
      long misses = rt_cache_stats_of(c)->misses;
      if (write(fds[k][1], &misses, sizeof misses) != sizeof misses) rc = -1;
      _exit(rc == 0 ? 0 : 1);
    }
  }
  long total = 0;
  for (int k = 0; k < 2; k++) {
    int st;
    waitpid(pid[k], &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    long m = 0;
    assert_int_equal(read(fds[k][0], &m, sizeof m), (ssize_t)sizeof m);
    total += m;
    close(fds[k][0]);
    close(fds[k][1]);
  }
  assert_int_equal(total, 1); /* one compiled it, the other waited and loaded it */
  rt_cache *c = open_cache();
  free(get_one(c, src));
  assert_int_equal(rt_cache_stats_of(c)->misses, 0);
  assert_int_equal(rt_cache_stats_of(c)->corrupt, 0);
  rt_cache_close(c);
}

static void test_cache_off(void **state) {
  (void)state;
  char src[128];
  source(src, sizeof src, "off");
  setenv("PARSEC_CACHE", "off", 1);
  rt_cache *c = open_cache();
  assert_true(rt_cache_is_temporary(c));
  char dir[512];
  snprintf(dir, sizeof dir, "%s", rt_cache_dir(c));
  assert_null(strstr(dir, ROOT));
  char *p = get_one(c, src);
  assert_int_equal(rt_cache_stats_of(c)->misses, 1);
  free(p);
  rt_cache_close(c);
  struct stat st;
  assert_int_not_equal(stat(dir, &st), 0); /* the temporary directory is gone */
  unsetenv("PARSEC_CACHE");
  c = open_cache();
  assert_false(rt_cache_is_temporary(c));
  rt_cache_close(c);
}

static void test_unwritable_directory(void **state) {
  (void)state;
  char bad[512];
  snprintf(bad, sizeof bad, "%s/shared", ROOT);
  assert_int_equal(mkdir(bad, 0777), 0);
  chmod(bad, 0777); /* writable by others: refused, a temporary cache is used instead */
  setenv("PARSEC_CACHE_DIR", bad, 1);
  rt_cache *c = open_cache();
  assert_true(rt_cache_is_temporary(c));
  char src[128];
  source(src, sizeof src, "fallback");
  free(get_one(c, src));
  rt_cache_close(c);
  setenv("PARSEC_CACHE_DIR", "/proc/parsec-cannot-be-here", 1);
  c = open_cache();
  assert_true(rt_cache_is_temporary(c));
  rt_cache_close(c);
  setenv("PARSEC_CACHE_DIR", ROOT, 1);
}

static void test_compile_error_reported(void **state) {
  (void)state;
  rt_cache *c = open_cache();
  const char *src = "int broken(void) { return undefined_name; }\n";
  char *p = NULL;
  err_t e = ERR_INIT;
  assert_int_equal(rt_cache_get(c, &src, 1, &p, &e), -1);
  assert_non_null(strstr(err_msg(&e), "undefined_name"));
  assert_non_null(strstr(err_msg(&e), "    1 | int broken"));
  assert_non_null(strstr(err_msg(&e), "-fopenmp"));
  err_clear(&e);
  rt_cache_close(c);
}

static void test_missing_compiler(void **state) {
  (void)state;
  const char *old = getenv("CC");
  char keep[256] = "";
  if (old) snprintf(keep, sizeof keep, "%s", old);
  setenv("CC", "/nonexistent/parsec-cc", 1);
  rt_cc cc;
  err_t e = ERR_INIT;
  assert_int_equal(rt_cc_init(&cc, &e), -1);
  assert_non_null(strstr(err_msg(&e), "no C compiler"));
  assert_non_null(strstr(err_msg(&e), "apt-get install gcc"));
  err_clear(&e);
  /* a compiler that cannot build OpenMP code */
  setenv("CC", "false", 1);
  assert_int_equal(rt_cc_init(&cc, &e), -1);
  err_clear(&e);
  if (old) setenv("CC", keep, 1);
  else unsetenv("CC");
}

static void test_usage_and_clear(void **state) {
  (void)state;
  long entries = 0, removed = 0;
  long long bytes = 0;
  err_t e = ERR_INIT;
  assert_int_equal(rt_cache_usage(ROOT, &entries, &bytes, &e), 0);
  assert_true(entries >= 3);
  assert_true(bytes > 0);
  /* a file of the user's beside the entries, shaped like none of them */
  char keep[400], tagp[400];
  snprintf(keep, sizeof keep, "%s/cpu/notes.txt", ROOT);
  snprintf(tagp, sizeof tagp, "%s/CACHEDIR.TAG", ROOT);
  FILE *f = fopen(keep, "w");
  assert_non_null(f);
  fputs("mine\n", f);
  fclose(f);
  assert_int_equal(access(tagp, F_OK), 0); /* the cache marked its root */
  assert_int_equal(rt_cache_clear(ROOT, &removed, &e), 0);
  assert_int_equal(removed, entries);
  assert_int_equal(rt_cache_usage(ROOT, &entries, &bytes, &e), 0);
  assert_int_equal(entries, 0);
  assert_int_equal(access(keep, F_OK), 0);
}

/* A directory, or a FIFO, where an entry's files belong: replaced, never
   loaded or waited on (a FIFO opened for reading would block forever) */
static void test_odd_files_in_an_entrys_place(void **state) {
  (void)state;
  char src[128], sum[PATH_MAX];
  source(src, sizeof src, "odd");
  rt_cache *c = open_cache();
  char *path = get_one(c, src);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(mkdir(path, 0700), 0);
  char *again = get_one(c, src);
  struct stat st;
  assert_int_equal(stat(again, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  snprintf(sum, sizeof sum, "%.*s.sha256", (int)(strlen(path) - 3), path); /* KEY.so -> KEY.sha256 */
  assert_int_equal(unlink(sum), 0);
  assert_int_equal(mkfifo(sum, 0600), 0);
  free(get_one(c, src));
  assert_int_equal(stat(sum, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  free(path);
  free(again);
  rt_cache_close(c);
}

/* A compiled kernel truncated, its checksum rewritten to match: it fails to
   load, and is compiled again rather than failing forever */
static void test_truncated_kernel_recompiled(void **state) {
  (void)state;
  char root[300], cmd[700];
  snprintf(root, sizeof root, "%s/trunc", ROOT);
  assert_int_equal(mkdir(root, 0700), 0);
  setenv("PARSEC_CACHE_DIR", root, 1);
  err_t e = ERR_INIT;
  cg_spec s;
  rt_precompiled info;
  if (cg_spec_make(&s, "axpy", CG_CONSTS({"M", 424243}), &e) != 0 ||
      rt_kernels_precompile("cpu", NULL, &s, 1, &info, &e) != 0)
    fail_msg("%s", err_msg(&e));
  /* the one entry: cut in half, and a checksum that matches the half */
  snprintf(cmd, sizeof cmd,
           "cd '%s'/cpu/?? && f=$(ls *.so) && truncate -s $(($(stat -c %%s $f) / 2)) $f && "
           "sha256sum $f | cut -c1-64 | tr -d '\\n' > ${f%%.so}.sha256",
           root);
  assert_int_equal(system(cmd), 0);
  rt_backend *b;
  const rt_kernel *k;
  if (rt_cpu_open(&b, CG_F32, 0, &e) != 0 || rt_kernels_get(b, &s, 1, &k, &e) != 0) fail_msg("%s", err_msg(&e));
  assert_non_null(k->fn);
  assert_int_equal(rt_kernel_stats(b).corrupt, 1);
  rt_backend_close(b);
  setenv("PARSEC_CACHE_DIR", ROOT, 1);
}

/* PARSEC_CACHE_DIR pointed at a directory of the user's (their home, say):
   the cache lives in it, but `cache clear` refuses it and removes nothing,
   and the directory is never tagged as a cache (backup tools would skip it) */
static void test_clear_refuses_a_foreign_directory(void **state) {
  (void)state;
  char home[300], mine[400], tagp[400];
  snprintf(home, sizeof home, "%s/home", ROOT);
  mkdir(home, 0700);
  snprintf(mine, sizeof mine, "%s/thesis.tex", home);
  FILE *f = fopen(mine, "w");
  assert_non_null(f);
  fputs("years of work\n", f);
  fclose(f);
  setenv("PARSEC_CACHE_DIR", home, 1);
  rt_cache *c = open_cache();
  char src[128], *path = NULL;
  source(src, sizeof src, "foreign");
  const char *srcs[1] = {src};
  err_t e = ERR_INIT;
  if (rt_cache_get(c, srcs, 1, &path, &e) != 0) fail_msg("%s", err_msg(&e));
  free(path);
  rt_cache_close(c);
  setenv("PARSEC_CACHE_DIR", ROOT, 1);
  snprintf(tagp, sizeof tagp, "%s/CACHEDIR.TAG", home);
  assert_int_equal(access(tagp, F_OK), -1);
  long removed = 0;
  assert_int_equal(rt_cache_clear(home, &removed, &e), -1);
  assert_non_null(strstr(err_msg(&e), "does not look like a parsec kernel cache: it holds 'thesis.tex'"));
  err_clear(&e);
  assert_int_equal(removed, 0);
  assert_int_equal(access(mine, F_OK), 0);
  long entries;
  long long bytes;
  assert_int_equal(rt_cache_usage(home, &entries, &bytes, &e), 0);
  assert_int_equal(entries, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hit_after_miss),
      cmocka_unit_test(test_corrupt_entry_recompiled),
      cmocka_unit_test(test_concurrent_processes),
      cmocka_unit_test(test_cache_off),
      cmocka_unit_test(test_unwritable_directory),
      cmocka_unit_test(test_compile_error_reported),
      cmocka_unit_test(test_missing_compiler),
      cmocka_unit_test(test_usage_and_clear),
      cmocka_unit_test(test_clear_refuses_a_foreign_directory),
      cmocka_unit_test(test_odd_files_in_an_entrys_place),
      cmocka_unit_test(test_truncated_kernel_recompiled),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
