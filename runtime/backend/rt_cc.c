/* The C target's compiler: the system C compiler with OpenMP, run at run
 * time on rendered kernels, giving shared objects that the CPU backend loads
 * with dlopen. */
#include "rt_cc.h"
#include "io.h"
#include "sha.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const cc_flags[] = {"-O3", "-march=native", "-std=gnu11", "-fopenmp", "-fPIC",
                                       "-shared", "-fno-math-errno", "-w"};
#define NFLAGS ((int)(sizeof cc_flags / sizeof cc_flags[0]))

/* "  12 | line" for each line of SRC: compile errors show the source they refer to. */
char *rt_numbered(const char *src) {
  size_t lines = 1;
  for (const char *p = src; *p; p++) lines += *p == '\n';
  size_t cap = strlen(src) + lines * 8 + 1;
  char *out = malloc(cap);
  if (!out) return NULL;
  size_t o = 0;
  int ln = 1;
  const char *p = src;
  while (*p && o + 16 < cap) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    o += (size_t)snprintf(out + o, cap - o, "%5d | %.*s\n", ln++, (int)n, p);
    p = nl ? nl + 1 : p + n;
  }
  out[o] = 0;
  return out;
}

/* The CPU model and its features: kernels are built with -march=native. */
static void cpu_identity(char out[SHA256_HEX]) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[4096], acc[8192] = "";
  size_t n = 0;
  while (f && fgets(line, sizeof line, f)) {
    if ((strncmp(line, "model name", 10) == 0 || strncmp(line, "flags", 5) == 0) && !strstr(acc, line)) {
      size_t l = strlen(line);
      if (n + l < sizeof acc) {
        memcpy(acc + n, line, l + 1);
        n += l;
      }
    }
  }
  if (f) fclose(f);
  sha256(acc, n, out);
}

int rt_cc_init(rt_cc *cc, err_t *e) {
  memset(cc, 0, sizeof *cc);
  const char *env = getenv("CC");
  snprintf(cc->cc, sizeof cc->cc, "%s", env && *env ? env : "cc");
  char *out = NULL;
  int st;
  char *ver[] = {cc->cc, "--version", NULL};
  if (io_spawn(ver, &out, &st, e) != 0 || st != 0) {
    free(out);
    err_clear(e);
    return err_set(e, "no C compiler: the CPU backend compiles its kernels at run time with '%s', which %s. "
                      "Install one (Debian: apt-get install gcc) or set CC to a C compiler with OpenMP",
                   cc->cc, st == 127 || !out ? "cannot be run" : "failed");
  }
  char first[256];
  snprintf(first, sizeof first, "%.*s", (int)strcspn(out, "\n"), out);
  free(out);
  /* a compiler that cannot build OpenMP code is no use: check once, up front */
  char dir[] = "/tmp/parsec-cc-XXXXXX";
  if (!mkdtemp(dir)) return err_set(e, "cannot create a temporary directory: %s", strerror(errno));
  char src[64], so[64];
  snprintf(src, sizeof src, "%s/omp.c", dir);
  snprintf(so, sizeof so, "%s/omp.so", dir);
  FILE *f = fopen(src, "w");
  if (f) {
    fputs("#include <omp.h>\nint parsec_threads(void) { int n = 0;\n#pragma omp parallel\n"
          "{\n#pragma omp atomic\nn++; }\nreturn n + omp_get_max_threads(); }\n", f);
    fclose(f);
  }
  char *argv[NFLAGS + 5];
  int a = 0;
  argv[a++] = cc->cc;
  for (int i = 0; i < NFLAGS; i++) argv[a++] = (char *)cc_flags[i];
  argv[a++] = "-o";
  argv[a++] = so;
  argv[a++] = src;
  argv[a] = NULL;
  int rc = io_spawn(argv, &out, &st, e);
  unlink(src);
  unlink(so);
  rmdir(dir);
  if (rc != 0 || st != 0) {
    err_clear(e);
    err_set(e, "the C compiler '%s' (%s) cannot build OpenMP code, which the CPU backend needs:\n%s\n"
               "Install gcc with OpenMP (Debian: apt-get install gcc libgomp1) or set CC to such a compiler",
            cc->cc, first, out ? out : "");
    free(out);
    return -1;
  }
  free(out);
  char cpu[SHA256_HEX];
  cpu_identity(cpu);
  size_t o = (size_t)snprintf(cc->identity, sizeof cc->identity, "%s|%s|cpu %s|", cc->cc, first, cpu);
  for (int i = 0; i < NFLAGS && o < sizeof cc->identity; i++)
    o += (size_t)snprintf(cc->identity + o, sizeof cc->identity - o, " %s", cc_flags[i]);
  return 0;
}

int rt_cc_compile(void *ctx, const char *src, const char *out, err_t *e) {
  rt_cc *cc = ctx;
  char cpath[4200];
  snprintf(cpath, sizeof cpath, "%s.c", out);
  FILE *f = fopen(cpath, "w");
  if (!f) return err_set(e, "%s: cannot write: %s", cpath, strerror(errno));
  int ok = fputs(src, f) >= 0;
  if (fclose(f) != 0 || !ok) return err_set(e, "%s: cannot write: %s", cpath, strerror(errno));
  char *argv[NFLAGS + 5];
  int a = 0;
  argv[a++] = cc->cc;
  for (int i = 0; i < NFLAGS; i++) argv[a++] = (char *)cc_flags[i];
  argv[a++] = "-o";
  argv[a++] = (char *)out;
  argv[a++] = cpath;
  argv[a] = NULL;
  char *log = NULL;
  int st;
  int rc = io_spawn(argv, &log, &st, e);
  unlink(cpath);
  if (rc == 0 && st != 0) {
    char opts[512] = "";
    size_t o = 0;
    for (int i = 0; i < NFLAGS; i++) o += (size_t)snprintf(opts + o, sizeof opts - o, " %s", cc_flags[i]);
    char *num = rt_numbered(src);
    rc = err_set(e, "compiling a kernel failed (%s%s, exit %d):\n%s\nsource:\n%s", cc->cc, opts, st,
                 log ? log : "", num ? num : src);
    free(num);
  }
  free(log);
  return rc;
}

rt_compiler rt_cc_compiler(rt_cc *cc) {
  rt_compiler c = {"cpu", cc->identity, ".so", rt_cc_compile, cc, 0};
  return c;
}
