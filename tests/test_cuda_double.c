/* The CUDA backend's host side, without a GPU: a test double of the driver
 * API (and of cuBLAS) stands in for libcuda.  Device memory is host memory;
 * a "module" is the cubin NVRTC really compiled (through the kernel cache),
 * and the function looked up in it by symbol is the C rendering of the same
 * spec in the same form (the GPU form where the kernel names one), so a
 * launch runs the same kernel source on the CPU.
 *
 * What this proves: the backend allocates, copies and zeroes the sizes the
 * plans need, loads each kernel by its symbol from the cubin NVRTC produced
 * for it, marshals launch arguments as CUDA's kernelParams (the size N
 * first), launches enough threads to cover every kernel's work items (one
 * block of whole warps per item for @block kernels), maps
 * row-major GEMMs onto column-major cuBLAS correctly, puts every copy,
 * launch and GEMM on its one stream, stages batches in page-locked memory
 * and does not rewrite them while their copy is queued (the double runs
 * queued copies late), records and replays graphs of repeated plans, and
 * reports failures with the call and the kernel; whole children, and
 * `parsec-run search` and `train` themselves, run through it give the CPU
 * backend's results, and a search step waits only where it must.  What it
 * does not prove: that the CUDA kernels compute correctly on a GPU (only
 * that they compile), their speed, how a real GPU overlaps the copies with
 * its work, or that the real driver accepts every call in a graph capture. */
#include "ktest.h"
#include "rt_cuda_driver.h"
#include "rt_nvrtc.h"
#include "rt_device.h"
#include "rt_model.h"
#include "rt_runner.h"
#include "rt_search.h"
#include "rt_train.h"
#include "sp_json.h"

#include <unistd.h>

#include <cblas.h>

rt_backend *KB; /* unused: ktest.h's double backend */

static rt_backend *CPU; /* float CPU backend: the C renderings the double runs */
static long launches, short_grids, gemms, block_launches, bad_blocks, gpu_forms;
static char last_error[256];

static int d_init(unsigned f) { return 0; }
static int d_count(int *n) { *n = 1; return 0; }
static int d_get(int *d, int i) { *d = i; return 0; }
static int d_name(char *s, int n, int d) { snprintf(s, (size_t)n, "test double"); return 0; }
static int d_attr(int *v, int a, int d) { *v = a == 75 ? 9 : 0; return 0; } /* compute capability 9.0 */
static int d_retain(void **c, int d) { *c = (void *)1; return 0; }
static int d_release(int d) { return 0; }
static int d_set(void *c) { return 0; }
static int d_alloc(unsigned long long *p, size_t n) {
  void *m = calloc(1, n);
  *p = (unsigned long long)(uintptr_t)m;
  return m ? 0 : 2; /* CUDA_ERROR_OUT_OF_MEMORY */
}
static int nqueue;
static long busy_frees;
static int d_free(unsigned long long p) {
  busy_frees += nqueue > 0; /* queued work may still write to P: the backend must synchronise first */
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
   send the new values and the results would differ from the CPU's. */
#define STREAM ((void *)7)
static void *pinned[64];
static int npinned;
static struct {
  void *dst;
  const void *src; /* NULL: a memset of zeros */
  size_t n;
} queue[64];
static long pinned_uploads, off_stream;

static void flush(void) {
  for (int i = 0; i < nqueue; i++)
    if (queue[i].src) memcpy(queue[i].dst, queue[i].src, queue[i].n);
    else memset(queue[i].dst, 0, queue[i].n);
  nqueue = 0;
}

static int on_stream(void *s) {
  off_stream += s != STREAM;
  flush();
  return 0;
}

static void enqueue(void *dst, const void *src, size_t n) {
  if (nqueue == 64) flush();
  queue[nqueue].dst = dst;
  queue[nqueue].src = src;
  queue[nqueue++].n = n;
}

static int is_pinned(const void *p) {
  for (int i = 0; i < npinned; i++)
    if (pinned[i] && (const char *)p >= (const char *)pinned[i] && (const char *)p < (const char *)pinned[i] + (1 << 20))
      return 1;
  return 0;
}

static int d_stream_create(void **s, unsigned flags) { *s = STREAM; return 0; }
static int d_stream_destroy(void *s) { return on_stream(s); }
static long stream_syncs;
static int d_stream_sync(void *s) {
  stream_syncs++;
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
static long bad_captures; /* calls a capture must not see */
static void *capturing;
static int d_htod(unsigned long long d, const void *s, size_t n, void *stream) {
  if (stream != STREAM) off_stream++;
  bad_captures += capturing != NULL;
  if (!is_pinned(s)) { /* pageable: the driver reads it before returning */
    flush();
    memcpy((void *)(uintptr_t)d, s, n);
    return 0;
  }
  pinned_uploads++;
  enqueue((void *)(uintptr_t)d, s, n);
  return 0;
}
static int d_dtoh(void *d, unsigned long long s, size_t n, void *stream) { /* there after a synchronisation */
  if (stream != STREAM) off_stream++;
  bad_captures += capturing != NULL;
  enqueue(d, (const void *)(uintptr_t)s, n);
  return 0;
}
static int d_load(void **mod, const void *image) {
  /* a cubin is an ELF file: what NVRTC wrote must be one */
  if (memcmp(image, "\x7f" "ELF", 4) != 0) return 200; /* CUDA_ERROR_INVALID_IMAGE */
  *mod = (void *)image;
  return 0;
}

/* symbol -> the C rendering of the same spec, compiled by the CPU backend */
typedef struct {
  char name[96];
  const rt_kernel *k;
  const cg_kernel *tk; /* its template: the sizes of its arguments, for recording */
} entry;
static entry table[512];
static int ntable;

static int d_func(void **fn, void *mod, const char *name) {
  for (int i = 0; i < ntable; i++)
    if (strcmp(table[i].name, name) == 0) {
      *fn = (void *)&table[i];
      return 0;
    }
  snprintf(last_error, sizeof last_error, "no kernel %s", name);
  return 500; /* CUDA_ERROR_NOT_FOUND */
}

/* Graphs: while the stream is being captured, launches, GEMMs and memsets
   are recorded (argument values copied, as the driver copies them) and run
   when the instantiated graph is launched. */
typedef struct {
  char kind; /* 'k' launch, 'g' GEMM, 'z' memset */
  const entry *en;
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
static long captures, graph_runs;

static void record(const rec *r) {
  graph *g = capturing;
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 256;
    g->v = realloc(g->v, sizeof(rec) * (size_t)g->cap);
  }
  g->v[g->n++] = *r;
}

static void run_kernel(const entry *en, void **params) {
  launches++;
  gpu_forms += strstr(en->k->name, "_px_") || strstr(en->k->name, "_tap_"); /* dwconv_fwd_px_<hash> */
  ((void (*)(void **))en->k->fn)(params);
}

static int d_launch(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                    unsigned shared, void *stream, void **params, void **extra) {
  const entry *en = fn;
  const rt_kernel *k = en->k;
  long N = *(long *)params[0];
  long items = (k->grid.g0n * N + k->grid.g0c) * k->grid.g1;
  if ((long)gx * gy * gz * bx * by * bz < items) short_grids++;
  /* an @block kernel: exactly one block per work item, whole warps (the
     block sum's shuffles assume them) */
  if (k->grid.block) {
    block_launches++;
    if ((long)gx * gy * gz != items || by * bz != 1 || bx % 32 != 0 || bx > 1024) bad_blocks++;
  }
  if (capturing) {
    if (stream != STREAM) bad_captures++;
    rec r = {.kind = 'k', .en = en};
    memcpy(r.args[0], params[0], sizeof(long));
    for (int i = 0; i < en->tk->nargs; i++) {
      cg_argkind a = en->tk->arg_kind[i];
      memcpy(r.args[i + 1], params[i + 1], a == CG_ARG_INT ? sizeof(int) : a == CG_ARG_FLOAT ? sizeof(float) : 8);
    }
    record(&r);
    return 0;
  }
  on_stream(stream);
  run_kernel(en, params);
  return 0;
}

static int d_memset(unsigned long long d, unsigned char v, size_t n, void *stream) {
  if (stream != STREAM || v != 0) off_stream++;
  if (capturing) {
    rec r = {.kind = 'z', .dst = (void *)(uintptr_t)d, .bytes = n};
    record(&r);
    return 0;
  }
  enqueue((void *)(uintptr_t)d, NULL, n);
  return 0;
}

static int refuse_capture;
static int d_begin_capture(void *s, int mode) {
  if (capturing || s != STREAM || refuse_capture) return 900; /* CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED */
  flush();
  capturing = calloc(1, sizeof(graph));
  captures++;
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
  graph_runs++;
  for (int i = 0; i < x->n; i++) {
    const rec *r = &x->v[i];
    if (r->kind == 'k') {
      void *params[CG_MAXARGS + 1];
      for (int a = 0; a <= r->en->tk->nargs; a++) params[a] = (void *)r->args[a];
      run_kernel(r->en, params);
    } else if (r->kind == 'g') {
      gemms++;
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
  gemms++;
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

static sp_space SP;
static nw_layout LAY;

/* SPECS in the form CUDA runs (the GPU forms where a kernel names one),
   rendered for C and compiled by the CPU backend: the double's "GPU code" */
static int add_kernels(const cg_spec *specs, int n, err_t *e) {
  cg_spec *on = calloc((size_t)n + 1, sizeof *on);
  const rt_kernel **ks = calloc((size_t)n + 1, sizeof *ks);
  int rc = on && ks ? 0 : err_set(e, "out of memory");
  for (int i = 0; i < n && rc == 0; i++) on[i] = cg_spec_on(&specs[i], CG_TARGET_CUDA);
  if (rc == 0) rc = rt_kernels_get(CPU, on, n, ks, e);
  for (int i = 0; i < n && rc == 0; i++) {
    int seen = 0;
    for (int j = 0; j < ntable && !seen; j++) seen = strcmp(table[j].name, ks[i]->name) == 0;
    if (seen) continue;
    if (ntable == 512) rc = err_set(e, "the double's kernel table is full");
    else {
      snprintf(table[ntable].name, sizeof table[ntable].name, "%s", ks[i]->name);
      table[ntable].tk = on[i].k;
      table[ntable++].k = ks[i];
    }
  }
  free(on);
  free(ks);
  return rc;
}

static int setup(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  char why[256];
  if (!rt_nvrtc_available(why, sizeof why)) {
    fprintf(stderr, "NVRTC is missing (%s): the double needs real cubins\n", why);
    return 0;
  }
  if (sp_load_file(&SP, PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", &e) != 0 ||
      nw_search_layout(&LAY, &SP, &SP.net, &e) != 0 || rt_cpu_open(&CPU, CG_F32, 0, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return -1;
  }
  /* every kernel the search network can need */
  cg_spec *specs;
  int n;
  if (pl_space_specs(&SP, &SP.net, &LAY, &specs, &n, &e) != 0 || add_kernels(specs, n, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return -1;
  }
  free(specs);
  rt_cuda_driver_set(&DOUBLE);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nw_free(&LAY);
  sp_free(&SP);
  rt_backend_close(CPU);
  return 0;
}

/* The same model on the CPU (0) and through the CUDA backend (1). */
typedef struct {
  rt_backend *gpu, *bs[2];
  rt_model m[2];
  rt_runner r[2];
  long N;
} pair;

static void pair_open(pair *q, int slots) {
  err_t e = ERR_INIT;
  if (rt_device_open(&q->gpu, "cuda", 0, 0, &e) != 0) fail_msg("%s", err_msg(&e));
  q->bs[0] = CPU;
  q->bs[1] = q->gpu;
  q->N = 8;
  for (int i = 0; i < 2; i++)
    if (rt_model_init(&q->m[i], q->bs[i], &LAY, 5, &e) != 0 ||
        rt_runner_init(&q->r[i], q->bs[i], &q->m[i], (int)q->N, 2 * 8 * 8, slots, &e) != 0)
      fail_msg("%s", err_msg(&e));
}

static void pair_close(pair *q) {
  for (int i = 0; i < 2; i++) {
    rt_runner_free(&q->r[i]);
    rt_model_free(&q->m[i]);
  }
  rt_backend_close(q->gpu);
}

/* batch number K, staged on both sides where the last one's copy came from */
static void pair_stage(pair *q, int k) {
  for (int i = 0; i < 2; i++) {
    float *img = q->r[i].himg;
    for (long j = 0; j < q->N * 2 * 8 * 8; j++) img[j] = (float)sin(0.3 * j + k);
    for (long j = 0; j < q->N; j++) q->r[i].hlab[j] = (int)((j + k) % 5);
  }
}

/* one SGD step of plan P on both sides: their log-likelihoods agree */
static void pair_step(pair *q, const pl_plan *p, const char *what, int k) {
  err_t e = ERR_INIT;
  rt_result res[2];
  for (int i = 0; i < 2; i++) {
    double gn;
    if (rt_model_zero_grads(&q->m[i], &e) != 0 || rt_runner_run(&q->r[i], p, q->N, 1.0f / q->N, 0.1f, &res[i], &e) != 0)
      fail_msg("%s: %s", q->bs[i]->name, err_msg(&e));
    rt_model_touch(&q->m[i], p);
    if (rt_model_sgd(&q->m[i], 0.025f, 0.9f, 3e-4f, 5, &gn, &e) != 0) fail_msg("%s", err_msg(&e));
  }
  if (fabs(res[0].loglik - res[1].loglik) > 1e-4 * fabs(res[0].loglik))
    fail_msg("%s %d: log-likelihood %.7g on the CPU, %.7g through the CUDA backend", what, k, res[0].loglik, res[1].loglik);
}

/* the same children, on the CPU and through the CUDA backend */
static void test_children_match_cpu(void **state) {
  (void)state;
  if (!ntable) skip();
  err_t e = ERR_INIT;
  pair q;
  pair_open(&q, 3);
  assert_string_equal(q.gpu->name, "cuda");
  assert_non_null(strstr(q.gpu->device, "sm_90"));
  rng_t rng;
  rng_seed(&rng, 3);
  gt_genotype gs[3];
  for (int child = 0; child < 3; child++) {
    gt_genotype *g = &gs[child];
    g->nodes = SP.nodes;
    g->inputs = SP.inputs;
    for (int t = 0; t < 2; t++)
      for (int n = 0; n < SP.nodes; n++)
        for (int i = 0; i < SP.inputs; i++) {
          g->pred[t][n][i] = (int)rng_below(&rng, (uint32_t)(2 + n));
          g->prim[t][n][i] = (int)rng_below(&rng, (uint32_t)SP.nprims);
        }
    pl_plan p;
    if (pl_build_child(&p, &SP, &SP.net, &LAY, g, PL_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
    pair_stage(&q, child);
    pair_step(&q, &p, "child", child);
    pl_free(&p);
  }
  /* the three children's forwards queued together, read back by one wait */
  for (int i = 0; i < 2; i++) {
    for (int c = 0; c < 3; c++) {
      pl_plan p;
      if (pl_build_child(&p, &SP, &SP.net, &LAY, &gs[c], PL_FORWARD, &e) != 0 ||
          rt_runner_submit(&q.r[i], &p, q.N, 0, 0, c, &e) != 0)
        fail_msg("%s: %s", q.bs[i]->name, err_msg(&e));
      pl_free(&p);
    }
    if (rt_runner_wait(&q.r[i], &e) != 0) fail_msg("%s", err_msg(&e));
  }
  for (int c = 0; c < 3; c++) {
    const rt_result *a = &q.r[0].results[c], *b = &q.r[1].results[c];
    if (fabs(a->loglik - b->loglik) > 1e-4 * fabs(a->loglik) || a->correct != b->correct)
      fail_msg("queued child %d: log-likelihood %.7g on the CPU, %.7g through the CUDA backend", c, a->loglik,
               b->loglik);
  }
  /* the weights after three SGD steps agree too */
  float *w = malloc(LAY.nparams * 4);
  q.gpu->download(q.gpu, w, q.m[1].params, LAY.nparams * 4, &e);
  const float *wc = q.m[0].params;
  for (size_t k = 0; k < LAY.nparams; k++)
    if (fabsf(w[k] - wc[k]) > 1e-5f + 1e-4f * fabsf(wc[k])) fail_msg("weight %zu: %g on the CPU, %g via CUDA", k, wc[k], w[k]);
  free(w);
  assert_true(launches > 100);
  assert_true(gemms > 10);
  assert_int_equal(short_grids, 0);
  assert_true(block_launches > 10); /* BN statistics and their backward */
  assert_int_equal(bad_blocks, 0);
  assert_true(gpu_forms > 10); /* depthwise convs and pools ran in their GPU forms */
  assert_true(pinned_uploads >= 6); /* each child's images and labels, from page-locked staging */
  assert_int_equal(off_stream, 0);  /* every copy, launch and GEMM on the backend's stream */
  assert_int_equal(busy_frees, 0);
  assert_true(q.gpu->mem_used(q.gpu) == (size_t)1 << 32);
  pair_close(&q);
}

/* A plan that repeats runs once step by step, is recorded at its second
   run and then launched as a graph: four training steps of one child give
   the CPU's; a backend that cannot record falls back to the steps and says
   why. */
static void test_graph_replays_plan(void **state) {
  (void)state;
  if (!ntable) skip();
  err_t e = ERR_INIT;
  pair q;
  pair_open(&q, 1);
  rt_runner_use_graphs(&q.r[0], 1); /* no graphs on the CPU: a no-op */
  rt_runner_use_graphs(&q.r[1], 1);
  assert_int_equal(q.r[0].graphs, 0);
  gt_genotype g;
  g.nodes = SP.nodes;
  g.inputs = SP.inputs;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < SP.nodes; n++)
      for (int i = 0; i < SP.inputs; i++) {
        g.pred[t][n][i] = n + i < 2 ? n + i : 0; /* sep_conv and pools on every cell */
        g.prim[t][n][i] = (n + 2 * i + t) % SP.nprims;
      }
  pl_plan p;
  if (pl_build_child(&p, &SP, &SP.net, &LAY, &g, PL_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
  long captured = captures, runs = graph_runs;
  for (int step = 0; step < 4; step++) {
    pair_stage(&q, step);
    pair_step(&q, &p, "step through a graph", step);
    assert_int_equal(captures - captured, step > 0); /* recorded once, at the second step */
    assert_int_equal(graph_runs - runs, step);       /* launched from then on */
  }
  assert_int_equal(q.r[1].graph_launches, 3);
  /* a larger plan moves the arena: the recording, made in the old one, is
     dropped, and the child runs step by step again */
  pl_plan big;
  if (pl_build_supernet(&big, &SP, &SP.net, &LAY, PL_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
  assert_true(pl_arena_bytes(&big, q.N, 4) > pl_arena_bytes(&p, q.N, 4));
  pair_stage(&q, 4);
  pair_step(&q, &big, "supernet step", 4);
  pl_free(&big);
  pair_stage(&q, 5);
  pair_step(&q, &p, "step after the arena moved", 5);
  assert_int_equal(q.r[1].graph_launches, 3);
  assert_int_equal(captures - captured, 1);
  /* a runner that cannot record */
  refuse_capture = 1;
  rt_runner_free(&q.r[1]);
  if (rt_runner_init(&q.r[1], q.gpu, &q.m[1], (int)q.N, 2 * 8 * 8, 1, &e) != 0) fail_msg("%s", err_msg(&e));
  rt_runner_use_graphs(&q.r[1], 1);
  for (int step = 6; step < 8; step++) {
    pair_stage(&q, step);
    pair_step(&q, &p, "step without a graph", step);
  }
  assert_int_equal(q.r[1].graphs, 0); /* the refused capture turned recording off, with the reason */
  assert_non_null(strstr(q.r[1].graphs_off, "cuStreamBeginCapture"));
  assert_int_equal(bad_captures, 0);
  refuse_capture = 0;
  pl_free(&p);
  pair_close(&q);
}

/* the last value of "KEY": in a run's log.jsonl (NAN when absent) */
static double last_logged(const char *dir, const char *key) {
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

/* DIR (a mkdtemp template) made, holding N synthetic 2x8x8 images of 5
   classes from SEED (tests/mkdata); DATA names them for --data */
static void scratch_data(char *dir, char *data, size_t cap, int n, int seed) {
  char cmd[1024];
  if (!mkdtemp(dir)) fail_msg("mkdtemp(%s) failed", dir);
  snprintf(cmd, sizeof cmd, "'%s' %s/img.npy %s/lab.npy %d 8 8 2 5 %d", PARSEC_MKDATA, dir, dir, n, seed);
  if (system(cmd) != 0) fail_msg("%s failed", cmd);
  snprintf(data, cap, "npy:%s/img.npy,%s/lab.npy", dir, dir);
}

static void scratch_remove(const char *dir) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* `parsec-run search` itself, in process, on the CPU and through the CUDA
   backend from one seed: the same distribution, and the GPU's memory in the
   log.  Three children queued per wait, the gradient norm read back once. */
static void test_search_runs_as_on_the_cpu(void **state) {
  (void)state;
  if (!ntable) skip();
  char dir[] = "/tmp/parsec-double-XXXXXX", data[600], out[2][600];
  scratch_data(dir, data, sizeof data, 256, 1);
  const char *devices[2] = {"cpu", "cuda"};
  long syncs0 = stream_syncs;
  for (int i = 0; i < 2; i++) {
    snprintf(out[i], sizeof out[i], "%s/search-%s", dir, devices[i]);
    rt_search_opts o = {.space = PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", .data = data, .out = out[i],
                        .epochs = 2, .samples = 3, .batch = 16, .limit = -1, .seed = 5, .threads = 0,
                        .temperature = NAN, .split = NAN, .arch_lr = NAN, .device = devices[i], .quiet = 1};
    err_t e = ERR_INIT;
    if (rt_search_run(&o, &e) != 0) fail_msg("search on %s: %s", devices[i], err_msg(&e));
  }
  double h[2] = {last_logged(out[0], "entropy"), last_logged(out[1], "entropy")};
  double l[2] = {last_logged(out[0], "train_loss"), last_logged(out[1], "train_loss")};
  if (!(fabs(h[0] - h[1]) < 1e-4 * h[0]) || !(fabs(l[0] - l[1]) < 1e-3 * l[0]))
    fail_msg("entropy %.7g / train loss %.7g on the CPU, %.7g / %.7g through the CUDA backend", h[0], l[0], h[1], l[1]);
  assert_true(isnan(last_logged(out[0], "device_used_peak_bytes")));
  assert_true(last_logged(out[1], "device_used_peak_bytes") == (double)((size_t)1 << 32));
  /* the mode's evaluation, 8 batches an epoch: the first step by step, the
     second recorded, the rest replayed; no child is ever recorded */
  assert_true(last_logged(out[1], "graph_launches") == 14);
  /* 2 epochs of 8 steps (128 images each way, batch 16). A step waits 4
     times: for its forwards, its training passes, the gradient norm and the
     logits' update; the mode's evaluation once a batch (8 an epoch); the
     rest (checkpoints, the arena growing, frees) 33 times here, allowed 40.
     A wait per child would add 96, one more per step 16. */
  long waits = stream_syncs - syncs0;
  if (waits > 4 * 16 + 16 + 40) fail_msg("the CUDA search waited %ld times in 16 steps", waits);
  scratch_remove(dir);
}

/* `parsec-run train` in process, on the CPU and through the CUDA backend:
   the same losses, each step after the first replayed as a graph (drop path,
   the auxiliary head), and the GPU's memory in the log */
static void test_training_runs_as_on_the_cpu(void **state) {
  (void)state;
  if (!ntable) skip();
  static const char *v2 =
      "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
      "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
      "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
  err_t e = ERR_INIT;
  gt_genotype g;
  if (gt_parse(&SP, v2, &g, "DARTS_V2", &e) != 0) fail_msg("%s", err_msg(&e));
  /* the evaluation network's kernels join the double's table */
  nw_layout lay;
  if (nw_eval_layout(&lay, &SP, &SP.eval_net, &g, &e) != 0) fail_msg("%s", err_msg(&e));
  for (int mode = 0; mode < 2; mode++) {
    pl_plan p;
    if (pl_build_eval(&p, &SP, &SP.eval_net, &lay, &g, mode ? PL_EVAL : PL_TRAIN, !mode, mode ? 0 : 0.4f, &e) != 0 ||
        add_kernels(p.specs, p.nspecs, &e) != 0)
      fail_msg("%s", err_msg(&e));
    pl_free(&p);
  }
  nw_free(&lay);
  char dir[] = "/tmp/parsec-double-XXXXXX", data[600], geno[600], out[2][600];
  scratch_data(dir, data, sizeof data, 80, 2);
  snprintf(geno, sizeof geno, "%s/genotype.txt", dir);
  FILE *f = fopen(geno, "w");
  if (!f || fputs(v2, f) < 0 || fclose(f) != 0) fail_msg("cannot write %s", geno);
  const char *devices[2] = {"cpu", "cuda"};
  for (int i = 0; i < 2; i++) {
    snprintf(out[i], sizeof out[i], "%s/train-%s", dir, devices[i]);
    rt_train_opts o = {.genotype = geno, .space = PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", .data = data,
                       .out = out[i], .layers = -1, .channels = -1, .epochs = 2, .batch = 16, .cutout = -1,
                       .limit = -1, .seed = 4, .threads = -1, .lr = NAN, .drop_path = 0.3, .auxiliary = 1,
                       .device = devices[i], .progress = 0, .quiet = 1};
    if (rt_train_run(&o, &e) != 0) fail_msg("train on %s: %s", devices[i], err_msg(&e));
  }
  double l[2] = {last_logged(out[0], "train_loss"), last_logged(out[1], "train_loss")};
  if (!(fabs(l[0] - l[1]) < 1e-3 * l[0])) fail_msg("train loss %.7g on the CPU, %.7g through the CUDA backend", l[0], l[1]);
  /* 80 images, batch 16: 5 steps an epoch; the first step of the run goes
     step by step, the second is recorded, the rest replay it */
  assert_true(isnan(last_logged(out[0], "graph_launches")));
  assert_true(last_logged(out[1], "graph_launches") == 9);
  assert_true(last_logged(out[1], "device_used_peak_bytes") > 0);
  scratch_remove(dir);
}

/* a kernel the module lacks is reported with the call and the symbol */
static void test_missing_kernel_reported(void **state) {
  (void)state;
  if (!ntable) skip();
  err_t e = ERR_INIT;
  rt_backend *gpu;
  if (rt_device_open(&gpu, "cuda", 0, 0, &e) != 0) fail_msg("%s", err_msg(&e));
  int keep = ntable;
  ntable = 0; /* every lookup fails */
  cg_spec s;
  const rt_kernel *k;
  assert_int_equal(cg_spec_make(&s, "axpy", CG_CONSTS({"M", 12345}), &e), 0);
  assert_int_equal(rt_kernels_get(gpu, &s, 1, &k, &e), -1);
  assert_non_null(strstr(err_msg(&e), "cuModuleGetFunction(axpy_"));
  err_clear(&e);
  ntable = keep;
  rt_backend_close(gpu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_children_match_cpu),
      cmocka_unit_test(test_graph_replays_plan),
      cmocka_unit_test(test_search_runs_as_on_the_cpu),
      cmocka_unit_test(test_training_runs_as_on_the_cpu),
      cmocka_unit_test(test_missing_kernel_reported),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
