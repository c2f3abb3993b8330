#include "rt_metrics.h"

#include <math.h>
#include <string.h>

void rt_metrics_softmax(float *x, long N, int K) {
  for (long i = 0; i < N; i++) {
    float *r = x + i * K, mx = r[0];
    for (int k = 1; k < K; k++) mx = r[k] > mx ? r[k] : mx;
    double s = 0;
    for (int k = 0; k < K; k++) s += exp((double)r[k] - mx);
    for (int k = 0; k < K; k++) r[k] = (float)(exp((double)r[k] - mx) / s);
  }
}

void rt_metrics_of(const float *probs, const int *labels, long N, int K, rt_metrics *m) {
  memset(m, 0, sizeof *m);
  double conf_sum[RT_METRICS_BINS] = {0}, right[RT_METRICS_BINS] = {0};
  for (long i = 0; i < N; i++) {
    const float *p = probs + i * K;
    int y = labels[i], best = 0;
    for (int k = 1; k < K; k++)
      if (p[k] > p[best]) best = k;
    double py = p[y] > 1e-12 ? p[y] : 1e-12;
    m->nll -= log(py);
    m->accuracy += best == y;
    for (int k = 0; k < K; k++) {
      double d = p[k] - (k == y);
      m->brier += d * d;
    }
    int b = (int)(p[best] * RT_METRICS_BINS);
    b = b < 0 ? 0 : b >= RT_METRICS_BINS ? RT_METRICS_BINS - 1 : b;
    conf_sum[b] += p[best];
    right[b] += best == y;
    m->bin_n[b]++;
  }
  for (int b = 0; b < RT_METRICS_BINS; b++) {
    if (!m->bin_n[b]) continue;
    m->bin_conf[b] = conf_sum[b] / m->bin_n[b];
    m->bin_acc[b] = right[b] / m->bin_n[b];
    m->ece += (double)m->bin_n[b] / N * fabs(m->bin_acc[b] - m->bin_conf[b]);
  }
  if (N > 0) m->accuracy /= N, m->nll /= N, m->brier /= N;
}
