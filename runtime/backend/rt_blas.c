/* Thread-partitioned GEMMs over OpenBLAS; see rt_blas.h for why. */
#include "rt_blas.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

/* below this many multiply-adds OpenBLAS runs single-threaded anyway */
#define RT_BLAS_SMALL (1L << 18)
/* slices start on 64-byte boundaries, so neighbours never share a line of C */
#define RT_BLAS_ALIGN 16

typedef struct {
  int f64, ta, tb;
  double alpha, beta;
  size_t elem;
} gemm_kind;

static void whole(const gemm_kind *g, long m, long n, long k, const char *A, long lda, const char *B, long ldb,
                  double beta, char *C, long ldc) {
  enum CBLAS_TRANSPOSE a = g->ta ? CblasTrans : CblasNoTrans, b = g->tb ? CblasTrans : CblasNoTrans;
  if (g->f64)
    cblas_dgemm(CblasRowMajor, a, b, (int)m, (int)n, (int)k, g->alpha, (const double *)A, (int)lda,
                (const double *)B, (int)ldb, beta, (double *)C, (int)ldc);
  else
    cblas_sgemm(CblasRowMajor, a, b, (int)m, (int)n, (int)k, (float)g->alpha, (const float *)A, (int)lda,
                (const float *)B, (int)ldb, (float)beta, (float *)C, (int)ldc);
}

/* [lo, hi) of a split of len into T slices, slice t */
static void slice(long len, int T, int t, long *lo, long *hi) {
  long c = (len + T - 1) / T;
  c = (c + RT_BLAS_ALIGN - 1) / RT_BLAS_ALIGN * RT_BLAS_ALIGN;
  *lo = t * c < len ? t * c : len;
  *hi = *lo + c < len ? *lo + c : len;
}

static void split_cols(const gemm_kind *g, long m, long n, long k, const char *A, long lda, const char *B,
                       long ldb, char *C, long ldc) {
#pragma omp parallel
  {
    long lo, hi;
    slice(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
    const char *Bs = B + (size_t)(g->tb ? lo * ldb : lo) * g->elem;
    if (hi > lo) whole(g, m, hi - lo, k, A, lda, Bs, ldb, g->beta, C + (size_t)lo * g->elem, ldc);
  }
}

static void split_rows(const gemm_kind *g, long m, long n, long k, const char *A, long lda, const char *B,
                       long ldb, char *C, long ldc) {
#pragma omp parallel
  {
    long lo, hi;
    slice(m, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
    const char *As = A + (size_t)(g->ta ? lo : lo * lda) * g->elem;
    if (hi > lo) whole(g, hi - lo, n, k, As, lda, B, ldb, g->beta, C + (size_t)(lo * ldc) * g->elem, ldc);
  }
}

/* each thread a partial product over its slice of the inner dimension, then
 * C = beta C + the partials summed in thread order */
static int split_inner(const gemm_kind *g, long m, long n, long k, const char *A, long lda, const char *B,
                       long ldb, char *C, long ldc, err_t *e) {
  const int T = omp_get_max_threads();
  const long mn = m * n;
  char *part = malloc((size_t)(T * mn) * g->elem);
  if (!part) return err_set(e, "out of memory: GEMM partials of %ld x %ld x %d", m, n, T);
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    long lo, hi;
    slice(k, nt, t, &lo, &hi);
    char *P = part + (size_t)(t * mn) * g->elem;
    const char *As = A + (size_t)(g->ta ? lo * lda : lo) * g->elem;
    const char *Bs = B + (size_t)(g->tb ? lo : lo * ldb) * g->elem;
    if (hi > lo) whole(g, m, n, hi - lo, As, lda, Bs, ldb, 0, P, n);
    else
      for (long i = 0; i < mn; i++) g->f64 ? (((double *)P)[i] = 0) : (((float *)P)[i] = 0);
#pragma omp barrier
#pragma omp for
    for (long i = 0; i < m; i++)
      for (long j = 0; j < n; j++) {
        double s = 0;
        for (int u = 0; u < nt; u++)
          s += g->f64 ? ((const double *)part)[u * mn + i * n + j] : ((const float *)part)[u * mn + i * n + j];
        if (g->f64) {
          double *c = (double *)C + i * ldc + j;
          *c = g->beta == 0 ? s : g->beta * *c + s;
        } else {
          float *c = (float *)C + i * ldc + j;
          *c = g->beta == 0 ? (float)s : (float)(g->beta * *c + s);
        }
      }
  }
  free(part);
  return 0;
}

int rt_blas_gemm(int f64, int ta, int tb, long m, long n, long k, double alpha, const void *A, long lda,
                 const void *B, long ldb, double beta, void *C, long ldc, err_t *e) {
  if (m <= 0 || n <= 0) return 0;
  const gemm_kind g = {f64, ta, tb, alpha, beta, f64 ? sizeof(double) : sizeof(float)};
  const int T = omp_get_max_threads();
  const long min_slice = 64 * T;
  if (T == 1 || k <= 0 || m * n * k < RT_BLAS_SMALL) {
    whole(&g, m, n, k, A, lda, B, ldb, beta, C, ldc);
  } else if (n >= m && n >= min_slice) {
    split_cols(&g, m, n, k, A, lda, B, ldb, C, ldc);
  } else if (m > n && m >= min_slice) {
    split_rows(&g, m, n, k, A, lda, B, ldb, C, ldc);
  } else if (k >= 16 * min_slice && m * n <= 1L << 16) {
    return split_inner(&g, m, n, k, A, lda, B, ldb, C, ldc, e);
  } else {
    whole(&g, m, n, k, A, lda, B, ldb, beta, C, ldc);
  }
  return 0;
}
