/* Builds specs' CUDA rendering for the emulation: the source NVRTC would
 * compile, then one C entry per spec that unpacks CUDA-style kernelParams
 * into the kernel's typed parameters and launches it through cuda_emu.h. */
#include "emu.h"
#include "io.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char *s;
  size_t len, cap;
} buf;

static void add(buf *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + n + 1 > b->cap) {
    b->cap = 2 * (b->len + n + 1);
    b->s = realloc(b->s, b->cap);
  }
  memcpy(b->s + b->len, s, n + 1);
  b->len += n;
}

/* extern "C" long sym__emu(unsigned gx, unsigned bx, void **a) { ... } */
static void entry(buf *b, const cg_spec *spec, cg_prec prec) {
  const cg_spec on = cg_spec_on(spec, CG_TARGET_CUDA);
  char sym[128], line[512];
  cg_symbol(&on, prec, sym, sizeof sym);
  snprintf(line, sizeof line,
           "extern \"C\" long %s__emu(unsigned gx, unsigned bx, void **a) {\n"
           "  return emu::make_launcher(%s, dim3(gx), dim3(bx)).collect(*(long *)a[0]",
           sym, sym);
  add(b, line);
  for (int i = 0; i < on.k->nargs; i++) {
    snprintf(line, sizeof line, ", *(%s *)a[%d]", on.k->arg_type[i], i + 1);
    add(b, line);
  }
  add(b, ");\n}\n");
}

static int compile(const char *src, const char *dir, err_t *e) {
  char cpp[512], so[512];
  snprintf(cpp, sizeof cpp, "%s/k.cpp", dir);
  snprintf(so, sizeof so, "%s/k.so", dir);
  if (io_write_text(cpp, src, e) != 0) return -1;
  const char *env = getenv("CXX");
  char *argv[] = {(char *)(env && *env ? env : "c++"),
                  "-std=gnu++17",
                  "-O1",
                  "-U_FORTIFY_SOURCE",
                  "-fPIC",
                  "-shared",
                  "-w",
                  "-include",
                  PARSEC_SOURCE_DIR "/tests/emu/cuda_emu.h",
                  "-o",
                  so,
                  cpp,
                  NULL};
  char *log = NULL;
  int st = 0;
  int rc = io_spawn(argv, &log, &st, e);
  if (rc == 0 && st != 0) rc = err_set(e, "the host C++ compiler failed on the CUDA source (exit %d):\n%s", st, log);
  free(log);
  return rc;
}

int emu_build(emu_mod *m, const cg_spec *specs, int n, cg_prec prec, const char *from, const char *to, err_t *e) {
  memset(m, 0, sizeof *m);
  char *src = cg_render(specs, n, CG_TARGET_CUDA, prec, e);
  if (!src) return -1;
  buf b = {0};
  char *at = from ? strstr(src, from) : NULL;
  if (from && !at) {
    free(src);
    return err_set(e, "mutation: '%s' is not in the rendered source", from);
  }
  if (at) { /* the source up to the mutation, the replacement, the rest */
    *at = 0;
    add(&b, src);
    add(&b, to);
    add(&b, at + strlen(from));
  } else {
    add(&b, src);
  }
  free(src);
  add(&b, "\nextern \"C\" const char *emu_error(void) { return emu::B.err; }\n");
  for (int i = 0; i < n; i++) entry(&b, &specs[i], prec);
  char dir[] = "/tmp/parsec-emu-XXXXXX", so[64], cpp[64];
  if (!mkdtemp(dir)) {
    free(b.s);
    return err_set(e, "cannot create a temporary directory");
  }
  int rc = compile(b.s, dir, e);
  free(b.s);
  snprintf(so, sizeof so, "%s/k.so", dir);
  snprintf(cpp, sizeof cpp, "%s/k.cpp", dir);
  if (rc == 0 && !(m->so = dlopen(so, RTLD_NOW | RTLD_LOCAL))) rc = err_set(e, "dlopen %s: %s", so, dlerror());
  unlink(so);
  unlink(cpp);
  rmdir(dir);
  if (rc != 0) return -1;
  m->n = n;
  m->fn = calloc((size_t)n + 1, sizeof *m->fn);
  *(void **)&m->error = dlsym(m->so, "emu_error");
  for (int i = 0; i < n; i++) {
    const cg_spec on = cg_spec_on(&specs[i], CG_TARGET_CUDA);
    char sym[160];
    cg_symbol(&on, prec, sym, sizeof sym - 8);
    strcat(sym, "__emu");
    *(void **)&m->fn[i] = dlsym(m->so, sym);
    if (!m->fn[i]) {
      emu_free(m);
      return err_set(e, "no %s in the emulated module", sym);
    }
  }
  return 0;
}

void emu_free(emu_mod *m) {
  if (m->so) dlclose(m->so);
  free(m->fn);
  memset(m, 0, sizeof *m);
}

void emu_dims(const cg_grid *g, long N, unsigned *gx, unsigned *bx) {
  const long total = (g->g0n * N + g->g0c) * g->g1;
  *bx = g->block ? CG_BLOCK_THREADS : 256;
  *gx = total <= 0 ? 0 : (unsigned)(g->block ? total : (total + *bx - 1) / *bx);
}

/* specs compiled so far, by symbol */
static struct {
  char sym[128];
  emu_mod m;
} built[512];
static int nbuilt;

int emu_run(const cg_spec *spec, cg_prec prec, long N, void **params, err_t *e) {
  const cg_spec on = cg_spec_on(spec, CG_TARGET_CUDA);
  char sym[128];
  cg_symbol(&on, prec, sym, sizeof sym);
  int i = 0;
  while (i < nbuilt && strcmp(built[i].sym, sym) != 0) i++;
  if (i == nbuilt) {
    if (nbuilt == 512) return err_set(e, "emu_run: too many kernels");
    if (emu_build(&built[i].m, &on, 1, prec, NULL, NULL, e) != 0) return -1;
    snprintf(built[i].sym, sizeof built[i].sym, "%s", sym);
    nbuilt++;
  }
  cg_grid g;
  if (cg_spec_grid(&on, &g, e) != 0) return -1;
  unsigned gx, bx;
  emu_dims(&g, N, &gx, &bx);
  if (gx == 0) return 0;
  if (built[i].m.fn[0](gx, bx, params) != 0) return err_set(e, "%s in emulated CUDA: %s", sym, built[i].m.error());
  return 0;
}
