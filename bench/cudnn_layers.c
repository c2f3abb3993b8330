/* cuDNN at the layers and shapes of layer_bench (batch 64; C 16 at 32x32,
 * C 32 at 16x16, C 64 at 8x8), so a GPU run can set each of parsec's
 * kernels beside the library the issue asks about:
 *   cudnn_layers [--reps N]    (layer_bench's table, with a column for the layout)
 * Built only where the CUDA toolkit has cuDNN's headers and library.  Each
 * layer runs twice: on packed NCHW tensors (cuDNN's own layout) and on the
 * CNHW layout of parsec's arenas, given to cuDNN as strides.  The
 * convolution's algorithm is the fastest cudnnFind* measures; the figures
 * leave out the ReLU that parsec's depthwise kernels apply as they read
 * (cuDNN would need a pass of its own for it).  Milliseconds per call: REPS
 * calls queued back to back between two CUDA events, over REPS. */
#include <cuda_runtime.h>
#include <cudnn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int REPS = 20;
static cudnnHandle_t H;
static cudaEvent_t E0, E1;

#define CK(x)                                                                          \
  do {                                                                                 \
    cudaError_t r_ = (x);                                                              \
    if (r_ != cudaSuccess) {                                                           \
      fprintf(stderr, "cudnn_layers: %s: %s (line %d)\n", #x, cudaGetErrorString(r_), __LINE__); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)
#define DK(x)                                                                          \
  do {                                                                                 \
    cudnnStatus_t s_ = (x);                                                            \
    if (s_ != CUDNN_STATUS_SUCCESS) {                                                  \
      fprintf(stderr, "cudnn_layers: %s: %s (line %d)\n", #x, cudnnGetErrorString(s_), __LINE__); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static float *dev(size_t n) {
  float *p, *h = malloc(n * 4);
  for (size_t i = 0; i < n; i++) h[i] = (float)((i * 2654435761u % 1000) / 500.0 - 1.0);
  CK(cudaMalloc((void **)&p, n * 4 + 16));
  CK(cudaMemcpy(p, h, n * 4, cudaMemcpyHostToDevice));
  free(h);
  return p;
}

/* a [N, C, H, W] tensor, packed NCHW or parsec's CNHW */
static cudnnTensorDescriptor_t tensor(int n, int c, int h, int w, int cnhw) {
  cudnnTensorDescriptor_t d;
  DK(cudnnCreateTensorDescriptor(&d));
  if (cnhw) DK(cudnnSetTensor4dDescriptorEx(d, CUDNN_DATA_FLOAT, n, c, h, w, h * w, n * h * w, w, 1));
  else DK(cudnnSetTensor4dDescriptorEx(d, CUDNN_DATA_FLOAT, n, c, h, w, c * h * w, h * w, w, 1));
  return d;
}

/* F(CTX) queued REPS times after a warm-up: milliseconds per call */
typedef void (*call)(void *ctx);
static double timed(call f, void *ctx) {
  f(ctx); /* warm-up */
  CK(cudaDeviceSynchronize());
  CK(cudaEventRecord(E0, 0));
  for (int r = 0; r < REPS; r++) f(ctx);
  CK(cudaEventRecord(E1, 0));
  CK(cudaEventSynchronize(E1));
  float ms;
  CK(cudaEventElapsedTime(&ms, E0, E1));
  return ms / REPS;
}

typedef struct {
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnPoolingDescriptor_t pool;
  cudnnTensorDescriptor_t bn;
  cudnnConvolutionFwdAlgo_t fa;
  cudnnConvolutionBwdDataAlgo_t da;
  cudnnConvolutionBwdFilterAlgo_t wa;
  void *ws;
  size_t wsn;
  float *X, *Y, *DY, *DX, *W, *DW, *scale, *bias, *dscale, *dbias, *m, *v, *sm, *sv;
} layer;

static const float one = 1, zero = 0;

static void conv_fwd(void *p) {
  layer *l = p;
  DK(cudnnConvolutionForward(H, &one, l->x, l->X, l->w, l->W, l->conv, l->fa, l->ws, l->wsn, &zero, l->y, l->Y));
}
static void conv_bwd_data(void *p) {
  layer *l = p;
  DK(cudnnConvolutionBackwardData(H, &one, l->w, l->W, l->y, l->DY, l->conv, l->da, l->ws, l->wsn, &zero, l->x, l->DX));
}
static void conv_bwd_w(void *p) {
  layer *l = p;
  DK(cudnnConvolutionBackwardFilter(H, &one, l->x, l->X, l->y, l->DY, l->conv, l->wa, l->ws, l->wsn, &one, l->w, l->DW));
}
static void pool_fwd(void *p) {
  layer *l = p;
  DK(cudnnPoolingForward(H, l->pool, &one, l->x, l->X, &zero, l->y, l->Y));
}
static void pool_bwd(void *p) {
  layer *l = p;
  DK(cudnnPoolingBackward(H, l->pool, &one, l->y, l->Y, l->y, l->DY, l->x, l->X, &zero, l->x, l->DX));
}
static void bn_fwd(void *p) {
  layer *l = p;
  DK(cudnnBatchNormalizationForwardTraining(H, CUDNN_BATCHNORM_SPATIAL, &one, &zero, l->x, l->X, l->x, l->Y, l->bn,
                                            l->scale, l->bias, 0.1, l->m, l->v, 1e-5, l->sm, l->sv));
}
static void bn_bwd(void *p) {
  layer *l = p;
  DK(cudnnBatchNormalizationBackward(H, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, l->x, l->X, l->x, l->DY, l->x,
                                     l->DX, l->bn, l->scale, l->dscale, l->dbias, 1e-5, l->sm, l->sv));
}

/* the fastest algorithms cuDNN measures for this convolution, and one
   workspace for the three */
static void pick_algorithms(layer *l) {
  int n;
  cudnnConvolutionFwdAlgoPerf_t f[8];
  cudnnConvolutionBwdDataAlgoPerf_t d[8];
  cudnnConvolutionBwdFilterAlgoPerf_t w[8];
  DK(cudnnFindConvolutionForwardAlgorithm(H, l->x, l->w, l->conv, l->y, 8, &n, f));
  l->fa = f[0].algo;
  DK(cudnnFindConvolutionBackwardDataAlgorithm(H, l->w, l->y, l->conv, l->x, 8, &n, d));
  l->da = d[0].algo;
  DK(cudnnFindConvolutionBackwardFilterAlgorithm(H, l->x, l->y, l->conv, l->w, 8, &n, w));
  l->wa = w[0].algo;
  size_t a, b, c;
  DK(cudnnGetConvolutionForwardWorkspaceSize(H, l->x, l->w, l->conv, l->y, l->fa, &a));
  DK(cudnnGetConvolutionBackwardDataWorkspaceSize(H, l->w, l->y, l->conv, l->x, l->da, &b));
  DK(cudnnGetConvolutionBackwardFilterWorkspaceSize(H, l->x, l->y, l->conv, l->w, l->wa, &c));
  l->wsn = a > b ? a : b;
  if (c > l->wsn) l->wsn = c;
  CK(cudaMalloc(&l->ws, l->wsn + 16));
}

static void row(const char *name, const char *layout, double f, double d, double w) {
  printf("  %-26s %-5s %9.3f %9.3f", name, layout, f, d);
  if (isnan(w)) printf(" %9s\n", "-");
  else printf(" %9.3f\n", w);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) REPS = (int)strtol(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: cudnn_layers [--reps N]\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (REPS < 1 || REPS > 1000) REPS = 20;
  if (cudnnCreate(&H) != CUDNN_STATUS_SUCCESS) {
    fprintf(stderr, "cudnn_layers: no usable GPU or cuDNN (cudnnCreate failed)\n");
    return 3;
  }
  CK(cudaEventCreate(&E0));
  CK(cudaEventCreate(&E1));
  struct cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  printf("# cuDNN %zu on %s; batch 64; milliseconds per call (mean of %d); no ReLU in the convolutions\n",
         cudnnGetVersion(), prop.name, REPS);
  printf("# %-26s %-5s %9s %9s %9s\n", "layer", "form", "forward", "bwd-data", "bwd-w");
  const int shapes[3][2] = {{16, 32}, {32, 16}, {64, 8}};
  for (int si = 0; si < 3; si++) {
    int C = shapes[si][0], S = shapes[si][1], N = 64;
    size_t n = (size_t)N * C * S * S;
    layer l;
    memset(&l, 0, sizeof l);
    l.X = dev(n), l.Y = dev(n), l.DY = dev(n), l.DX = dev(n), l.W = dev((size_t)C * 25), l.DW = dev((size_t)C * 25);
    l.scale = dev(C), l.bias = dev(C), l.dscale = dev(C), l.dbias = dev(C), l.m = dev(C), l.v = dev(C);
    l.sm = dev(C), l.sv = dev(C);
    const int geo[4][3] = {{3, 1, 1}, {5, 2, 1}, {3, 2, 2}, {5, 4, 2}}; /* K P D: sep 3, sep 5, dil 3, dil 5 */
    for (int layout = 0; layout < 2; layout++) {
      const char *form = layout ? "CNHW" : "NCHW";
      l.x = tensor(N, C, S, S, layout);
      l.y = tensor(N, C, S, S, layout);
      for (int k = 0; k < 4; k++) {
        int K = geo[k][0], P = geo[k][1], D = geo[k][2];
        DK(cudnnCreateFilterDescriptor(&l.w));
        DK(cudnnSetFilter4dDescriptor(l.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, C, 1, K, K));
        DK(cudnnCreateConvolutionDescriptor(&l.conv));
        DK(cudnnSetConvolution2dDescriptor(l.conv, P, P, 1, 1, D, D, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        DK(cudnnSetConvolutionGroupCount(l.conv, C));
        pick_algorithms(&l);
        char name[64];
        snprintf(name, sizeof name, "dwconv %dx%d d%d C%d %dx%d", K, K, D, C, S, S);
        row(name, form, timed(conv_fwd, &l), timed(conv_bwd_data, &l), timed(conv_bwd_w, &l));
        CK(cudaFree(l.ws));
        cudnnDestroyConvolutionDescriptor(l.conv);
        cudnnDestroyFilterDescriptor(l.w);
      }
      for (int m = 0; m < 2; m++) {
        DK(cudnnCreatePoolingDescriptor(&l.pool));
        DK(cudnnSetPooling2dDescriptor(l.pool, m ? CUDNN_POOLING_MAX : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING,
                                       CUDNN_NOT_PROPAGATE_NAN, 3, 3, 1, 1, 1, 1));
        char name[64];
        snprintf(name, sizeof name, "%s 3x3 C%d %dx%d", m ? "max pool" : "avg pool", C, S, S);
        row(name, form, timed(pool_fwd, &l), timed(pool_bwd, &l), NAN);
        cudnnDestroyPoolingDescriptor(l.pool);
      }
      DK(cudnnCreateTensorDescriptor(&l.bn));
      DK(cudnnDeriveBNTensorDescriptor(l.bn, l.x, CUDNN_BATCHNORM_SPATIAL));
      char name[64];
      snprintf(name, sizeof name, "batch norm C%d %dx%d", C, S, S);
      row(name, form, timed(bn_fwd, &l), timed(bn_bwd, &l), NAN);
      cudnnDestroyTensorDescriptor(l.bn);
      cudnnDestroyTensorDescriptor(l.x);
      cudnnDestroyTensorDescriptor(l.y);
    }
    float *bufs[] = {l.X, l.Y, l.DY, l.DX, l.W, l.DW, l.scale, l.bias, l.dscale, l.dbias, l.m, l.v, l.sm, l.sv};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) CK(cudaFree(bufs[i]));
  }
  cudnnDestroy(H);
  return 0;
}
