/* parsecgen: reads and validates a search space, prints its summary, and
 * writes the compiled space (and, with -o, the kernels it can need). */
#include "pl_plan.h"
#include "rt_cpu.h"
#include "rt_kernels.h"
#include "rt_nvrtc.h"
#include "sp_json.h"
#include "sp_summary.h"
#include "version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: parsecgen SPACE [-o DIR] [--precompile cpu|cuda] [--arch sm_XY] [-q]\n"
          "\n"
          "Reads a search space, checks it, and prints a summary: the primitives and\n"
          "their layers, the categoricals, each cell's channels and resolution, the\n"
          "parent network's parameter count and the size of the space.\n"
          "\n"
          "  SPACE            a space file (.lua), a directory written by parsecgen -o, or\n"
          "                   the name of a bundled space: darts, small, custom_op\n"
          "  -o DIR           write the compiled space (DIR/space.json) and the rendered\n"
          "                   source of every kernel its network can need: DIR/kernels.c\n"
          "                   (CPU), DIR/kernels.cu (CUDA), DIR/kernels.txt (a listing)\n"
          "  --precompile T   compile those kernels into the kernel cache ahead of a\n"
          "                   search: T is cpu, or cuda (with --arch, default sm_90)\n"
          "  --arch sm_XY     the GPU architecture for --precompile cuda\n"
          "  -q               print nothing but errors\n"
          "  --version        print the version\n"
          "\n"
          "Exit status: 0 success, 1 invalid space, 2 bad usage.\n");
}

static int write_file(const char *dir, const char *name, const char *text, err_t *e) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return err_set(e, "%s: cannot create: %s", dir, strerror(errno));
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return err_set(e, "%s: cannot write: %s", tmp, strerror(errno));
  int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) return err_set(e, "%s: cannot write: %s", path, strerror(errno));
  return 0;
}

/* kernels.c, kernels.cu and kernels.txt under DIR */
static int write_kernels(const char *dir, const cg_spec *specs, int n, err_t *e) {
  char *c = cg_render(specs, n, CG_TARGET_C, CG_F32, e);
  char *cu = c ? cg_render(specs, n, CG_TARGET_CUDA, CG_F32, e) : NULL;
  size_t cap = (size_t)n * 2400 + 256, o = 0;
  char *list = cu ? malloc(cap) : NULL;
  int rc = -1;
  if (list) {
    o += (size_t)snprintf(list + o, cap - o, "# %d kernels: symbol, spec, work items (outer = a*N + b, inner); an indented line: the form CUDA runs\n", n);
    for (int i = 0; i < n; i++) {
      for (int t = 0; t < 2; t++) { /* the CUDA form's line where it differs */
        const cg_spec on = cg_spec_on(&specs[i], t ? CG_TARGET_CUDA : CG_TARGET_C);
        if (t && on.k == specs[i].k) break;
        char sym[128], key[1024];
        cg_grid g;
        if (cg_spec_grid(&on, &g, e) != 0) goto done;
        cg_symbol(&on, CG_F32, sym, sizeof sym);
        cg_spec_key(&on, key, sizeof key);
        o += (size_t)snprintf(list + o, cap - o, "%s%s %s outer=%ld*N+%ld inner=%ld%s\n", t ? "  " : "", sym, key, g.g0n,
                              g.g0c, g.g1, g.block ? " block" : "");
      }
    }
    rc = write_file(dir, "kernels.c", c, e) || write_file(dir, "kernels.cu", cu, e) ||
         write_file(dir, "kernels.txt", list, e);
  }
done:
  free(c);
  free(cu);
  free(list);
  return rc;
}

static int precompile(const char *target, const char *arch, const cg_spec *specs, int n, int quiet, err_t *e) {
  if (strcmp(target, "cpu") == 0) {
    rt_backend *b;
    if (rt_cpu_open(&b, CG_F32, 0, e) != 0) return -1;
    const rt_kernel **ks = calloc((size_t)n, sizeof *ks);
    int rc = ks ? rt_kernels_get(b, specs, n, ks, e) : err_set(e, "out of memory");
    rt_cache_stats st = rt_kernel_stats(b);
    if (rc == 0 && !quiet)
      printf("precompiled %d CPU kernels into %s: %ld compiled (%.1f s of compiler time), %ld already there\n", n,
             rt_cache_dir(b->cache), st.misses, st.compile_seconds, st.disk_hits);
    free(ks);
    rt_backend_close(b);
    return rc;
  }
  if (strcmp(target, "cuda") == 0) {
    rt_compiler comp;
    char identity[512];
    if (rt_nvrtc_compiler(&comp, arch, identity, sizeof identity, e) != 0) return -1;
    rt_cache *c;
    if (rt_cache_open(&c, &comp, e) != 0) return -1;
    char **srcs = calloc((size_t)n, sizeof *srcs), **paths = calloc((size_t)n, sizeof *paths);
    int rc = srcs && paths ? 0 : err_set(e, "out of memory");
    for (int i = 0; i < n && rc == 0; i++)
      if (!(srcs[i] = cg_render(&specs[i], 1, CG_TARGET_CUDA, CG_F32, e))) rc = -1;
    if (rc == 0) rc = rt_cache_get(c, (const char *const *)srcs, n, paths, e);
    rt_cache_stats *st = rt_cache_stats_of(c);
    if (rc == 0 && !quiet)
      printf("precompiled %d CUDA kernels for %s into %s: %ld compiled (%.1f s), %ld already there\n", n, arch,
             rt_cache_dir(c), st->misses, st->compile_seconds, st->disk_hits);
    for (int i = 0; i < n; i++) {
      if (srcs) free(srcs[i]);
      if (paths) free(paths[i]);
    }
    free(srcs);
    free(paths);
    rt_cache_close(c);
    return rc;
  }
  return err_set(e, "--precompile takes cpu or cuda, not '%s'", target);
}

int main(int argc, char **argv) {
  const char *space = NULL, *out = NULL, *pre = NULL, *arch = "sm_90";
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--version") == 0) {
      printf("parsecgen %s\n", PARSEC_VERSION);
      return 0;
    } else if (strcmp(argv[i], "-o") == 0) {
      if (++i >= argc) {
        fprintf(stderr, "parsecgen: -o needs a directory\n");
        return 2;
      }
      out = argv[i];
    } else if (strcmp(argv[i], "--precompile") == 0 || strcmp(argv[i], "--arch") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "parsecgen: %s needs a value (see parsecgen --help)\n", argv[i]);
        return 2;
      }
      if (strcmp(argv[i], "--arch") == 0) arch = argv[++i];
      else pre = argv[++i];
      if (pre && strcmp(pre, "cpu") != 0 && strcmp(pre, "cuda") != 0) {
        fprintf(stderr, "parsecgen: --precompile takes cpu or cuda, not '%s'\n", pre);
        return 2;
      }
    } else if (strcmp(argv[i], "-q") == 0) {
      quiet = 1;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "parsecgen: unknown option '%s' (see parsecgen --help)\n", argv[i]);
      return 2;
    } else if (space) {
      fprintf(stderr, "parsecgen: one space at a time (got '%s' and '%s')\n", space, argv[i]);
      return 2;
    } else {
      space = argv[i];
    }
  }
  if (!space) {
    usage(stderr);
    return 2;
  }
  err_t e = ERR_INIT;
  sp_space sp;
  if (sp_open(&sp, space, &e) != 0) {
    fprintf(stderr, "parsecgen: %s\n", err_msg(&e));
    err_clear(&e);
    return 1;
  }
  int rc = 0;
  if (!quiet && sp_print_summary(stdout, &sp, &e) != 0) rc = 1;
  cg_spec *specs = NULL;
  int nspecs = 0;
  if (rc == 0 && (out || pre)) {
    nw_layout lay;
    if (nw_search_layout(&lay, &sp, &sp.net, &e) != 0 || pl_space_specs(&sp, &sp.net, &lay, &specs, &nspecs, &e) != 0)
      rc = 1;
    nw_free(&lay);
  }
  if (rc == 0 && out) {
    char *json = sp_to_json(&sp);
    if (!json || write_file(out, "space.json", json, &e) != 0 || write_kernels(out, specs, nspecs, &e) != 0) rc = 1;
    else if (!quiet)
      printf("\nwrote %s/space.json and the %d kernels its network can need (%s/kernels.c, kernels.cu)\n", out,
             nspecs, out);
    free(json);
  }
  if (rc == 0 && pre && precompile(pre, arch, specs, nspecs, quiet, &e) != 0) rc = 1;
  free(specs);
  if (rc) fprintf(stderr, "parsecgen: %s\n", err_msg(&e));
  err_clear(&e);
  sp_free(&sp);
  return rc;
}
