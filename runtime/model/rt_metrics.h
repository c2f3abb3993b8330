/* How good and how honest a classifier's probabilities are on a test set:
 * accuracy, negative log-likelihood, Brier score, and the expected
 * calibration error over equal-width confidence bins (Guo et al. 2017),
 * with the bins themselves for a reliability diagram. */
#ifndef PARSEC_RT_METRICS_H
#define PARSEC_RT_METRICS_H

#define RT_METRICS_BINS 15

typedef struct {
  double accuracy, nll, brier, ece;
  /* per confidence bin [b/15, (b+1)/15): mean confidence, accuracy, count */
  double bin_conf[RT_METRICS_BINS], bin_acc[RT_METRICS_BINS];
  long bin_n[RT_METRICS_BINS];
} rt_metrics;

/* PROBS: N x K rows of probabilities, LABELS: N classes.  NLL takes
 * log(max(p, 1e-12)) so one confident mistake stays finite.  Brier: the
 * mean over images of sum_k (p_k - [k = y])^2. */
void rt_metrics_of(const float *probs, const int *labels, long N, int K, rt_metrics *m);

/* Softmax of each of N rows of K logits, in place. */
void rt_metrics_softmax(float *x, long N, int K);

#endif
