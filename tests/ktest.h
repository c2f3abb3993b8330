/* Helpers for the kernel tests: a double-precision CPU backend, launching a
 * spec on host arrays, random data, tolerant comparison and finite
 * differences. */
#ifndef PARSEC_TESTS_KTEST_H
#define PARSEC_TESTS_KTEST_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rt_cpu.h"
#include "rt_exec.h"
#ifdef KT_EMU
#include "emu/emu.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int kind; /* 0 pointer, 1 int, 2 float, 3 long */
  void *p;
  long i;
  float f;
} karg;
#define KP(ptr) ((karg){0, (void *)(ptr), 0, 0})
#define KI(v) ((karg){1, NULL, (v), 0})
#define KF(v) ((karg){2, NULL, 0, (float)(v)})
#define KL(v) ((karg){3, NULL, (v), 0})

extern rt_backend *KB; /* double precision */
/* Which form of a kernel kt_run launches: CG_TARGET_CUDA runs the GPU forms
   (@gpu) through the C target, so they meet the same checks. */
static cg_target kt_forms = CG_TARGET_C;

static inline int kt_setup(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  if (!KB && rt_cpu_open(&KB, CG_F64, 0, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return -1;
  }
  return 0;
}

static inline int kt_teardown(void **state) {
  (void)state;
  rt_backend_close(KB);
  KB = NULL;
  return 0;
}

/* Runs SPEC (built from the name=value list) on N with ARGS. */
static inline void kt_run(const cg_spec *spec, long N, int nargs, const karg *a) {
  err_t e = ERR_INIT;
  const cg_spec on = cg_spec_on(spec, kt_forms), *s = &on;
  void *params[CG_MAXARGS + 1], *ptrs[CG_MAXARGS];
  int ints[CG_MAXARGS];
  float fl[CG_MAXARGS];
  long ls[CG_MAXARGS];
  params[0] = &N;
  assert_int_equal(nargs, s->k->nargs);
  for (int i = 0; i < nargs; i++) {
    switch (a[i].kind) {
    case 0: ptrs[i] = a[i].p; params[i + 1] = &ptrs[i]; break;
    case 1: ints[i] = (int)a[i].i; params[i + 1] = &ints[i]; break;
    case 2: fl[i] = a[i].f; params[i + 1] = &fl[i]; break;
    default: ls[i] = a[i].i; params[i + 1] = &ls[i]; break;
    }
  }
#ifdef KT_EMU /* the CUDA rendering, on emulated CUDA threads */
  if (emu_run(s, CG_F64, N, params, &e) != 0) fail_msg("%s", err_msg(&e));
#else
  const rt_kernel *k;
  if (rt_kernels_get(KB, s, 1, &k, &e) != 0 || KB->launch(KB, k, N, params, &e) != 0) fail_msg("%s", err_msg(&e));
#endif
}

/* A spec, or a failed test: KSPEC(s, "bias_fwd", {"K", 10}); KSPEC0 for a
 * kernel without constants. */
static inline void kt_spec(cg_spec *s, const char *kernel, const cg_const *c, int n) {
  err_t e = ERR_INIT;
  if (cg_spec_make(s, kernel, c, n, &e) != 0) fail_msg("%s", err_msg(&e));
}
#define KSPEC(var, kernel, ...) \
  cg_spec var;                  \
  kt_spec(&var, kernel, CG_CONSTS(__VA_ARGS__))
#define KSPEC0(var, kernel) \
  cg_spec var;              \
  kt_spec(&var, kernel, NULL, 0)

static uint64_t kt_state = 0x243f6a8885a308d3ULL;
static inline double kt_rand(void) { /* uniform in [-1, 1) */
  kt_state ^= kt_state << 13;
  kt_state ^= kt_state >> 7;
  kt_state ^= kt_state << 17;
  return 2.0 * (double)(kt_state >> 11) / 9007199254740992.0 - 1.0;
}
static inline double *kt_randv(long n) {
  double *v = malloc((size_t)n * sizeof *v);
  for (long i = 0; i < n; i++) v[i] = kt_rand();
  return v;
}
static inline double *kt_zeros(long n) { return calloc((size_t)n, sizeof(double)); }

/* |got - want| <= tol + |want| * rel for every element */
static inline void kt_close(const char *what, const double *got, const double *want, long n, double tol, double rel) {
  for (long i = 0; i < n; i++)
    if (!(fabs(got[i] - want[i]) <= tol + fabs(want[i]) * rel))
      fail_msg("%s: element %ld: got %.12g, want %.12g", what, i, got[i], want[i]);
}

static inline double kt_dot(const double *a, const double *b, long n) {
  double s = 0;
  for (long i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* Central differences of LOSS() with respect to X[0..n), against GRAD. */
typedef double (*kt_loss_fn)(void *ctx);
static inline void kt_fd(const char *what, double *x, const double *grad, long n, kt_loss_fn loss, void *ctx) {
  const double h = 1e-6;
  for (long i = 0; i < n; i++) {
    double keep = x[i];
    x[i] = keep + h;
    double lp = loss(ctx);
    x[i] = keep - h;
    double lm = loss(ctx);
    x[i] = keep;
    double fd = (lp - lm) / (2 * h);
    if (!(fabs(fd - grad[i]) <= 1e-6 + 1e-5 * fabs(fd)))
      fail_msg("%s: d/dx[%ld]: backward %.10g, finite differences %.10g", what, i, grad[i], fd);
  }
}

#endif
