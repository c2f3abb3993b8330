/* The thread-partitioned GEMM (rt_blas): every split (columns, rows, inner
 * dimension) and the whole call, each transpose, beta 0 (C never read: it
 * starts as NaN) and beta 1, in float and double, against a plain double
 * loop; and the same thread count gives the same bits. */
#include "rt_blas.h"

#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
  long m, n, k;
} shape;

/* columns, rows, inner dimension, and one too small to split */
static const shape SHAPES[] = {{16, 4099, 24}, {3001, 16, 24}, {12, 20, 9000}, {5, 7, 3}};

static double rnd(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (double)(*s >> 8) / (double)(1u << 24) - 0.5;
}

/* element (i, j) of op(X) for a row-major X with leading dimension ld */
static double at(const double *X, long ld, int t, long i, long j) { return t ? X[j * ld + i] : X[i * ld + j]; }

static void check(int f64, int ta, int tb, shape s, double beta, int threads) {
  omp_set_num_threads(threads);
  const long lda = ta ? s.m : s.k, ldb = tb ? s.k : s.n, ldc = s.n + 3;
  const long na = s.m * s.k, nb = s.k * s.n, nc = s.m * ldc;
  double *A = malloc(sizeof(double) * (size_t)na), *B = malloc(sizeof(double) * (size_t)nb);
  double *C0 = malloc(sizeof(double) * (size_t)nc);
  unsigned seed = 7;
  for (long i = 0; i < na; i++) A[i] = rnd(&seed);
  for (long i = 0; i < nb; i++) B[i] = rnd(&seed);
  for (long i = 0; i < nc; i++) C0[i] = beta == 0 ? NAN : rnd(&seed);
  const size_t el = f64 ? sizeof(double) : sizeof(float);
  char *a = malloc(el * (size_t)na), *b = malloc(el * (size_t)nb), *c = malloc(el * (size_t)nc),
       *c2 = malloc(el * (size_t)nc);
#define FILL(dst, src, n)                                                                                     \
  for (long i = 0; i < (n); i++) f64 ? (((double *)(dst))[i] = (src)[i]) : (((float *)(dst))[i] = (float)(src)[i])
  FILL(a, A, na);
  FILL(b, B, nb);
  FILL(c, C0, nc);
  FILL(c2, C0, nc);
  err_t e = ERR_INIT;
  const double alpha = 0.75;
  assert_int_equal(rt_blas_gemm(f64, ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc, &e), 0);
  assert_int_equal(rt_blas_gemm(f64, ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c2, ldc, &e), 0);
  assert_memory_equal(c, c2, el * (size_t)nc);
  const double tol = (f64 ? 1e-12 : 2e-6) * (double)s.k;
  for (long i = 0; i < s.m; i++)
    for (long j = 0; j < ldc; j++) {
      const double got = f64 ? ((double *)c)[i * ldc + j] : ((float *)c)[i * ldc + j];
      if (j >= s.n) { /* the padding columns are left alone */
        assert_true(isnan(C0[i * ldc + j]) ? isnan(got) : got == (f64 ? C0[i * ldc + j] : (float)C0[i * ldc + j]));
        continue;
      }
      double want = beta == 0 ? 0 : beta * C0[i * ldc + j];
      for (long q = 0; q < s.k; q++) want += alpha * at(A, lda, ta, i, q) * at(B, ldb, tb, q, j);
      if (fabs(got - want) > tol) fail_msg("f64 %d ta %d tb %d %ldx%ldx%ld beta %g threads %d: C[%ld,%ld] = %g, want %g",
                                           f64, ta, tb, s.m, s.n, s.k, beta, threads, i, j, got, want);
    }
  free(A), free(B), free(C0), free(a), free(b), free(c), free(c2);
}

static void test_every_split(void **state) {
  (void)state;
  for (int f64 = 0; f64 < 2; f64++)
    for (int t = 0; t < 4; t++)
      for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++)
        for (int threads = 1; threads <= 3; threads++) {
          check(f64, t & 1, t >> 1, SHAPES[s], 0, threads);
          check(f64, t & 1, t >> 1, SHAPES[s], 1, threads);
        }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_split)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
