#include "ref.h"

#include <math.h>

void ref_to_cnhw(double *dst, const double *src, int N, int C, int H, int W) {
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++) dst[CNHW(n, c, h, w, N, H, W)] = src[NCHW(n, c, h, w, C, H, W)];
}

void ref_to_nchw(double *dst, const double *src, int N, int C, int H, int W) {
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++) dst[NCHW(n, c, h, w, C, H, W)] = src[CNHW(n, c, h, w, N, H, W)];
}

int ref_out(int in, int k, int s, int p, int d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

void ref_conv(double *y, const double *x, const double *w, int N, int CI, int CO, int G, int H, int W, ref_geom g,
              int relu) {
  int OH = ref_out(H, g.kh, g.sh, g.ph, g.dh), OW = ref_out(W, g.kw, g.sw, g.pw, g.dw);
  int cig = CI / G, cog = CO / G;
  for (int n = 0; n < N; n++)
    for (int co = 0; co < CO; co++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          double s = 0;
          int grp = co / cog;
          for (int k = 0; k < cig; k++) {
            int ci = grp * cig + k;
            for (int i = 0; i < g.kh; i++)
              for (int j = 0; j < g.kw; j++) {
                int h = oh * g.sh - g.ph + i * g.dh, q = ow * g.sw - g.pw + j * g.dw;
                if (h < 0 || h >= H || q < 0 || q >= W) continue;
                double v = x[NCHW(n, ci, h, q, CI, H, W)];
                if (relu && v < 0) v = 0;
                s += w[(((long)co * cig + k) * g.kh + i) * g.kw + j] * v;
              }
          }
          y[NCHW(n, co, oh, ow, CO, OH, OW)] = s;
        }
}

static void pool(double *y, const double *x, int N, int C, int H, int W, ref_geom g, int is_max) {
  int OH = ref_out(H, g.kh, g.sh, g.ph, 1), OW = ref_out(W, g.kw, g.sw, g.pw, 1);
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          double s = 0, m = -INFINITY;
          int cnt = 0;
          for (int i = 0; i < g.kh; i++)
            for (int j = 0; j < g.kw; j++) {
              int h = oh * g.sh - g.ph + i, q = ow * g.sw - g.pw + j;
              if (h < 0 || h >= H || q < 0 || q >= W) continue; /* padding: not counted, never wins */
              double v = x[NCHW(n, c, h, q, C, H, W)];
              s += v;
              cnt++;
              if (v > m) m = v;
            }
          y[NCHW(n, c, oh, ow, C, OH, OW)] = is_max ? m : s / cnt;
        }
}

void ref_avgpool(double *y, const double *x, int N, int C, int H, int W, ref_geom g) { pool(y, x, N, C, H, W, g, 0); }
void ref_maxpool(double *y, const double *x, int N, int C, int H, int W, ref_geom g) { pool(y, x, N, C, H, W, g, 1); }

void ref_bn(double *y, double *mean, double *var, const double *x, const double *gamma, const double *beta, int N,
            int C, int HW) {
  for (int c = 0; c < C; c++) {
    double s = 0, ss = 0;
    for (int n = 0; n < N; n++)
      for (int i = 0; i < HW; i++) s += x[((long)n * C + c) * HW + i];
    double m = s / ((double)N * HW);
    for (int n = 0; n < N; n++)
      for (int i = 0; i < HW; i++) {
        double d = x[((long)n * C + c) * HW + i] - m;
        ss += d * d;
      }
    double v = ss / ((double)N * HW);
    mean[c] = m;
    var[c] = v;
    for (int n = 0; n < N; n++)
      for (int i = 0; i < HW; i++) {
        long k = ((long)n * C + c) * HW + i;
        double z = (x[k] - m) / sqrt(v + 1e-5);
        y[k] = gamma ? z * gamma[c] + beta[c] : z;
      }
  }
}

void ref_gather(double *y, const double *x, int N, int C, int H, int W, int S, int O, int relu) {
  int OH = (H + S - 1) / S, OW = (W + S - 1) / S;
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      for (int i = 0; i < OH; i++)
        for (int j = 0; j < OW; j++) {
          int h = i * S + O, w = j * S + O;
          double v = (h < H && w < W) ? x[NCHW(n, c, h, w, C, H, W)] : 0;
          if (relu && v < 0) v = 0;
          y[NCHW(n, c, i, j, C, OH, OW)] = v;
        }
}

double ref_xent_smoothed(const double *logits, const int *labels, int N, int K, double eps) {
  double loss = 0;
  for (int n = 0; n < N; n++) {
    double m = logits[(long)n * K];
    for (int k = 1; k < K; k++) m = fmax(m, logits[(long)n * K + k]);
    double s = 0;
    for (int k = 0; k < K; k++) s += exp(logits[(long)n * K + k] - m);
    for (int k = 0; k < K; k++) { /* the target: 1 - eps on the label, eps / K on every class */
      double target = (k == labels[n] ? 1 - eps : 0) + eps / K;
      loss -= target * (logits[(long)n * K + k] - m - log(s));
    }
  }
  return loss;
}

void ref_loglik(double *ll, const double *logits, const int *labels, int N, int K) {
  for (int n = 0; n < N; n++) {
    double m = logits[(long)n * K];
    for (int k = 1; k < K; k++) m = fmax(m, logits[(long)n * K + k]);
    double s = 0;
    for (int k = 0; k < K; k++) s += exp(logits[(long)n * K + k] - m);
    ll[n] = logits[(long)n * K + labels[n]] - m - log(s);
  }
}
