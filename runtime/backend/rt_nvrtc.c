/* NVRTC, opened at run time (dlopen): CUDA sources to cubins for a given
 * architecture.  NVRTC needs no GPU, so every CUDA kernel is compiled and
 * inspected on machines without one. */
#include "rt_nvrtc.h"
#include "rt_cc.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*create_fn)(void **, const char *, const char *, int, const char *const *, const char *const *);
typedef int (*compile_fn)(void *, int, const char *const *);
typedef int (*size_fn)(void *, size_t *);
typedef int (*get_fn)(void *, char *);
typedef int (*destroy_fn)(void **);
typedef const char *(*errstr_fn)(int);
typedef int (*version_fn)(int *, int *);
typedef int (*nums_fn)(int *);
typedef int (*archs_fn)(int *);

static struct {
  void *h;
  create_fn create;
  compile_fn compile;
  size_fn log_size, cubin_size;
  get_fn log, cubin;
  destroy_fn destroy;
  errstr_fn errstr;
  version_fn version;
  size_fn ptx_size;
  get_fn ptx;
  nums_fn num_archs;
  archs_fn archs;
  char why[512];
} nv;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_lib(void) {
  const char *root = getenv("PARSEC_CUDA_ROOT");
  char paths[6][512];
  int n = 0;
  if (root && *root) snprintf(paths[n++], sizeof paths[0], "%s/lib64/libnvrtc.so", root);
  snprintf(paths[n++], sizeof paths[0], "libnvrtc.so");
  snprintf(paths[n++], sizeof paths[0], "libnvrtc.so.13");
  snprintf(paths[n++], sizeof paths[0], "libnvrtc.so.12");
  snprintf(paths[n++], sizeof paths[0], "/usr/local/cuda/lib64/libnvrtc.so");
  for (int i = 0; i < n && !nv.h; i++) nv.h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
  if (!nv.h) {
    snprintf(nv.why, sizeof nv.why, "libnvrtc.so not found (%s); install the CUDA toolkit or set PARSEC_CUDA_ROOT",
             dlerror());
    return;
  }
  nv.create = (create_fn)dlsym(nv.h, "nvrtcCreateProgram");
  nv.compile = (compile_fn)dlsym(nv.h, "nvrtcCompileProgram");
  nv.log_size = (size_fn)dlsym(nv.h, "nvrtcGetProgramLogSize");
  nv.log = (get_fn)dlsym(nv.h, "nvrtcGetProgramLog");
  nv.cubin_size = (size_fn)dlsym(nv.h, "nvrtcGetCUBINSize");
  nv.cubin = (get_fn)dlsym(nv.h, "nvrtcGetCUBIN");
  nv.destroy = (destroy_fn)dlsym(nv.h, "nvrtcDestroyProgram");
  nv.errstr = (errstr_fn)dlsym(nv.h, "nvrtcGetErrorString");
  nv.version = (version_fn)dlsym(nv.h, "nvrtcVersion");
  nv.ptx_size = (size_fn)dlsym(nv.h, "nvrtcGetPTXSize");
  nv.ptx = (get_fn)dlsym(nv.h, "nvrtcGetPTX");
  nv.num_archs = (nums_fn)dlsym(nv.h, "nvrtcGetNumSupportedArchs");
  nv.archs = (archs_fn)dlsym(nv.h, "nvrtcGetSupportedArchs");
  if (!nv.create || !nv.compile || !nv.log_size || !nv.log || !nv.cubin_size || !nv.cubin || !nv.destroy ||
      !nv.errstr || !nv.version) {
    snprintf(nv.why, sizeof nv.why, "libnvrtc.so lacks the NVRTC functions parsec uses");
    dlclose(nv.h);
    nv.h = NULL;
  }
}

int rt_nvrtc_available(char *why, size_t cap) {
  pthread_once(&once, open_lib);
  if (!nv.h && why) snprintf(why, cap, "%s", nv.why);
  return nv.h != NULL;
}

int rt_nvrtc_version(int *major, int *minor) {
  if (!rt_nvrtc_available(NULL, 0)) return -1;
  return nv.version(major, minor);
}

static const char *const base_opts[] = {"--std=c++17", "-default-device"};

int rt_nvrtc_compile(const char *src, const char *arch, int verbose, rt_nvrtc_out *out, err_t *e) {
  memset(out, 0, sizeof *out);
  char why[512];
  if (!rt_nvrtc_available(why, sizeof why)) return err_set(e, "cannot compile CUDA kernels: %s", why);
  void *prog = NULL;
  int rc = nv.create(&prog, src, "parsec_kernels.cu", 0, NULL, NULL);
  if (rc != 0) return err_set(e, "nvrtcCreateProgram: %s", nv.errstr(rc));
  char archopt[64];
  snprintf(archopt, sizeof archopt, "--gpu-architecture=%s", arch);
  const char *opts[8];
  int no = 0;
  opts[no++] = archopt;
  for (size_t i = 0; i < sizeof base_opts / sizeof base_opts[0]; i++) opts[no++] = base_opts[i];
  if (verbose) opts[no++] = "--ptxas-options=-v";
  rc = nv.compile(prog, no, opts);
  size_t ls = 0;
  nv.log_size(prog, &ls);
  out->log = malloc(ls + 1);
  if (out->log) {
    nv.log(prog, out->log);
    out->log[ls] = 0;
  }
  if (rc != 0) {
    char *num = rt_numbered(src);
    char optstr[256] = "";
    size_t o = 0;
    for (int i = 0; i < no; i++) o += (size_t)snprintf(optstr + o, sizeof optstr - o, " %s", opts[i]);
    err_set(e, "NVRTC failed to compile kernels for %s (%s; options:%s):\n%s\nsource:\n%s", arch, nv.errstr(rc),
            optstr, out->log ? out->log : "", num ? num : src);
    free(num);
    nv.destroy(&prog);
    return -1;
  }
  size_t cs = 0;
  int ptx = strncmp(arch, "compute_", 8) == 0 && nv.ptx_size && nv.ptx; /* PTX: the driver finishes the job */
  (ptx ? nv.ptx_size : nv.cubin_size)(prog, &cs);
  out->cubin = malloc(cs ? cs : 1);
  out->cubin_size = cs;
  if (out->cubin) (ptx ? nv.ptx : nv.cubin)(prog, out->cubin);
  nv.destroy(&prog);
  return out->cubin ? 0 : err_set(e, "out of memory");
}

void rt_nvrtc_out_free(rt_nvrtc_out *o) {
  free(o->cubin);
  free(o->log);
  memset(o, 0, sizeof *o);
}

const char *rt_nvrtc_options(void) {
  static char s[256];
  if (!s[0]) {
    size_t o = 0;
    for (size_t i = 0; i < sizeof base_opts / sizeof base_opts[0]; i++)
      o += (size_t)snprintf(s + o, sizeof s - o, " %s", base_opts[i]);
  }
  return s;
}

/* The newest architecture NVRTC can target at or below sm_XY, as compute_NN
 * (PTX, which the driver compiles for the device); "" when none. */
static void ptx_arch(const char *arch, char *out, size_t cap) {
  int want = atoi(arch + 3), n = 0, best = 0;
  out[0] = 0;
  if (!nv.num_archs || !nv.archs || nv.num_archs(&n) != 0 || n <= 0 || n > 128) return;
  int v[128];
  if (nv.archs(v) != 0) return;
  for (int i = 0; i < n; i++)
    if (v[i] <= want && v[i] > best) best = v[i];
  if (best) snprintf(out, cap, "compute_%d", best);
}

/* The cache's compiler for one architecture: a cubin per source, or PTX when
 * this NVRTC does not know the GPU's architecture (a newer GPU). */
static int cache_compile(void *ctx, const char *src, const char *out, err_t *e) {
  const char *arch = ctx;
  rt_nvrtc_out o;
  if (rt_nvrtc_compile(src, arch, 0, &o, e) != 0) {
    char fallback[32];
    ptx_arch(arch, fallback, sizeof fallback);
    if (!fallback[0] || strcmp(fallback + 8, arch + 3) == 0) return -1;
    err_clear(e);
    fprintf(stderr, "parsec: warning: NVRTC cannot target %s; compiling PTX for %s instead\n", arch, fallback);
    if (rt_nvrtc_compile(src, fallback, 0, &o, e) != 0) return -1;
  }
  FILE *f = fopen(out, "wb");
  int ok = f && fwrite(o.cubin, 1, o.cubin_size, f) == o.cubin_size;
  if (f && fclose(f) != 0) ok = 0;
  rt_nvrtc_out_free(&o);
  return ok ? 0 : err_set(e, "%s: cannot write the cubin", out);
}

int rt_nvrtc_compiler(rt_compiler *c, const char *arch, char *identity, size_t cap, err_t *e) {
  char why[512];
  if (!rt_nvrtc_available(why, sizeof why)) return err_set(e, "cannot compile CUDA kernels: %s", why);
  int major = 0, minor = 0;
  rt_nvrtc_version(&major, &minor);
  snprintf(identity, cap, "nvrtc %d.%d|%s|%s", major, minor, arch, rt_nvrtc_options());
  static char target[64];
  snprintf(target, sizeof target, "cuda-%s", arch);
  *c = (rt_compiler){target, identity, ".cubin", cache_compile, (void *)arch, 0};
  return 0;
}

int rt_nvrtc_check_arch(const char *arch, err_t *e) {
  char why[512];
  if (!rt_nvrtc_available(why, sizeof why)) return err_set(e, "cannot compile CUDA kernels: %s", why);
  const char *digits = strncmp(arch, "sm_", 3) == 0 ? arch + 3 : strncmp(arch, "compute_", 8) == 0 ? arch + 8 : NULL;
  size_t nd = digits ? strspn(digits, "0123456789") : 0;
  if (!digits || nd < 2 || (digits[nd] && strcmp(digits + nd, "a") != 0))
    return err_set_code(e, ERR_USAGE, "--arch takes a GPU architecture such as sm_90 or compute_90, not '%s'", arch);
  int n = 0, v[128];
  if (!nv.num_archs || !nv.archs || nv.num_archs(&n) != 0 || n <= 0 || n > 128 || nv.archs(v) != 0) return 0;
  int want = atoi(digits); /* digits checked above */
  char list[512] = "";
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    if (v[i] == want) return 0;
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%d", i ? ", " : "", v[i]);
  }
  int major = 0, minor = 0;
  rt_nvrtc_version(&major, &minor);
  return err_set_code(e, ERR_USAGE, "NVRTC %d.%d cannot compile for %s; it knows sm_ and compute_ %s", major, minor,
                      arch, list);
}
