/* Plain double-precision references for every layer, written separately from
 * the kernel templates and in the other layout (NCHW, as PyTorch), so that a
 * layout slip in a template cannot hide behind the same slip here. */
#ifndef PARSEC_TESTS_REF_H
#define PARSEC_TESTS_REF_H

/* index helpers */
#define NCHW(n, c, h, w, C, H, W) ((((long)(n) * (C) + (c)) * (H) + (h)) * (W) + (w))
#define CNHW(n, c, h, w, N, H, W) ((((long)(c) * (N) + (n)) * (H) + (h)) * (W) + (w))

void ref_to_cnhw(double *dst, const double *src, int N, int C, int H, int W);
void ref_to_nchw(double *dst, const double *src, int N, int C, int H, int W);

typedef struct {
  int kh, kw, sh, sw, ph, pw, dh, dw;
} ref_geom;

int ref_out(int in, int k, int s, int p, int d);

/* y[N, CO, OH, OW] = conv(act(x[N, CI, H, W]), w[CO, CI/G, KH, KW]) */
void ref_conv(double *y, const double *x, const double *w, int N, int CI, int CO, int G, int H, int W, ref_geom g,
              int relu);
void ref_avgpool(double *y, const double *x, int N, int C, int H, int W, ref_geom g);
void ref_maxpool(double *y, const double *x, int N, int C, int H, int W, ref_geom g);
/* training-mode BN; mean/var: the batch's (biased variance) */
void ref_bn(double *y, double *mean, double *var, const double *x, const double *gamma, const double *beta, int N,
            int C, int HW);
/* y[N, C, ceil(H/S), ceil(W/S)] = act(x[.., i*S + O, j*S + O]), zero past the edge */
void ref_gather(double *y, const double *x, int N, int C, int H, int W, int S, int O, int relu);
/* per-sample log softmax at the label */
void ref_loglik(double *ll, const double *logits /* [N, K] */, const int *labels, int N, int K);
/* The summed cross-entropy against labels smoothed by EPS (PyTorch's
 * CrossEntropyLoss(label_smoothing=EPS), reduction sum). */
double ref_xent_smoothed(const double *logits /* [N, K] */, const int *labels, int N, int K, double eps);

#endif
