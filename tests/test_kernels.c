/* Every kernel template, rendered for the C target in double precision,
 * against the references of ref.c (forward) and finite differences
 * (backward), at several shapes: odd sizes, stride 2 on odd resolutions,
 * batch 1, dilation, rectangular kernels, grouped convs. */
#include "ktest.h"
#include "ref.h"

rt_backend *KB;

/* ---------- convolutions ---------- */

typedef struct {
  int N, CI, CO, G, H, W;
  ref_geom g;
  int relu;
} ccase;

typedef struct {
  const ccase *c;
  cg_spec fwd;
  double *x, *w, *y, *r;
  long ny;
} cctx;

static int depthwise(const ccase *c) { return c->G == c->CI && c->CI == c->CO && c->G > 1; }

static void geom_spec(cg_spec *s, const ccase *c, const char *name) {
  const ref_geom *g = &c->g;
  err_t e = ERR_INIT;
  if (cg_spec_make(s, name,
                   CG_CONSTS({"C", c->CI}, {"H", c->H}, {"W", c->W}, {"KH", g->kh}, {"KW", g->kw}, {"SH", g->sh},
                             {"SW", g->sw}, {"PH", g->ph}, {"PW", g->pw}, {"DH", g->dh}, {"DW", g->dw}, {"RELU", c->relu}),
                   &e) != 0)
    fail_msg("%s", err_msg(&e));
}

static double conv_loss(void *p) {
  cctx *t = p;
  karg a[3] = {KP(t->y), KP(t->x), KP(t->w)};
  kt_run(&t->fwd, t->c->N, 3, a);
  return kt_dot(t->y, t->r, t->ny);
}

/* depthwise: forward against the reference, both backwards against finite
   differences, and the accumulate flags */
static void check_dwconv(const ccase *c) {
  const ref_geom *g = &c->g;
  int OH = ref_out(c->H, g->kh, g->sh, g->ph, g->dh), OW = ref_out(c->W, g->kw, g->sw, g->pw, g->dw);
  long nx = (long)c->N * c->CI * c->H * c->W, ny = (long)c->N * c->CO * OH * OW;
  long nw = (long)c->CO * (c->CI / c->G) * g->kh * g->kw;
  double *xn = kt_randv(nx), *w = kt_randv(nw), *yn = kt_zeros(ny), *yref = kt_zeros(ny);
  double *x = kt_zeros(nx), *y = kt_zeros(ny), *r = kt_randv(ny);
  ref_conv(yn, xn, w, c->N, c->CI, c->CO, c->G, c->H, c->W, *g, c->relu);
  ref_to_cnhw(x, xn, c->N, c->CI, c->H, c->W);
  ref_to_cnhw(yref, yn, c->N, c->CO, OH, OW);
  cctx t = {c, {0}, x, w, y, r, ny};
  geom_spec(&t.fwd, c, "dwconv_fwd");
  conv_loss(&t);
  kt_close("depthwise conv forward", y, yref, ny, 1e-12, 1e-12);
  /* backward: loss = <y, r>, so dy = r */
  cg_spec bd, bw;
  geom_spec(&bd, c, "dwconv_bwd_data");
  geom_spec(&bw, c, "dwconv_bwd_w");
  double *dx = kt_zeros(nx), *dw = kt_zeros(nw);
  karg ad[5] = {KP(dx), KP(r), KP(x), KP(w), KI(0)};
  kt_run(&bd, c->N, 5, ad);
  karg aw[3] = {KP(dw), KP(r), KP(x)};
  kt_run(&bw, c->N, 3, aw);
  kt_fd("depthwise conv backward (input)", x, dx, nx, conv_loss, &t);
  kt_fd("depthwise conv backward (weights)", w, dw, nw, conv_loss, &t);
  /* accumulate: dx += ..., dw += ... */
  double *dx2 = malloc((size_t)nx * sizeof *dx2), *want = malloc((size_t)nx * sizeof *want);
  for (long i = 0; i < nx; i++) dx2[i] = 1, want[i] = 1 + dx[i];
  karg ad2[5] = {KP(dx2), KP(r), KP(x), KP(w), KI(1)};
  kt_run(&bd, c->N, 5, ad2);
  kt_close("depthwise conv backward accumulate", dx2, want, nx, 1e-12, 1e-12);
  double *dw2 = malloc((size_t)nw * sizeof *dw2);
  memcpy(dw2, dw, (size_t)nw * sizeof *dw2);
  kt_run(&bw, c->N, 3, aw);
  for (long i = 0; i < nw; i++) dw2[i] *= 2;
  kt_close("depthwise conv weight gradient accumulates", dw, dw2, nw, 1e-12, 1e-12);
  free(xn), free(w), free(yn), free(yref), free(x), free(y), free(r), free(dx), free(dw), free(dx2), free(want),
      free(dw2);
}

/* dense and grouped: im2col, then the GEMM (a plain loop here) gives the
   reference convolution; col2im is im2col's adjoint (finite differences) */
typedef struct {
  cg_spec s;
  double *x, *col, *r;
  long N, ncol;
} ictx;

static double im2col_loss(void *p) {
  ictx *t = p;
  karg a[2] = {KP(t->col), KP(t->x)};
  kt_run(&t->s, t->N, 2, a);
  return kt_dot(t->col, t->r, t->ncol);
}

static void check_conv(const ccase *c) {
  if (depthwise(c)) {
    check_dwconv(c);
    return;
  }
  const ref_geom *g = &c->g;
  int OH = ref_out(c->H, g->kh, g->sh, g->ph, g->dh), OW = ref_out(c->W, g->kw, g->sw, g->pw, g->dw);
  long kk = (long)g->kh * g->kw, cig = c->CI / c->G, cog = c->CO / c->G, P = (long)c->N * OH * OW;
  long nx = (long)c->N * c->CI * c->H * c->W, ny = (long)c->N * c->CO * OH * OW, nw = c->CO * cig * kk;
  long ncol = c->CI * kk * P;
  double *xn = kt_randv(nx), *w = kt_randv(nw), *yn = kt_zeros(ny), *yref = kt_zeros(ny), *x = kt_zeros(nx);
  double *col = kt_zeros(ncol), *y = kt_zeros(ny);
  ref_conv(yn, xn, w, c->N, c->CI, c->CO, c->G, c->H, c->W, *g, c->relu);
  ref_to_cnhw(x, xn, c->N, c->CI, c->H, c->W);
  ref_to_cnhw(yref, yn, c->N, c->CO, OH, OW);
  ictx t = {{0}, x, col, kt_randv(ncol), c->N, ncol};
  geom_spec(&t.s, c, "im2col");
  im2col_loss(&t);
  for (long gi = 0; gi < c->G; gi++)
    for (long co = 0; co < cog; co++)
      for (long p = 0; p < P; p++) {
        double s = 0;
        for (long k = 0; k < cig * kk; k++) s += w[((gi * cog + co) * cig) * kk + k] * col[(gi * cig * kk + k) * P + p];
        y[(gi * cog + co) * P + p] = s;
      }
  kt_close("convolution through im2col", y, yref, ny, 1e-12, 1e-12);
  cg_spec b;
  geom_spec(&b, c, "col2im");
  double *dx = kt_zeros(nx);
  karg a[4] = {KP(dx), KP(t.r), KP(x), KI(0)};
  kt_run(&b, c->N, 4, a);
  kt_fd("col2im (the adjoint of im2col)", x, dx, nx, im2col_loss, &t);
  free(xn), free(w), free(yn), free(yref), free(x), free(col), free(y), free(t.r), free(dx);
}

static void test_dwconv(void **state) {
  (void)state;
  const ccase cases[] = {
      {2, 3, 3, 3, 7, 7, {3, 3, 1, 1, 1, 1, 1, 1}, 1},   /* sep_conv 3x3 */
      {1, 2, 2, 2, 7, 7, {3, 3, 2, 2, 1, 1, 1, 1}, 1},   /* stride 2 on an odd size, batch 1 */
      {3, 2, 2, 2, 9, 9, {5, 5, 2, 2, 2, 2, 1, 1}, 0},   /* 5x5 stride 2, no relu */
      {2, 2, 2, 2, 8, 8, {3, 3, 1, 1, 2, 2, 2, 2}, 1},   /* dil_conv 3x3 */
      {2, 2, 2, 2, 7, 7, {5, 5, 2, 2, 4, 4, 2, 2}, 1},   /* dil_conv 5x5 stride 2, odd */
      {2, 2, 2, 2, 5, 6, {3, 1, 1, 1, 1, 0, 1, 1}, 0},   /* rectangular */
      {2, 2, 2, 2, 7, 9, {3, 5, 1, 2, 1, 2, 1, 2}, 1},   /* stride (1, 2), dilated across */
      {2, 2, 2, 2, 8, 7, {5, 3, 2, 1, 2, 1, 2, 1}, 1},   /* stride (2, 1), dilated down */
      {1, 2, 2, 2, 10, 11, {3, 3, 3, 3, 1, 1, 1, 1}, 0}, /* stride 3: three column phases */
  };
  for (int f = 0; f < 2; f++) { /* the CPU forms, then the GPU forms */
    kt_forms = f ? CG_TARGET_CUDA : CG_TARGET_C;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_conv(&cases[i]);
  }
  kt_forms = CG_TARGET_C;
}

static void test_conv(void **state) {
  (void)state;
  const ccase cases[] = {
      {2, 3, 4, 1, 6, 6, {3, 3, 1, 1, 1, 1, 1, 1}, 0},   /* the stem */
      {1, 1, 3, 1, 5, 5, {3, 3, 1, 1, 1, 1, 1, 1}, 0},   /* one input channel, batch 1 */
      {2, 4, 4, 1, 7, 7, {1, 7, 1, 2, 0, 3, 1, 1}, 1},   /* 1x7 at stride (1, 2), odd */
      {2, 4, 4, 1, 7, 4, {7, 1, 2, 1, 3, 0, 1, 1}, 0},   /* 7x1 at stride (2, 1) */
      {2, 4, 6, 2, 5, 5, {3, 3, 2, 2, 1, 1, 1, 1}, 1},   /* grouped */
      {2, 2, 2, 1, 6, 6, {3, 3, 1, 1, 2, 2, 2, 2}, 0},   /* dilated dense */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_conv(&cases[i]);
}

/* ---------- gather (ReLU and factorized-reduce halves) ---------- */

typedef struct {
  cg_spec fwd;
  double *x, *y, *r;
  long N, ny;
} gctx;

static double gather_loss(void *p) {
  gctx *t = p;
  karg a[2] = {KP(t->y), KP(t->x)};
  kt_run(&t->fwd, t->N, 2, a);
  return kt_dot(t->y, t->r, t->ny);
}

static void test_gather(void **state) {
  (void)state;
  const int cases[][6] = {/* N C H W S O, relu on */
                          {2, 3, 5, 5, 1, 0}, {2, 2, 7, 7, 2, 0}, {2, 2, 7, 7, 2, 1}, {1, 2, 6, 6, 2, 1}};
  for (size_t i = 0; i < 2 * sizeof cases / sizeof cases[0]; i++) { /* the CPU forms, then the GPU forms */
    kt_forms = i < sizeof cases / sizeof cases[0] ? CG_TARGET_C : CG_TARGET_CUDA;
    const int *c = cases[i % (sizeof cases / sizeof cases[0])];
    int N = c[0], C = c[1], H = c[2], W = c[3], S = c[4], O = c[5];
    int OH = (H + S - 1) / S, OW = (W + S - 1) / S;
    long nx = (long)N * C * H * W, ny = (long)N * C * OH * OW;
    double *xn = kt_randv(nx), *x = kt_zeros(nx), *yn = kt_zeros(ny), *yref = kt_zeros(ny), *y = kt_zeros(ny);
    ref_gather(yn, xn, N, C, H, W, S, O, 1);
    ref_to_cnhw(x, xn, N, C, H, W);
    ref_to_cnhw(yref, yn, N, C, OH, OW);
    gctx t = {{0}, x, y, kt_randv(ny), N, ny};
    KSPEC(f, "gather_fwd", {"C", C}, {"H", H}, {"W", W}, {"S", S}, {"O", O}, {"RELU", 1});
    t.fwd = f;
    gather_loss(&t);
    kt_close("gather forward", y, yref, ny, 0, 0);
    KSPEC(b, "gather_bwd", {"C", C}, {"H", H}, {"W", W}, {"S", S}, {"O", O}, {"RELU", 1});
    double *dx = kt_zeros(nx);
    karg a[4] = {KP(dx), KP(t.r), KP(x), KI(0)};
    kt_run(&b, N, 4, a);
    kt_fd("gather backward", x, dx, nx, gather_loss, &t);
    double *dx2 = kt_zeros(nx), *want = kt_zeros(nx); /* accumulate: dx += ... */
    for (long k = 0; k < nx; k++) dx2[k] = 0.5, want[k] = 0.5 + dx[k];
    karg a2[4] = {KP(dx2), KP(t.r), KP(x), KI(1)};
    kt_run(&b, N, 4, a2);
    kt_close("gather backward accumulates", dx2, want, nx, 0, 0);
    free(xn), free(x), free(yn), free(yref), free(y), free(t.r), free(dx), free(dx2), free(want);
  }
  kt_forms = CG_TARGET_C;
}

/* ---------- batch norm ---------- */

typedef struct {
  int N, C, HW, affine;
  double *x, *gamma, *beta, *y, *r, *save, *rm, *rv;
  float alpha;
} bctx;

static void bn_forward(bctx *t, float momentum) {
  KSPEC(st, "bn_stats", {"C", t->C}, {"HW", t->HW});
  KSPEC(ap, "bn_apply", {"C", t->C}, {"HW", t->HW}, {"AFFINE", t->affine});
  karg a[5] = {KP(t->save), KP(t->rm), KP(t->rv), KP(t->x), KF(momentum)};
  kt_run(&st, t->N, 5, a);
  karg b[7] = {KP(t->y), KP(t->x), KP(t->save), KP(t->gamma), KP(t->beta), KI(0), KF(t->alpha)};
  kt_run(&ap, t->N, 7, b);
}

static double bn_loss(void *p) {
  bctx *t = p;
  bn_forward(t, 0);
  return kt_dot(t->y, t->r, (long)t->N * t->C * t->HW);
}

static void check_bn(int N, int C, int HW, int affine, float alpha) {
  long n = (long)N * C * HW;
  bctx t = {N, C, HW, affine, kt_randv(n), kt_randv(C), kt_randv(C), kt_zeros(n), kt_randv(n), kt_zeros(2 * C),
            kt_zeros(C), kt_zeros(C), alpha};
  for (int c = 0; c < C; c++) t.rv[c] = 1;
  for (long i = 0; i < n; i++) t.x[i] = 3 * t.x[i] + 0.5; /* a mean and a scale to remove */
  double *xn = kt_zeros(n), *yn = kt_zeros(n), *yref = kt_zeros(n), *mean = kt_zeros(C), *var = kt_zeros(C);
  ref_to_nchw(xn, t.x, N, C, HW, 1);
  ref_bn(yn, mean, var, xn, affine ? t.gamma : NULL, t.beta, N, C, HW);
  ref_to_cnhw(yref, yn, N, C, HW, 1);
  for (long i = 0; i < n; i++) yref[i] *= alpha;
  bn_forward(&t, 0.1f);
  kt_close("bn forward", t.y, yref, n, 1e-10, 1e-10);
  /* running statistics: momentum 0.1, unbiased variance */
  double m = N * HW;
  for (int c = 0; c < C; c++) {
    const double mom = (double)0.1f; /* momentum reaches the kernel as a float */
    double want_m = mom * mean[c], want_v = (1 - mom) + mom * var[c] * m / (m - 1);
    kt_close("bn running mean", &t.rm[c], &want_m, 1, 1e-12, 1e-12);
    kt_close("bn running var", &t.rv[c], &want_v, 1, 1e-12, 1e-12);
  }
  /* backward through the statistics: reduce, then apply */
  KSPEC(rd, "bn_bwd_reduce", {"C", C}, {"HW", HW}, {"AFFINE", affine});
  KSPEC(ba, "bn_bwd_apply", {"C", C}, {"HW", HW}, {"AFFINE", affine});
  double *red = kt_zeros(2 * C), *dg = kt_zeros(C), *db = kt_zeros(C), *dx = kt_zeros(n);
  bn_forward(&t, 0);
  karg a[7] = {KP(red), KP(dg), KP(db), KP(t.r), KP(t.x), KP(t.save), KF(alpha)};
  kt_run(&rd, N, 7, a);
  karg b[8] = {KP(dx), KP(t.r), KP(t.x), KP(t.save), KP(red), KP(t.gamma), KI(0), KF(alpha)};
  kt_run(&ba, N, 8, b);
  kt_fd("bn backward (input)", t.x, dx, n, bn_loss, &t);
  if (affine) {
    kt_fd("bn backward (gamma)", t.gamma, dg, C, bn_loss, &t);
    kt_fd("bn backward (beta)", t.beta, db, C, bn_loss, &t);
  }
  /* inference: the running statistics */
  KSPEC(ev, "bn_stats_eval", {"C", C});
  karg ea[3] = {KP(t.save), KP(t.rm), KP(t.rv)};
  kt_run(&ev, N, 3, ea);
  for (int c = 0; c < C; c++) {
    double want[2] = {t.rm[c], 1 / sqrt(t.rv[c] + 1e-5)}, got[2] = {t.save[c], t.save[C + c]};
    kt_close("bn inference statistics", got, want, 2, 1e-12, 1e-12);
  }
  free(t.x), free(t.gamma), free(t.beta), free(t.y), free(t.r), free(t.save), free(t.rm), free(t.rv);
  free(xn), free(yn), free(yref), free(mean), free(var), free(red), free(dg), free(db), free(dx);
}

static void test_bn(void **state) {
  (void)state;
  check_bn(4, 3, 10, 0, 1.0f);
  check_bn(3, 2, 7, 1, 1.0f);
  check_bn(1, 2, 9, 1, 2.0f); /* batch 1; an edge taken twice (alpha 2) */
  check_bn(2, 2, 151, 1, 1.0f); /* more values per channel than a CUDA block has threads */
}

/* BN apply into a slice with accumulate: the fused node sum. */
static void test_bn_accumulates(void **state) {
  (void)state;
  int N = 2, C = 2, HW = 4;
  long n = (long)N * C * HW;
  double *x = kt_randv(n), *save = kt_zeros(2 * C), *rm = kt_zeros(C), *rv = kt_zeros(C), *y = kt_randv(n);
  double *y0 = malloc((size_t)n * sizeof *y0);
  memcpy(y0, y, (size_t)n * sizeof *y0);
  KSPEC(st, "bn_stats", {"C", C}, {"HW", HW});
  KSPEC(ap, "bn_apply", {"C", C}, {"HW", HW}, {"AFFINE", 0});
  karg a[5] = {KP(save), KP(rm), KP(rv), KP(x), KF(0)};
  kt_run(&st, N, 5, a);
  double *fresh = kt_zeros(n);
  karg b[7] = {KP(fresh), KP(x), KP(save), KP(NULL), KP(NULL), KI(0), KF(1)};
  kt_run(&ap, N, 7, b);
  karg c[7] = {KP(y), KP(x), KP(save), KP(NULL), KP(NULL), KI(1), KF(1)};
  kt_run(&ap, N, 7, c);
  for (long i = 0; i < n; i++) y0[i] += fresh[i];
  kt_close("bn apply accumulates", y, y0, n, 1e-12, 1e-12);
  /* running statistics untouched with momentum 0 */
  for (int i = 0; i < C; i++) assert_true(rm[i] == 0 && rv[i] == 0);
  free(x), free(save), free(rm), free(rv), free(y), free(y0), free(fresh);
}

/* ---------- pooling ---------- */

typedef struct {
  cg_spec fwd;
  double *x, *y, *r;
  long N, ny;
  int is_max;
} pctx;

static double pool_loss(void *p) {
  pctx *t = p;
  if (t->is_max) { /* inference form: no argmaxes */
    karg a[3] = {KP(t->y), KP(NULL), KP(t->x)};
    kt_run(&t->fwd, t->N, 3, a);
  } else {
    karg a[2] = {KP(t->y), KP(t->x)};
    kt_run(&t->fwd, t->N, 2, a);
  }
  return kt_dot(t->y, t->r, t->ny);
}

static void check_pool(int is_max, int N, int C, int H, int W, ref_geom g) {
  int OH = ref_out(H, g.kh, g.sh, g.ph, 1), OW = ref_out(W, g.kw, g.sw, g.pw, 1);
  long nx = (long)N * C * H * W, ny = (long)N * C * OH * OW;
  double *xn = kt_randv(nx), *x = kt_zeros(nx), *yn = kt_zeros(ny), *yref = kt_zeros(ny), *y = kt_zeros(ny);
  (is_max ? ref_maxpool : ref_avgpool)(yn, xn, N, C, H, W, g);
  ref_to_cnhw(x, xn, N, C, H, W);
  ref_to_cnhw(yref, yn, N, C, OH, OW);
  const char *fk = is_max ? "maxpool_fwd" : "avgpool_fwd", *bk = is_max ? "maxpool_bwd" : "avgpool_bwd";
  pctx t = {{0}, x, y, kt_randv(ny), N, ny, is_max};
  KSPEC(f, fk, {"C", C}, {"H", H}, {"W", W}, {"KH", g.kh}, {"KW", g.kw}, {"SH", g.sh}, {"SW", g.sw}, {"PH", g.ph},
        {"PW", g.pw});
  t.fwd = f;
  pool_loss(&t);
  int *arg = malloc(sizeof(int) * (size_t)ny);
  if (is_max) { /* the recorded argmaxes, for the backward */
    karg a[3] = {KP(y), KP(arg), KP(x)};
    kt_run(&f, N, 3, a);
  }
  kt_close(fk, y, yref, ny, 1e-12, 1e-12);
  KSPEC(b, bk, {"C", C}, {"H", H}, {"W", W}, {"KH", g.kh}, {"KW", g.kw}, {"SH", g.sh}, {"SW", g.sw}, {"PH", g.ph},
        {"PW", g.pw});
  double *dx = kt_zeros(nx);
  if (is_max) {
    karg a[4] = {KP(dx), KP(t.r), KP(arg), KI(0)};
    kt_run(&b, N, 4, a);
  } else {
    karg a[3] = {KP(dx), KP(t.r), KI(0)};
    kt_run(&b, N, 3, a);
  }
  kt_fd(bk, x, dx, nx, pool_loss, &t);
  free(xn), free(x), free(yn), free(yref), free(y), free(t.r), free(dx), free(arg);
}

static void test_pools(void **state) {
  (void)state;
  ref_geom s1 = {3, 3, 1, 1, 1, 1, 1, 1}, s2 = {3, 3, 2, 2, 1, 1, 1, 1}, big = {5, 3, 2, 1, 2, 1, 1, 1};
  for (int f = 0; f < 2; f++) { /* the CPU forms, then the GPU forms */
    kt_forms = f ? CG_TARGET_CUDA : CG_TARGET_C;
    for (int m = 0; m < 2; m++) {
      check_pool(m, 2, 2, 6, 6, s1);
      check_pool(m, 2, 2, 7, 7, s2); /* stride 2 on an odd size: the border windows hold padding */
      check_pool(m, 1, 3, 5, 5, s2);
      check_pool(m, 2, 1, 7, 6, big);
    }
  }
  kt_forms = CG_TARGET_C;
}

/* Ties go to the first maximum in row-major window order, and so does the
   gradient, in both forms. */
static void check_maxpool_ties(void) {
  int H = 3, W = 3;
  double x[9] = {1, 5, 5, 0, 5, 2, 5, 1, 0}; /* one sample, one channel: CNHW = NCHW */
  double y[9], dy[9], dx[9];
  int arg[9];
  KSPEC(f, "maxpool_fwd", {"C", 1}, {"H", H}, {"W", W}, {"KH", 3}, {"KW", 3}, {"SH", 1}, {"SW", 1}, {"PH", 1},
        {"PW", 1});
  KSPEC(b, "maxpool_bwd", {"C", 1}, {"H", H}, {"W", W}, {"KH", 3}, {"KW", 3}, {"SH", 1}, {"SW", 1}, {"PH", 1},
        {"PW", 1});
  karg a[3] = {KP(y), KP(arg), KP(x)};
  kt_run(&f, 1, 3, a);
  assert_int_equal(arg[4], 1);
  for (int i = 0; i < 9; i++) dy[i] = 0;
  dy[4] = 1; /* the centre window holds every pixel: first maximum at (0, 1) */
  karg g[4] = {KP(dx), KP(dy), KP(arg), KI(0)};
  kt_run(&b, 1, 4, g);
  double want[9] = {0, 1, 0, 0, 0, 0, 0, 0, 0};
  kt_close("max pool tie goes to the first maximum", dx, want, 9, 0, 0);
  assert_true(y[4] == 5);
  /* all-negative window next to padding: padding never wins */
  double xn[9] = {-3, -2, -4, -5, -6, -7, -8, -9, -1};
  karg a2[3] = {KP(y), KP(NULL), KP(xn)};
  kt_run(&f, 1, 3, a2);
  assert_true(y[0] == -2);
}

static void test_maxpool_ties(void **state) {
  (void)state;
  check_maxpool_ties();
  kt_forms = CG_TARGET_CUDA;
  check_maxpool_ties();
  kt_forms = CG_TARGET_C;
}

/* ---------- head ---------- */

static void test_head(void **state) {
  (void)state;
  int N = 3, C = 4, HW = 5, K = 6;
  double *x = kt_randv((long)N * C * HW), *g = kt_zeros((long)C * N), *dg = kt_randv((long)C * N);
  double *dx = kt_zeros((long)N * C * HW);
  KSPEC(gf, "gap_fwd", {"C", C}, {"HW", HW});
  karg a[2] = {KP(g), KP(x)};
  kt_run(&gf, N, 2, a);
  for (int c = 0; c < C; c++)
    for (int n = 0; n < N; n++) {
      double s = 0;
      for (int i = 0; i < HW; i++) s += x[((long)c * N + n) * HW + i];
      double want = s / HW;
      kt_close("global average pool", &g[c * N + n], &want, 1, 1e-12, 1e-12);
    }
  KSPEC(gb, "gap_bwd", {"C", C}, {"HW", HW});
  karg b[3] = {KP(dx), KP(dg), KI(0)};
  kt_run(&gb, N, 3, b);
  for (long i = 0; i < (long)N * C * HW; i++) {
    double want = dg[i / HW] / HW;
    kt_close("global average pool backward", &dx[i], &want, 1, 1e-12, 1e-12);
  }
  /* bias */
  double *y = kt_randv((long)K * N), *y0 = malloc(sizeof(double) * K * N), *bias = kt_randv(K), *db = kt_zeros(K);
  memcpy(y0, y, sizeof(double) * K * N);
  KSPEC(bf, "bias_fwd", {"K", K});
  karg c[2] = {KP(y), KP(bias)};
  kt_run(&bf, N, 2, c);
  for (int k = 0; k < K; k++)
    for (int n = 0; n < N; n++) {
      double want = y0[k * N + n] + bias[k];
      kt_close("bias", &y[k * N + n], &want, 1, 1e-12, 1e-12);
    }
  KSPEC(bb, "bias_bwd", {"K", K});
  karg d[2] = {KP(db), KP(y0)};
  kt_run(&bb, N, 2, d);
  for (int k = 0; k < K; k++) {
    double want = 0;
    for (int n = 0; n < N; n++) want += y0[k * N + n];
    kt_close("bias backward", &db[k], &want, 1, 1e-12, 1e-12);
  }
  free(x), free(g), free(dg), free(dx), free(y), free(y0), free(bias), free(db);
}

typedef struct {
  cg_spec s;
  double *logits, *ll, *dl;
  int *labels, *correct;
  long N;
  int K;
  double eps;
} xctx;

/* the summed cross-entropy against the smoothed labels, in double from the
   logits: the loss whose gradient the kernel writes */
static double xent_loss(void *p) {
  xctx *t = p;
  double *ln = kt_zeros((long)t->K * t->N);
  for (int k = 0; k < t->K; k++)
    for (long n = 0; n < t->N; n++) ln[n * t->K + k] = t->logits[k * t->N + n];
  double s = ref_xent_smoothed(ln, t->labels, (int)t->N, t->K, t->eps);
  free(ln);
  return s;
}

/* EPS: label smoothing (0: plain cross-entropy) */
static void check_xent(double eps) {
  int N = 5, K = 7;
  xctx t = {{0},    kt_randv((long)K * N), kt_zeros(N), kt_zeros((long)K * N), calloc(N, sizeof(int)),
            calloc(N, sizeof(int)), N, K, eps};
  for (int n = 0; n < N; n++) t.labels[n] = (3 * n + 1) % K;
  for (long i = 0; i < (long)K * N; i++) t.logits[i] *= 30; /* large logits: log-sum-exp must stay stable */
  KSPEC(s, "xent", {"K", K});
  t.s = s;
  karg a[7] = {KP(t.ll), KP(t.dl), KP(t.correct), KP(t.logits), KP(t.labels), KF(1), KF(eps)};
  kt_run(&s, N, 7, a);
  double *ln = kt_zeros((long)K * N), *want = kt_zeros(N);
  for (int k = 0; k < K; k++)
    for (int n = 0; n < N; n++) ln[n * K + k] = t.logits[k * N + n];
  ref_loglik(want, ln, t.labels, N, K); /* the log-likelihood of the true label, smoothed or not */
  kt_close("log-likelihoods", t.ll, want, N, 1e-12, 1e-12);
  for (int n = 0; n < N; n++) {
    int arg = 0;
    for (int k = 1; k < K; k++)
      if (ln[n * K + k] > ln[n * K + arg]) arg = k;
    assert_int_equal(t.correct[n], arg == t.labels[n]);
  }
  for (long i = 0; i < (long)K * N; i++) t.logits[i] /= 10; /* moderate logits: every class's term counts */
  kt_run(&s, N, 7, a);
  kt_fd(eps > 0 ? "smoothed cross-entropy gradient" : "cross-entropy gradient", t.logits, t.dl, (long)K * N,
        xent_loss, &t);
  free(t.logits), free(t.ll), free(t.dl), free(t.labels), free(t.correct), free(ln), free(want);
}

static void test_xent(void **state) {
  (void)state;
  check_xent(0);
  check_xent(0.1);
}

/* ---------- elementwise and optimizers ---------- */

static void test_axpy_drop_path(void **state) {
  (void)state;
  int N = 3, C = 2, HW = 5;
  long n = (long)N * C * HW;
  double *x = kt_randv(n), *y = kt_randv(n), *y0 = malloc(sizeof(double) * n);
  memcpy(y0, y, sizeof(double) * n);
  KSPEC(s, "axpy", {"M", (long)C * HW});
  karg a[4] = {KP(y), KP(x), KI(1), KF(2)};
  kt_run(&s, N, 4, a);
  for (long i = 0; i < n; i++) y0[i] += 2 * x[i];
  kt_close("axpy accumulate", y, y0, n, 1e-12, 1e-12);
  karg b[4] = {KP(y), KP(x), KI(0), KF(1)};
  kt_run(&s, N, 4, b);
  kt_close("axpy copy", y, x, n, 0, 0);
  double scale[3] = {0, 1.25, 1.25};
  KSPEC(d, "drop_path", {"C", C}, {"HW", HW});
  double *z = kt_randv(n), *z0 = malloc(sizeof(double) * n);
  memcpy(z0, z, sizeof(double) * n);
  karg c[4] = {KP(y), KP(x), KP(scale), KI(0)};
  kt_run(&d, N, 4, c);
  karg c2[4] = {KP(z), KP(x), KP(scale), KI(1)};
  kt_run(&d, N, 4, c2);
  for (long i = 0; i < n; i++) {
    double want = x[i] * scale[(i / HW) % N], want2 = z0[i] + want;
    kt_close("drop path", &y[i], &want, 1, 1e-12, 1e-12);
    kt_close("drop path accumulates", &z[i], &want2, 1, 1e-12, 1e-12);
  }
  free(z), free(z0);
  free(x), free(y), free(y0);
}

static void test_optimizers(void **state) {
  (void)state;
  long n = 37;
  double *w = kt_randv(n), *m = kt_randv(n), *g = kt_randv(n);
  double *w0 = malloc(sizeof(double) * n), *m0 = malloc(sizeof(double) * n);
  memcpy(w0, w, sizeof(double) * n);
  memcpy(m0, m, sizeof(double) * n);
  KSPEC0(s, "sgd");
  karg a[7] = {KP(w), KP(m), KP(g), KF(0.025), KF(0.9), KF(3e-4), KF(0.5)};
  kt_run(&s, n, 7, a);
  for (long i = 0; i < n; i++) { /* torch.optim.SGD with momentum, weight decay; gradient scaled by the clip */
    double d = 0.5 * g[i] + (double)3e-4f * w0[i];
    double mm = (double)0.9f * m0[i] + d;
    double ww = w0[i] - (double)0.025f * mm;
    kt_close("sgd momentum", &m[i], &mm, 1, 1e-12, 1e-12);
    kt_close("sgd weight", &w[i], &ww, 1, 1e-12, 1e-12);
  }
  /* Adam, ascending, step 3 */
  double *p = kt_randv(n), *v = kt_zeros(n), *p0 = malloc(sizeof(double) * n);
  for (long i = 0; i < n; i++) v[i] = fabs(m[i]);
  memcpy(p0, p, sizeof(double) * n);
  memcpy(m0, m, sizeof(double) * n);
  double *v0 = malloc(sizeof(double) * n);
  memcpy(v0, v, sizeof(double) * n);
  float b1 = 0.5f, b2 = 0.999f, bc1 = 1 - b1 * b1 * b1, bc2 = 1 - b2 * b2 * b2;
  KSPEC0(ad, "adam");
  karg b[11] = {KP(p), KP(m), KP(v), KP(g), KF(0.02), KF(b1), KF(b2), KF(bc1), KF(bc2), KF(1e-8), KF(1)};
  kt_run(&ad, n, 11, b);
  for (long i = 0; i < n; i++) {
    double mi = b1 * m0[i] + (1 - (double)b1) * g[i], vi = b2 * v0[i] + (1 - (double)b2) * g[i] * g[i];
    double want = p0[i] + (double)0.02f * (mi / bc1) / (sqrt(vi / bc2) + (double)1e-8f);
    kt_close("adam", &p[i], &want, 1, 1e-12, 1e-10);
  }
  /* squared norm in chunks */
  KSPEC(sq, "sumsq", {"CHUNK", 16});
  double part[3];
  karg c[3] = {KP(part), KP(g), KL(n)};
  kt_run(&sq, 3, 3, c);
  double want = kt_dot(g, g, n), got = part[0] + part[1] + part[2];
  kt_close("sumsq", &got, &want, 1, 1e-12, 1e-12);
  /* chunks longer than a CUDA block: each lane sums several values, every
     warp of the block holds a partial sum; the last chunk is short */
  const long nl = 2 * 700 + 123;
  double *gl = kt_randv(nl), pl[3];
  KSPEC(sql, "sumsq", {"CHUNK", 700});
  karg cl[3] = {KP(pl), KP(gl), KL(nl)};
  kt_run(&sql, 3, 3, cl);
  for (int k = 0; k < 3; k++) {
    const long lo = 700 * k, len = k < 2 ? 700 : 123;
    double wk = kt_dot(gl + lo, gl + lo, len);
    kt_close("sumsq over long chunks", &pl[k], &wk, 1, 1e-12, 1e-12);
  }
  free(gl);
  free(w), free(m), free(g), free(w0), free(m0), free(p), free(v), free(p0), free(v0);
}

/* ---------- pointwise GEMM ---------- */

/* C (+)= alpha op(A) B against a plain loop, with padded row strides, both
 * transposes of A, beta 0 (C starts as NaN: never read) and beta 1; then
 * the same product through the backend's gemm, which picks pw_gemm for such
 * shapes and OpenBLAS for others. */
static void check_pw(int ta, double beta, long M, long K, long n, int through_backend) {
  const long lda = (ta ? M : K) + 3, ldb = n + 5, ldc = n + 7;
  double *a = kt_randv((ta ? K : M) * lda), *b = kt_randv(K * ldb), *c = kt_randv(M * ldc);
  double *want = malloc(sizeof(double) * (size_t)(M * ldc));
  const double alpha = 0.5;
  if (beta == 0)
    for (long i = 0; i < M * ldc; i++) c[i] = NAN;
  for (long i = 0; i < M; i++)
    for (long j = 0; j < ldc; j++) {
      double s = 0;
      for (long q = 0; q < K && j < n; q++) s += (ta ? a[q * lda + i] : a[i * lda + q]) * b[q * ldb + j];
      want[i * ldc + j] = j >= n ? c[i * ldc + j] : alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
    }
  if (through_backend) {
    err_t e = ERR_INIT;
    if (KB->gemm(KB, ta, 0, M, n, K, (float)alpha, a, lda, b, ldb, (float)beta, c, ldc, &e) != 0)
      fail_msg("%s", err_msg(&e));
  } else {
    KSPEC(s, "pw_gemm", {"M", M}, {"K", K}, {"TA", ta});
    karg args[8] = {KP(c), KP(a), KP(b), KL(lda), KL(ldb), KL(ldc), KF(alpha), KF(beta)};
    kt_run(&s, n / 32, 8, args);
  }
  for (long i = 0; i < M; i++) /* the padding columns are left alone */
    for (long j = n; j < ldc; j++) assert_true(beta == 0 ? isnan(c[i * ldc + j]) : c[i * ldc + j] == want[i * ldc + j]);
  for (long i = 0; i < M; i++) kt_close("pointwise GEMM", c + i * ldc, want + i * ldc, n, 1e-12, 1e-12);
  free(a), free(b), free(c), free(want);
}

static void test_pw_gemm(void **state) {
  (void)state;
  for (int ta = 0; ta < 2; ta++)
    for (int beta = 0; beta < 2; beta++) {
      check_pw(ta, beta, 16, 8, 96, 0);
      check_pw(ta, beta, 8, 5, 32, 0);
      check_pw(ta, beta, 32, 32, 1024, 1); /* a shape the backend gives pw_gemm */
      check_pw(ta, beta, 48, 16, 1024, 1); /* one it gives OpenBLAS */
    }
}

/* Every kernel of every template is exercised above. */
static void test_all_templates_covered(void **state) {
  (void)state;
  const char *tested[] = {"gather_fwd", "gather_bwd", "dwconv_fwd", "dwconv_bwd_data", "dwconv_bwd_w", "im2col", "col2im", "bn_stats", "bn_stats_eval", "bn_apply", "bn_bwd_reduce",
                          "bn_bwd_apply", "avgpool_fwd", "avgpool_bwd", "maxpool_fwd", "maxpool_bwd", "axpy",
                          "drop_path", "gap_fwd", "gap_bwd", "bias_fwd", "bias_bwd", "xent", "sgd", "adam", "sumsq", "pw_gemm",
                          /* the GPU forms, through kt_forms */
                          "dwconv_fwd_px", "dwconv_bwd_data_px", "dwconv_bwd_w_tap", "avgpool_fwd_px",
                          "avgpool_bwd_px", "maxpool_fwd_px", "maxpool_bwd_px", "gather_fwd_px", "gather_bwd_px"};
  int n = cg_kernel_count();
  for (int i = 0; i < n; i++) {
    int found = 0;
    for (size_t j = 0; j < sizeof tested / sizeof tested[0]; j++) found |= strcmp(tested[j], cg_kernel_at(i)->name) == 0;
    if (!found) fail_msg("kernel %s has no numerical test", cg_kernel_at(i)->name);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_templates_covered),
      cmocka_unit_test(test_pw_gemm),
      cmocka_unit_test(test_dwconv),
      cmocka_unit_test(test_conv),
      cmocka_unit_test(test_gather),
      cmocka_unit_test(test_bn),
      cmocka_unit_test(test_bn_accumulates),
      cmocka_unit_test(test_pools),
      cmocka_unit_test(test_maxpool_ties),
      cmocka_unit_test(test_head),
      cmocka_unit_test(test_xent),
      cmocka_unit_test(test_axpy_drop_path),
      cmocka_unit_test(test_optimizers),
  };
#ifdef KT_EMU
  /* both schedules of the emulated threads (cuda_emu.h): a race between
     warps shows in one or the other */
  setenv("PARSEC_EMU_ORDER", "up", 1);
  int failed = cmocka_run_group_tests_name("emulated CUDA, lowest thread first", tests, kt_setup, kt_teardown);
  setenv("PARSEC_EMU_ORDER", "down", 1);
  return failed + cmocka_run_group_tests_name("emulated CUDA, highest thread first", tests, kt_setup, kt_teardown);
#else
  return cmocka_run_group_tests(tests, kt_setup, kt_teardown);
#endif
}
