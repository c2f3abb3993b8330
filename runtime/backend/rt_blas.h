/* GEMMs on the CPU through OpenBLAS, with the work split across threads by
 * parsec itself for the shapes a child network makes.
 *
 * A 1x1 convolution over a batch is a GEMM with a few dozen rows and tens of
 * thousands of columns, and its weight gradient one with a few dozen rows and
 * columns over a long inner dimension.  OpenBLAS's own threading gains little
 * on the first and loses on the second, so these are cut into one slice per
 * OpenMP thread (columns, rows, or the inner dimension with a fixed-order
 * reduction) and each slice runs single-threaded; other shapes go to OpenBLAS
 * whole.  With a fixed thread count the cut is fixed, so results repeat bit
 * for bit. */
#ifndef RT_BLAS_H
#define RT_BLAS_H

#include "err.h"

/* Row-major C = alpha * op(A) op(B) + beta * C in float (f64 == 0) or double;
 * op transposes when ta/tb is set.  beta == 0 never reads C. */
int rt_blas_gemm(int f64, int ta, int tb, long m, long n, long k, double alpha, const void *A, long lda,
                 const void *B, long ldb, double beta, void *C, long ldc, err_t *e);

#endif
