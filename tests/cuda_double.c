/* The CUDA driver API's test double: device memory is host memory; a
 * "module" is the cubin NVRTC really compiled (through the kernel cache),
 * and the function looked up in it by symbol is the C rendering of the same
 * spec in the same form (the GPU form where the kernel names one), so a
 * launch runs the same kernel source on the CPU.  One stream, queued copies
 * run late (a staging rewritten too early shows), graphs recorded and
 * replayed; test_cuda_double.c says what this proves and what it does not. */
#include "cuda_double.h"
#include "rt_nvrtc.h"
#include "sp_json.h"

#include <unistd.h>

#include <cblas.h>
rt_backend *cd_cpu; /* float CPU backend: the C renderings the double runs */
long cd_launches, cd_short_grids, cd_gemms, cd_block_launches, cd_bad_blocks, cd_gpu_forms;
static char cd_last_error[256];

static int d_init(unsigned f) { return 0; }
int cd_devices = 1, cd_device = -1;
static int d_count(int *n) { *n = cd_devices; return 0; }
static int d_get(int *d, int i) { *d = i; return 0; }
static int d_name(char *s, int n, int d) { snprintf(s, (size_t)n, "test double"); return 0; }
static int d_attr(int *v, int a, int d) { *v = a == 75 ? 9 : 0; return 0; } /* compute capability 9.0 */
static int d_retain(void **c, int d) { *c = (void *)1; cd_device = d; return 0; }
static int d_release(int d) { return 0; }
static int d_set(void *c) { return 0; }
static int d_alloc(unsigned long long *p, size_t n) {
  void *m = calloc(1, n);
  *p = (unsigned long long)(uintptr_t)m;
  return m ? 0 : 2; /* CUDA_ERROR_OUT_OF_MEMORY */
}
static int nqueue;
long cd_bad_captures; /* calls a capture must not see */
static void *capturing;
long cd_busy_frees;
static int d_free(unsigned long long p) {
  cd_busy_frees += nqueue > 0; /* queued work may still write to P: the backend must synchronise first */
  free((void *)(uintptr_t)p);
  return 0;
}
static int d_info(size_t *f, size_t *t) {
  *f = (size_t)3 << 32;
  *t = (size_t)1 << 34;
  return 0;
}

/* The stream.  A copy from page-locked memory and a memset are queued and
   run only when a later call on the stream (or a synchronisation) comes, as
   on a GPU, so a host that rewrote its staging before the copy ran would
   send the new values and the results would differ from the cd_cpu's. */
#define STREAM ((void *)7)
static void *pinned[64];
static int npinned;
static struct {
  void *dst;
  const void *src; /* NULL: a memset of zeros */
  size_t n;
  void (*call)(void *); /* or a call (cd_enqueue_call) */
} queue[64];
long cd_pinned_uploads, cd_off_stream;

static void flush(void) {
  for (int i = 0; i < nqueue; i++)
    if (queue[i].call) queue[i].call(queue[i].dst);
    else if (queue[i].src) memcpy(queue[i].dst, queue[i].src, queue[i].n);
    else memset(queue[i].dst, 0, queue[i].n);
  nqueue = 0;
}

static int on_stream(void *s) {
  cd_off_stream += s != STREAM;
  flush();
  return 0;
}

static void enqueue(void *dst, const void *src, size_t n) {
  if (nqueue == 64) flush();
  queue[nqueue].dst = dst;
  queue[nqueue].src = src;
  queue[nqueue].call = NULL;
  queue[nqueue++].n = n;
}

void cd_enqueue_call(void *stream, void (*fn)(void *), void *arg) {
  if (stream != STREAM) cd_off_stream++;
  cd_bad_captures += capturing != NULL;
  enqueue(arg, NULL, 0);
  queue[nqueue - 1].call = fn;
}

static int is_pinned(const void *p) {
  for (int i = 0; i < npinned; i++)
    if (pinned[i] && (const char *)p >= (const char *)pinned[i] && (const char *)p < (const char *)pinned[i] + (1 << 20))
      return 1;
  return 0;
}

static int d_stream_create(void **s, unsigned flags) { *s = STREAM; return 0; }
static int d_stream_destroy(void *s) { return on_stream(s); }
long cd_stream_syncs;
static int d_stream_sync(void *s) {
  cd_stream_syncs++;
  return on_stream(s);
}
static int d_host_alloc(void **p, size_t n, unsigned flags) {
  if (npinned == 64 || n > (1 << 20) || !(*p = calloc(1, 1 << 20))) return 2;
  pinned[npinned++] = *p;
  return 0;
}
static int d_host_free(void *p) {
  flush();
  for (int i = 0; i < npinned; i++)
    if (pinned[i] == p) pinned[i] = NULL;
  free(p);
  return 0;
}
static int d_htod(unsigned long long d, const void *s, size_t n, void *stream) {
  if (stream != STREAM) cd_off_stream++;
  cd_bad_captures += capturing != NULL;
  if (!is_pinned(s)) { /* pageable: the driver reads it before returning */
    flush();
    memcpy((void *)(uintptr_t)d, s, n);
    return 0;
  }
  cd_pinned_uploads++;
  enqueue((void *)(uintptr_t)d, s, n);
  return 0;
}
static int d_dtoh(void *d, unsigned long long s, size_t n, void *stream) { /* there after a synchronisation */
  if (stream != STREAM) cd_off_stream++;
  cd_bad_captures += capturing != NULL;
  enqueue(d, (const void *)(uintptr_t)s, n);
  return 0;
}
static int d_load(void **mod, const void *image) {
  /* a cubin is an ELF file: what NVRTC wrote must be one */
  if (memcmp(image, "\x7f" "ELF", 4) != 0) return 200; /* CUDA_ERROR_INVALID_IMAGE */
  *mod = (void *)image;
  return 0;
}

/* symbol -> the C rendering of the same spec, compiled by the CPU backend,
   or its CUDA rendering on emulated threads (cd_emulate) */
typedef struct {
  char name[96];
  const rt_kernel *k; /* the C rendering */
  emu_entry emu;      /* or the emulated CUDA one */
  const char *(*emu_error)(void);
  cg_grid grid;
  const cg_kernel *tk; /* its template: the sizes of its arguments, for recording */
} entry;
int cd_emulate;
long cd_emulated;
static entry cd_table[512];
int cd_ntable;

static int d_func(void **fn, void *mod, const char *name) {
  for (int i = 0; i < cd_ntable; i++)
    if (strcmp(cd_table[i].name, name) == 0) {
      *fn = (void *)&cd_table[i];
      return 0;
    }
  snprintf(cd_last_error, sizeof cd_last_error, "no kernel %s", name);
  return 500; /* CUDA_ERROR_NOT_FOUND */
}

/* Graphs: while the stream is being captured, cd_launches, GEMMs and memsets
   are recorded (argument values copied, as the driver copies them) and run
   when the instantiated graph is launched. */
typedef struct {
  char kind; /* 'k' launch, 'g' GEMM, 'z' memset */
  const entry *en;
  unsigned gx, bx;
  unsigned char args[CG_MAXARGS + 1][8];
  int ta, tb, m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *A, *B;
  float *C;
  void *dst;
  size_t bytes;
} rec;
typedef struct {
  rec *v;
  int n, cap;
} graph;
long cd_captures, cd_graph_runs;

static void record(const rec *r) {
  graph *g = capturing;
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 256;
    g->v = realloc(g->v, sizeof(rec) * (size_t)g->cap);
  }
  g->v[g->n++] = *r;
}

/* on GX blocks of BX threads, as the backend launched it */
static void run_kernel(const entry *en, unsigned gx, unsigned bx, void **params) {
  cd_launches++;
  cd_gpu_forms += strstr(en->name, "_px_") || strstr(en->name, "_tap_"); /* dwconv_fwd_px_<hash> */
  if (!cd_emulate || !en->emu) {
    if (!en->k) fail_msg("%s: the double has no C rendering of it", en->name);
    ((void (*)(void **))en->k->fn)(params);
    return;
  }
  cd_emulated++;
  if (en->emu(gx, bx, params) != 0) fail_msg("%s on emulated CUDA threads: %s", en->name, en->emu_error());
}

static int d_launch(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                    unsigned shared, void *stream, void **params, void **extra) {
  const entry *en = fn;
  long N = *(long *)params[0];
  long items = (en->grid.g0n * N + en->grid.g0c) * en->grid.g1;
  if ((long)gx * gy * gz * bx * by * bz < items) cd_short_grids++;
  if (gy * gz * by * bz != 1) cd_bad_blocks++; /* the backend's grids are one-dimensional */
  /* an @block kernel: exactly one block per work item, whole warps (the
     block sum's shuffles assume them) */
  if (en->grid.block) {
    cd_block_launches++;
    if ((long)gx * gy * gz != items || by * bz != 1 || bx % 32 != 0 || bx > 1024) cd_bad_blocks++;
  }
  if (capturing) {
    if (stream != STREAM) cd_bad_captures++;
    rec r = {.kind = 'k', .en = en, .gx = gx, .bx = bx};
    memcpy(r.args[0], params[0], sizeof(long));
    for (int i = 0; i < en->tk->nargs; i++) {
      cg_argkind a = en->tk->arg_kind[i];
      memcpy(r.args[i + 1], params[i + 1], a == CG_ARG_INT ? sizeof(int) : a == CG_ARG_FLOAT ? sizeof(float) : 8);
    }
    record(&r);
    return 0;
  }
  on_stream(stream);
  run_kernel(en, gx, bx, params);
  return 0;
}

static int d_memset(unsigned long long d, unsigned char v, size_t n, void *stream) {
  if (stream != STREAM || v != 0) cd_off_stream++;
  if (capturing) {
    rec r = {.kind = 'z', .dst = (void *)(uintptr_t)d, .bytes = n};
    record(&r);
    return 0;
  }
  enqueue((void *)(uintptr_t)d, NULL, n);
  return 0;
}

int cd_refuse_capture;
static int d_begin_capture(void *s, int mode) {
  if (capturing || s != STREAM || cd_refuse_capture) return 900; /* CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED */
  flush();
  capturing = calloc(1, sizeof(graph));
  cd_captures++;
  return 0;
}
static int d_end_capture(void *s, void **g) {
  *g = capturing;
  capturing = NULL;
  return 0;
}
static int d_instantiate(void **exec, void *g, unsigned long long flags) {
  const graph *src = g;
  graph *x = calloc(1, sizeof *x);
  x->n = x->cap = src->n;
  x->v = malloc(sizeof(rec) * (size_t)(src->n ? src->n : 1));
  memcpy(x->v, src->v, sizeof(rec) * (size_t)src->n);
  *exec = x;
  return 0;
}
static int d_graph_free(void *g) {
  graph *x = g;
  free(x->v);
  free(x);
  return 0;
}
static int d_graph_launch(void *exec, void *s) {
  const graph *x = exec;
  on_stream(s);
  cd_graph_runs++;
  for (int i = 0; i < x->n; i++) {
    const rec *r = &x->v[i];
    if (r->kind == 'k') {
      void *params[CG_MAXARGS + 1];
      for (int a = 0; a <= r->en->tk->nargs; a++) params[a] = (void *)r->args[a];
      run_kernel(r->en, r->gx, r->bx, params);
    } else if (r->kind == 'g') {
      cd_gemms++;
      cblas_sgemm(CblasColMajor, r->ta ? CblasTrans : CblasNoTrans, r->tb ? CblasTrans : CblasNoTrans, r->m, r->n, r->k,
                  r->alpha, r->A, r->lda, r->B, r->ldb, r->beta, r->C, r->ldc);
    } else {
      memset(r->dst, 0, r->bytes);
    }
  }
  return 0;
}

static int d_errstr(int e, const char **s) {
  *s = "test double error";
  return 0;
}

static int b_create(void **h) { *h = (void *)2; return 0; }
static int b_destroy(void *h) { return 0; }
static void *blas_stream;
static int b_set_stream(void *h, void *s) { blas_stream = s; return 0; }
/* column-major, as cuBLAS */
static int b_sgemm(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
                   const float *B, int ldb, const float *beta, float *C, int ldc) {
  if (capturing) {
    rec r = {.kind = 'g', .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc,
             .alpha = *alpha, .beta = *beta, .A = A, .B = B, .C = C};
    record(&r);
    return 0;
  }
  cd_gemms++;
  on_stream(blas_stream);
  cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, *alpha, A, lda, B,
              ldb, *beta, C, ldc);
  return 0;
}

static const rt_cuda_driver DOUBLE = {
    .cuInit = d_init,
    .cuDeviceGetCount = d_count,
    .cuDeviceGet = d_get,
    .cuDeviceGetName = d_name,
    .cuDeviceGetAttribute = d_attr,
    .cuDevicePrimaryCtxRetain = d_retain,
    .cuDevicePrimaryCtxRelease = d_release,
    .cuCtxSetCurrent = d_set,
    .cuMemAlloc = d_alloc,
    .cuMemFree = d_free,
    .cuMemGetInfo = d_info,
    .cuModuleLoadData = d_load,
    .cuModuleGetFunction = d_func,
    .cuLaunchKernel = d_launch,
    .cuGetErrorString = d_errstr,
    .cuStreamCreate = d_stream_create,
    .cuStreamDestroy = d_stream_destroy,
    .cuStreamSynchronize = d_stream_sync,
    .cuMemHostAlloc = d_host_alloc,
    .cuMemFreeHost = d_host_free,
    .cuMemcpyHtoDAsync = d_htod,
    .cuMemcpyDtoHAsync = d_dtoh,
    .cuMemsetD8Async = d_memset,
    .cuStreamBeginCapture = d_begin_capture,
    .cuStreamEndCapture = d_end_capture,
    .cuGraphInstantiateWithFlags = d_instantiate,
    .cuGraphLaunch = d_graph_launch,
    .cuGraphExecDestroy = d_graph_free,
    .cuGraphDestroy = d_graph_free,
    .cublasCreate = b_create,
    .cublasSgemm = b_sgemm,
    .cublasDestroy = b_destroy,
    .cublasSetStream = b_set_stream,
};

sp_space cd_space;
nw_layout cd_layout;

/* the table's entry for symbol NAME, made when there is none */
static entry *entry_for(const char *name, const cg_spec *on, err_t *e) {
  for (int j = 0; j < cd_ntable; j++)
    if (strcmp(cd_table[j].name, name) == 0) return &cd_table[j];
  if (cd_ntable == 512) {
    err_set(e, "the double's kernel table is full");
    return NULL;
  }
  entry *en = &cd_table[cd_ntable];
  memset(en, 0, sizeof *en);
  snprintf(en->name, sizeof en->name, "%s", name);
  en->tk = on->k;
  if (cg_spec_grid(on, &en->grid, e) != 0) return NULL;
  cd_ntable++;
  return en;
}

/* the CUDA rendering of those of SPECS the table has none for, compiled by
   the host C++ compiler for the emulation (one module, kept to teardown) */
static emu_mod *mods[64];
static int nmods;
static int add_emulated(const cg_spec *on, int n, err_t *e) {
  cg_spec *todo = calloc((size_t)n + 1, sizeof *todo);
  entry **dst = calloc((size_t)n + 1, sizeof *dst);
  emu_mod *m = calloc(1, sizeof *m);
  int nt = 0, rc = todo && dst && m ? 0 : err_set(e, "out of memory");
  if (rc == 0 && nmods == 64) rc = err_set(e, "the double holds 64 emulated modules already");
  for (int i = 0; i < n && rc == 0; i++) {
    char sym[128];
    cg_symbol(&on[i], CG_F32, sym, sizeof sym);
    entry *en = entry_for(sym, &on[i], e);
    if (!en) rc = -1;
    else if (!en->emu) {
      int dup = 0; /* a spec twice in SPECS */
      for (int k = 0; k < nt && !dup; k++) dup = dst[k] == en;
      if (!dup) todo[nt] = on[i], dst[nt++] = en;
    }
  }
  if (rc == 0 && nt > 0) rc = emu_build(m, todo, nt, CG_F32, NULL, NULL, e);
  for (int k = 0; k < nt && rc == 0; k++) {
    dst[k]->emu = m->fn[k];
    dst[k]->emu_error = m->error;
  }
  if (rc == 0 && nt > 0) mods[nmods++] = m;
  else free(m);
  free(todo);
  free(dst);
  return rc;
}

/* SPECS in the form CUDA runs (the GPU forms where a kernel names one),
   rendered for C and compiled by the cd_cpu backend: the double's "GPU
   code"; with cd_emulate also rendered for CUDA, for emulated threads */
int cd_add_kernels(const cg_spec *specs, int n, err_t *e) {
  cg_spec *on = calloc((size_t)n + 1, sizeof *on);
  const rt_kernel **ks = calloc((size_t)n + 1, sizeof *ks);
  int rc = on && ks ? 0 : err_set(e, "out of memory");
  for (int i = 0; i < n && rc == 0; i++) on[i] = cg_spec_on(&specs[i], CG_TARGET_CUDA);
  if (rc == 0) rc = rt_kernels_get(cd_cpu, on, n, ks, e);
  for (int i = 0; i < n && rc == 0; i++) {
    entry *en = entry_for(ks[i]->name, &on[i], e);
    if (!en) rc = -1;
    else en->k = ks[i];
  }
  if (rc == 0 && cd_emulate) rc = add_emulated(on, n, e);
  free(on);
  free(ks);
  return rc;
}

int cd_setup(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  char why[256];
  if (!rt_nvrtc_available(why, sizeof why)) {
    fprintf(stderr, "NVRTC is missing (%s): the double needs real cubins\n", why);
    return 0;
  }
  const char *emu = getenv("PARSEC_CD_EMULATE");
  cd_emulate = emu && strcmp(emu, "1") == 0;
  if (sp_load_file(&cd_space, PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", &e) != 0 ||
      nw_search_layout(&cd_layout, &cd_space, &cd_space.net, &e) != 0 || rt_cpu_open(&cd_cpu, CG_F32, 0, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return -1;
  }
  /* every kernel the search network can need */
  cg_spec *specs;
  int n;
  if (pl_space_specs(&cd_space, &cd_space.net, &cd_layout, &specs, &n, &e) != 0 || cd_add_kernels(specs, n, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return -1;
  }
  free(specs);
  rt_cuda_driver_set(&DOUBLE);
  return 0;
}

int cd_teardown(void **state) {
  (void)state;
  nw_free(&cd_layout);
  sp_free(&cd_space);
  rt_backend_close(cd_cpu);
  for (int i = 0; i < nmods; i++) {
    emu_free(mods[i]);
    free(mods[i]);
  }
  nmods = 0;
  cd_ntable = 0;
  return 0;
}


int cd_add_eval_kernels(const gt_genotype *g, err_t *e) {
  nw_layout lay;
  if (nw_eval_layout(&lay, &cd_space, &cd_space.eval_net, g, e) != 0) return -1;
  int rc = 0;
  for (int mode = 0; mode < 2 && rc == 0; mode++) {
    pl_plan p;
    rc = pl_build_eval(&p, &cd_space, &cd_space.eval_net, &lay, g, mode ? PL_EVAL : PL_TRAIN, !mode, mode ? 0 : 0.4f, e);
    if (rc == 0) {
      rc = cd_add_kernels(p.specs, p.nspecs, e);
      pl_free(&p);
    }
  }
  nw_free(&lay);
  return rc;
}

double cd_last_logged(const char *dir, const char *key) {
  char path[512], line[8192], pat[64];
  snprintf(path, sizeof path, "%s/log.jsonl", dir);
  snprintf(pat, sizeof pat, "\"%s\":", key);
  FILE *f = fopen(path, "r");
  double v = NAN;
  while (f && fgets(line, sizeof line, f)) {
    const char *at = strstr(line, pat);
    v = at ? strtod(at + strlen(pat), NULL) : NAN;
  }
  if (f) fclose(f);
  return v;
}

void cd_scratch_data(char *dir, char *data, size_t cap, int n, int seed) {
  char cmd[1024];
  if (!mkdtemp(dir)) fail_msg("mkdtemp(%s) failed", dir);
  snprintf(cmd, sizeof cmd, "'%s' %s/img.npy %s/lab.npy %d 8 8 2 5 %d", PARSEC_MKDATA, dir, dir, n, seed);
  if (system(cmd) != 0) fail_msg("%s failed", cmd);
  snprintf(data, cap, "npy:%s/img.npy,%s/lab.npy", dir, dir);
}

void cd_scratch_remove(const char *dir) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}
