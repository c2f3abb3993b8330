/* The cuBLAS call an exported network.cu makes, for the emulation: the
 * column-major SGEMM through OpenBLAS's CBLAS. */
#ifndef PARSEC_EMU_CUBLAS_V2_H
#define PARSEC_EMU_CUBLAS_V2_H
#include <cblas.h>

typedef struct cublas_emu *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;

static inline cublasStatus_t cublasCreate(cublasHandle_t *h) {
  *h = (cublasHandle_t)1;
  return CUBLAS_STATUS_SUCCESS;
}
static inline cublasStatus_t cublasDestroy(cublasHandle_t h) {
  (void)h;
  return CUBLAS_STATUS_SUCCESS;
}
static inline cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                                         const float *beta, float *C, int ldc) {
  (void)h;
  cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_T ? CblasTrans : CblasNoTrans,
              tb == CUBLAS_OP_T ? CblasTrans : CblasNoTrans, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
  return CUBLAS_STATUS_SUCCESS;
}
#endif
