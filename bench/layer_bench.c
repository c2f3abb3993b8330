/* Per-layer timings at the DARTS search network's shapes (batch 64;
 * C 16 at 32x32, C 32 at 16x16, C 64 at 8x8), each parsec kernel (on the
 * CPU beside a naive loop nest computing the same forward), so later work
 * can see where time goes:
 *   layer_bench [--threads T] [--reps N] [--device cpu|cuda]
 * Prints one line per layer and shape: milliseconds per call of the
 * forward, the backward(s), and the naive forward.  On the CPU a figure is
 * the median of single calls; on a GPU, REPS calls queued back to back and
 * waited for once, over REPS (the kernel forms CUDA runs, the @gpu ones
 * included); there is no naive column there. */
#include "rt_kernels.h"
#include "rt_device.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static rt_backend *B;
static int REPS = 10, GPU;

static void die(err_t *e) {
  fprintf(stderr, "layer_bench: %s\n", err_msg(e));
  exit(1);
}

/* N values in [-1, 1) in the backend's memory (the CPU's is the host's,
   where the naive loops read it too) */
static float *buf(long n) {
  err_t e = ERR_INIT;
  float *h = malloc((size_t)n * 4), *d = B->alloc(B, (size_t)n * 4, &e);
  if (!h || !d) die(&e);
  for (long i = 0; i < n; i++) h[i] = (float)((i * 2654435761u % 1000) / 500.0 - 1.0);
  if (B->upload(B, d, h, (size_t)n * 4, &e)) die(&e);
  free(h);
  return d;
}

static void unbuf(void *p) { B->free(B, p); }

/* the median of REPS times in seconds, in milliseconds (sorts V) */
static double median_ms(double *v) {
  for (int i = 1; i < REPS; i++)
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return 1e3 * v[REPS / 2];
}

/* median milliseconds of REPS launches of SPEC with ARGS (pointers and ints/floats as void*) */
static double time_kernel(const cg_spec *s, long N, void **args, int nargs) {
  err_t e = ERR_INIT;
  const rt_kernel *k;
  if (rt_kernels_get(B, s, 1, &k, &e)) die(&e);
  void *params[16];
  params[0] = &N;
  for (int i = 0; i < nargs; i++) params[i + 1] = args[i];
  if (GPU) { /* one warm-up, then REPS queued launches */
    if (B->launch(B, k, N, params, &e) || B->sync(B, &e)) die(&e);
    double t0 = now();
    for (int r = 0; r < REPS; r++)
      if (B->launch(B, k, N, params, &e)) die(&e);
    if (B->sync(B, &e)) die(&e);
    return 1e3 * (now() - t0) / REPS;
  }
  double best[64];
  for (int r = 0; r < REPS; r++) {
    double t0 = now();
    B->launch(B, k, N, params, &e);
    best[r] = now() - t0;
  }
  return median_ms(best);
}

static double time_naive(void (*f)(void *), void *ctx) {
  if (GPU) return NAN;
  double best[64];
  for (int r = 0; r < REPS; r++) {
    double t0 = now();
    f(ctx);
    best[r] = now() - t0;
  }
  return median_ms(best);
}

/* one line of the table; "-" where a figure does not apply (NAN) */
static void row(const char *name, double fwd, double bd, double bw, double naive) {
  const double v[5] = {fwd, bd, bw, naive, naive / fwd};
  printf("  %-26s", name);
  for (int i = 0; i < 5; i++)
    if (isnan(v[i])) printf(" %9s", "-");
    else printf(i == 4 ? " %9.1f" : " %9.3f", v[i]);
  printf("\n");
}

typedef struct {
  long N, C, H, W, K, P, D, S;
  float *x, *y, *w;
} geo;

/* the naive loops: NCHW, one output at a time */
static void naive_dwconv(void *p) {
  geo *g = p;
  long OH = (g->H + 2 * g->P - g->D * (g->K - 1) - 1) / g->S + 1, OW = OH;
  for (long n = 0; n < g->N; n++)
    for (long c = 0; c < g->C; c++)
      for (long oh = 0; oh < OH; oh++)
        for (long ow = 0; ow < OW; ow++) {
          float s = 0;
          for (long i = 0; i < g->K; i++)
            for (long j = 0; j < g->K; j++) {
              long h = oh * g->S - g->P + i * g->D, q = ow * g->S - g->P + j * g->D;
              if (h >= 0 && h < g->H && q >= 0 && q < g->W) {
                float v = g->x[((n * g->C + c) * g->H + h) * g->W + q];
                s += g->w[(c * g->K + i) * g->K + j] * (v > 0 ? v : 0);
              }
            }
          g->y[((n * g->C + c) * OH + oh) * OW + ow] = s;
        }
}

static void naive_pool(void *p) {
  geo *g = p;
  long OH = (g->H + 2 * g->P - g->K) / g->S + 1, OW = OH;
  for (long n = 0; n < g->N; n++)
    for (long c = 0; c < g->C; c++)
      for (long oh = 0; oh < OH; oh++)
        for (long ow = 0; ow < OW; ow++) {
          float m = -INFINITY;
          for (long i = 0; i < g->K; i++)
            for (long j = 0; j < g->K; j++) {
              long h = oh * g->S - g->P + i, q = ow * g->S - g->P + j;
              if (h >= 0 && h < g->H && q >= 0 && q < g->W) m = fmaxf(m, g->x[((n * g->C + c) * g->H + h) * g->W + q]);
            }
          g->y[((n * g->C + c) * OH + oh) * OW + ow] = m;
        }
}

static void naive_bn(void *p) {
  geo *g = p;
  long hw = g->H * g->W;
  for (long c = 0; c < g->C; c++) {
    double s = 0, ss = 0;
    for (long n = 0; n < g->N; n++)
      for (long i = 0; i < hw; i++) {
        double v = g->x[(n * g->C + c) * hw + i];
        s += v;
        ss += v * v;
      }
    double m = s / (g->N * hw), istd = 1 / sqrt(ss / (g->N * hw) - m * m + 1e-5);
    for (long n = 0; n < g->N; n++)
      for (long i = 0; i < hw; i++) g->y[(n * g->C + c) * hw + i] = (float)((g->x[(n * g->C + c) * hw + i] - m) * istd);
  }
}

static void naive_conv1x1(void *p) {
  geo *g = p;
  long hw = g->H * g->W;
  for (long n = 0; n < g->N; n++)
    for (long co = 0; co < g->C; co++)
      for (long i = 0; i < hw; i++) {
        float s = 0;
        for (long ci = 0; ci < g->C; ci++) s += g->w[co * g->C + ci] * g->x[(n * g->C + ci) * hw + i];
        g->y[(n * g->C + co) * hw + i] = s;
      }
}

static void spec(cg_spec *s, const char *k, const geo *g, int pool) {
  err_t e = ERR_INIT;
  const cg_const c[] = {{"C", g->C},  {"H", g->H},  {"W", g->W},  {"KH", g->K}, {"KW", g->K}, {"SH", g->S},
                       {"SW", g->S}, {"PH", g->P}, {"PW", g->P}, {"DH", g->D}, {"DW", g->D}, {"RELU", 1}};
  int rc = cg_spec_make(s, k, c, pool ? 9 : 12, &e); /* a pool has no dilation or ReLU */
  if (rc) die(&e);
}

int main(int argc, char **argv) {
  int threads = 2;
  const char *device = "cpu";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) REPS = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
    else {
      fprintf(stderr, "usage: layer_bench [--threads T] [--reps N] [--device cpu|cuda]\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (REPS < 1 || REPS > 64) REPS = 10;
  err_t e = ERR_INIT;
  if (rt_device_open(&B, device, threads, 0, &e)) die(&e);
  GPU = strcmp(B->name, "cpu") != 0;
  const long shapes[3][2] = {{16, 32}, {32, 16}, {64, 8}};
  printf("# %s; batch 64; milliseconds per call (%s %d)\n", B->device, GPU ? "mean of" : "median of", REPS);
  printf("# %-26s %9s %9s %9s %9s %9s\n", "layer", "forward", "bwd-data", "bwd-w", "naive-fwd", "naive/fwd");
  printf("# (batch norm: statistics and apply, then both backward kernels; conv 1x1: bwd-data is both GEMMs)\n");
  for (int si = 0; si < 3; si++) {
    long C = shapes[si][0], H = shapes[si][1], N = 64, n = N * C * H * H;
    float *x = buf(n), *y = buf(n), *dy = buf(n), *dx = buf(n), *w = buf(C * (C + 25)), *dw = buf(C * (C + 25));
    int zero = 0;
    const long dw_geo[4][3] = {{3, 1, 1}, {5, 2, 1}, {3, 2, 2}, {5, 4, 2}}; /* K P D: sep 3, sep 5, dil 3, dil 5 */
    for (int k = 0; k < 4; k++) {
      geo g = {N, C, H, H, dw_geo[k][0], dw_geo[k][1], dw_geo[k][2], 1, x, y, w};
      cg_spec f, bd, bw;
      spec(&f, "dwconv_fwd", &g, 0);
      spec(&bd, "dwconv_bwd_data", &g, 0);
      spec(&bw, "dwconv_bwd_w", &g, 0);
      void *af[3] = {&y, &x, &w}, *ad[5] = {&dx, &dy, &x, &w, &zero}, *aw[3] = {&dw, &dy, &x};
      double tf = time_kernel(&f, N, af, 3), td = time_kernel(&bd, N, ad, 5), tw = time_kernel(&bw, N, aw, 3);
      double tn = time_naive(naive_dwconv, &g);
      char name[64];
      snprintf(name, sizeof name, "dwconv %ldx%ld d%ld C%ld %ldx%ld", g.K, g.K, g.D, C, H, H);
      row(name, tf, td, tw, tn);
    }
    for (int m = 0; m < 2; m++) {
      geo g = {N, C, H, H, 3, 1, 1, 1, x, y, w};
      cg_spec f, b;
      spec(&f, m ? "maxpool_fwd" : "avgpool_fwd", &g, 1);
      spec(&b, m ? "maxpool_bwd" : "avgpool_bwd", &g, 1);
      int *arg = (int *)buf(n); /* overwritten by the forward before the backward reads it */
      void *af[2] = {&y, &x}, *afm[3] = {&y, &arg, &x}, *ab[4] = {&dx, &dy, &arg, &zero}, *ab2[3] = {&dx, &dy, &zero};
      double tf = m ? time_kernel(&f, N, afm, 3) : time_kernel(&f, N, af, 2);
      double tb = m ? time_kernel(&b, N, ab, 4) : time_kernel(&b, N, ab2, 3);
      unbuf(arg);
      double tn = time_naive(naive_pool, &g);
      char name[64];
      snprintf(name, sizeof name, "%s 3x3 C%ld %ldx%ld", m ? "max pool" : "avg pool", C, H, H);
      row(name, tf, tb, NAN, tn);
    }
    {
      geo g = {N, C, H, H, 1, 0, 1, 1, x, y, w};
      float *save = buf(2 * C), *rm = buf(C), *rv = buf(C), *red = buf(2 * C);
      float mom = 0.1f, one = 1;
      void *nul = NULL;
      cg_spec st, ap, br, ba;
      const cg_const c[] = {{"C", C}, {"HW", H * H}, {"AFFINE", 0}};
      if (cg_spec_make(&st, "bn_stats", c, 2, &e) || cg_spec_make(&ap, "bn_apply", c, 3, &e) ||
          cg_spec_make(&br, "bn_bwd_reduce", c, 3, &e) || cg_spec_make(&ba, "bn_bwd_apply", c, 3, &e))
        die(&e);
      void *as[5] = {&save, &rm, &rv, &x, &mom}, *aa[7] = {&y, &x, &save, &nul, &nul, &zero, &one};
      void *ar[7] = {&red, &nul, &nul, &dy, &x, &save, &one}, *ab[8] = {&dx, &dy, &x, &save, &red, &nul, &zero, &one};
      double tf = time_kernel(&st, N, as, 5) + time_kernel(&ap, N, aa, 7);
      double tb = time_kernel(&br, N, ar, 7) + time_kernel(&ba, N, ab, 8);
      double tn = time_naive(naive_bn, &g);
      char name[64];
      snprintf(name, sizeof name, "batch norm C%ld %ldx%ld", C, H, H);
      row(name, tf, tb, NAN, tn);
      unbuf(save), unbuf(rm), unbuf(rv), unbuf(red);
    }
    {
      geo g = {N, C, H, H, 1, 0, 1, 1, x, y, w};
      long hw = H * H;
      double best = 1e9, bwd = 1e9;
      for (int r = 0; r < REPS; r++) { /* the best of REPS; on a GPU each waited for */
        double t0 = now();
        B->gemm(B, 0, 0, C, N * hw, C, 1, w, C, x, N * hw, 0, y, N * hw, &e);
        B->sync(B, &e);
        double t1 = now();
        B->gemm(B, 1, 0, C, N * hw, C, 1, w, C, dy, N * hw, 0, dx, N * hw, &e);
        B->gemm(B, 0, 1, C, C, N * hw, 1, dy, N * hw, x, N * hw, 1, dw, C, &e);
        B->sync(B, &e);
        double t2 = now();
        if (t1 - t0 < best) best = t1 - t0;
        if (t2 - t1 < bwd) bwd = t2 - t1;
      }
      double tn = time_naive(naive_conv1x1, &g);
      char name[64];
      snprintf(name, sizeof name, "conv 1x1 (GEMM) C%ld %ldx%ld", C, H, H);
      row(name, 1e3 * best, 1e3 * bwd, NAN, tn); /* bwd-data: both backwards */
    }
    unbuf(x), unbuf(y), unbuf(dy), unbuf(dx), unbuf(w), unbuf(dw);
  }
  rt_backend_close(B);
  return 0;
}
