/* parsecgen: reads and validates a search space, prints its summary, and
 * writes the compiled space (and, with -o, the kernels it can need). */
#include "pl_plan.h"
#include "cli.h"
#include "io.h"
#include "rt_kernels.h"
#include "sp_json.h"
#include "sp_summary.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DIR/NAME holding TEXT and a newline, written through a rename */
static int write_file(const char *dir, const char *name, const char *text, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  io_part parts[2] = {{text, strlen(text)}, {"\n", 1}};
  return io_mkdirs(dir, e) || io_write_parts(path, parts, 2, 0, e);
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
  rt_precompiled info;
  if (rt_kernels_precompile(target, arch, specs, n, &info, e) != 0) return -1;
  if (!quiet) {
    char what[64];
    snprintf(what, sizeof what, strcmp(target, "cuda") == 0 ? "CUDA kernels for %s" : "CPU kernels", arch);
    printf("precompiled %d %s into %s: %ld compiled (%.1f s of compiler time), %ld already there\n", n, what, info.dir,
           info.stats.misses, info.stats.compile_seconds, info.stats.disk_hits);
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *space = NULL, *out = NULL, *pre = NULL, *arch = "sm_90";
  int quiet = 0;
  const cli_opt opts[] = {
      {"--out", "-o", CLI_STR, &out, "DIR",
       "write the compiled space (DIR/space.json) and the rendered\nsource of every kernel its network can need: DIR/kernels.c\n"
       "(CPU), DIR/kernels.cu (CUDA), DIR/kernels.txt (a listing)"},
      {"--precompile", NULL, CLI_CHOICE, &pre, "T",
       "compile those kernels into the kernel cache ahead of a\nsearch: T is cpu, or cuda (with --arch, default sm_90)", 0, 0,
       0, "cpu|cuda"},
      {"--arch", NULL, CLI_STR, &arch, "sm_XY", "the GPU architecture for --precompile cuda"},
      {"--quiet", "-q", CLI_FLAG, &quiet, NULL, "print nothing but errors", 0, 0, 1},
  };
  const cli_pos pos[] = {{"SPACE", &space, 1, NULL}};
  const cli_cmd c = {"parsecgen", NULL, "SPACE [-o DIR] [--precompile cpu|cuda] [--arch sm_XY] [-q]",
                     "Reads a search space, checks it, and prints a summary: the primitives and\n"
                     "their layers, the categoricals, each cell's channels and resolution, the\n"
                     "parent network's parameter count and the size of the space.  SPACE is a space\n"
                     "file (.lua), a directory written by parsecgen -o, or the name of a bundled\n"
                     "space: darts, small, custom_op, darts_imagenet.",
                     opts, (int)(sizeof opts / sizeof opts[0]), pos, 1, NULL,
                     "0 success, 1 invalid space (or a failed compile), 2 bad usage", PARSEC_VERSION};
  int status;
  if (!cli_parse(&c, argc - 1, argv + 1, &status)) return status;
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
  if (rc) {
    fprintf(stderr, "parsecgen: %s\n", err_msg(&e));
    rc = err_status(&e);
  }
  err_clear(&e);
  sp_free(&sp);
  return rc;
}
