/* The distribution and the weight update: sampling frequencies match pi;
 * the importance weights are stable for log-likelihoods of -1e4; on a space
 * small enough to enumerate, the estimate of the logits' gradient converges
 * as K grows to the exact gradient of the log marginal likelihood
 * log sum_alpha p(alpha | pi) p(y | x, v, alpha) (paper eq. 3), not to the
 * gradient of the expected log-likelihood; SGD moves only touched tensors
 * and clips the gradient norm. */
#include "ktest.h"
#include "rt_dist.h"
#include "rt_model.h"

rt_backend *KB;

static sp_space SP;

static int setup(void **state) {
  if (kt_setup(state) != 0) return -1;
  err_t e = ERR_INIT;
  /* 1 node with 2 inputs over 3 primitives: 2 x 2 categoricals of 6 choices,
     6^4 = 1296 genotypes in all */
  const char *src =
      "local d = import 'darts'\n"
      "return space{ primitives = { d.primitives[1], d.primitives[3], d.primitives[4] },\n"
      "  cell = { nodes = 1, inputs = 2 },\n"
      "  network = { input = { channels = 1, size = 8 }, channels = 4, cells = 3 } }\n";
  if (sp_load_string(&SP, "enum.lua", src, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  sp_free(&SP);
  return kt_teardown(state);
}

static void random_logits(rt_dist *d, double scale) {
  for (int i = 0; i < d->total; i++) d->logits[i] = scale * kt_rand();
  err_t e = ERR_INIT;
  assert_int_equal(rt_dist_set(d, d->logits, NULL, NULL, 0, &e), 0);
}

static void test_sampling_frequencies(void **state) {
  (void)state;
  rt_dist d;
  err_t e = ERR_INIT;
  assert_int_equal(rt_dist_init(&d, &SP, KB, 0.5, 0.999, &e), 0);
  random_logits(&d, 1.5);
  long n = 60000;
  long *count = calloc((size_t)d.total, sizeof *count);
  rng_t r;
  rng_seed(&r, 42);
  for (long s = 0; s < n; s++) {
    gt_genotype g;
    rt_dist_sample(&d, &r, &g);
    for (int t = 0; t < 2; t++)
      for (int i = 0; i < SP.inputs; i++) {
        int c = rt_dist_cat(&d, t, 0, i);
        count[d.off[c] + gt_index(&SP, g.pred[t][0][i], g.prim[t][0][i])]++;
      }
  }
  double p[64];
  for (int c = 0; c < d.ncat; c++) {
    rt_dist_probs(&d, c, p);
    for (int k = 0; k < d.size[c]; k++) {
      double f = (double)count[d.off[c] + k] / n, sd = sqrt(p[k] * (1 - p[k]) / n);
      if (fabs(f - p[k]) > 5 * sd + 1e-9) fail_msg("categorical %d choice %d: frequency %.4f, p %.4f", c, k, f, p[k]);
    }
  }
  /* the mode is the argmax of every categorical */
  gt_genotype m;
  rt_dist_mode(&d, &m);
  for (int c = 0; c < d.ncat; c++) {
    int t = c / SP.inputs, i = c % SP.inputs, best = 0;
    for (int k = 1; k < d.size[c]; k++)
      if (d.logits[d.off[c] + k] > d.logits[d.off[c] + best]) best = k;
    assert_int_equal(gt_index(&SP, m.pred[t][0][i], m.prim[t][0][i]), best);
  }
  free(count);
  rt_dist_free(&d);
}

static void test_weights_stable(void **state) {
  (void)state;
  double x[4] = {-1e4, -1e4 - 1, -2e4, -1e4 - 0.5}, w[4];
  rt_softmax(x, 4, 1.0, w);
  double s = 0;
  for (int i = 0; i < 4; i++) {
    assert_true(isfinite(w[i]) && w[i] >= 0);
    s += w[i];
  }
  assert_true(fabs(s - 1) < 1e-12);
  assert_true(fabs(w[0] / w[1] - exp(1)) < 1e-9);
  assert_true(w[2] == 0); /* e^-10000 relative: underflows to 0, not NaN */
  double big[2] = {1e6, 1e6 - 2};
  rt_softmax(big, 2, 2.0, w); /* a temperature of 2 halves the gap */
  assert_true(fabs(w[0] / w[1] - exp(1)) < 1e-9);
}

/* genotype number z (base-size digits, one per categorical) */
static void genotype_of(const rt_dist *d, long z, gt_genotype *g, int *idx) {
  memset(g, 0, sizeof *g);
  g->nodes = SP.nodes;
  g->inputs = SP.inputs;
  for (int c = 0; c < d->ncat; c++) {
    int k = (int)(z % d->size[c]);
    z /= d->size[c];
    int t = c / SP.inputs, i = c % SP.inputs;
    g->pred[t][0][i] = k / SP.nprims;
    g->prim[t][0][i] = k % SP.nprims;
    idx[c] = k;
  }
}

static void test_gradient_is_log_marginal(void **state) {
  (void)state;
  rt_dist d;
  err_t e = ERR_INIT;
  assert_int_equal(rt_dist_init(&d, &SP, KB, 0.5, 0.999, &e), 0);
  random_logits(&d, 1.0);
  long G = 1;
  for (int c = 0; c < d.ncat; c++) G *= d.size[c];
  assert_int_equal(G, 1296);
  /* a log-likelihood for every architecture */
  double *L = malloc(sizeof(double) * (size_t)G);
  for (long z = 0; z < G; z++) L[z] = 4 * kt_rand();
  /* exact gradients: of log sum_a p(a) e^L(a) (posterior-weighted), and of
     E_p[L] (likelihood-weighted) */
  double *exact = calloc((size_t)d.total, sizeof(double)), *elogp = calloc((size_t)d.total, sizeof(double));
  double pc[64], lz = -INFINITY;
  double *pa = malloc(sizeof(double) * (size_t)G);
  for (long z = 0; z < G; z++) {
    gt_genotype g;
    int idx[16];
    genotype_of(&d, z, &g, idx);
    double lp = 0;
    for (int c = 0; c < d.ncat; c++) {
      rt_dist_probs(&d, c, pc);
      lp += log(pc[idx[c]]);
    }
    pa[z] = lp;
    lz = fmax(lz, lp + L[z]);
  }
  double norm = 0;
  for (long z = 0; z < G; z++) norm += exp(pa[z] + L[z] - lz);
  for (long z = 0; z < G; z++) {
    gt_genotype g;
    int idx[16];
    genotype_of(&d, z, &g, idx);
    double q = exp(pa[z] + L[z] - lz) / norm, p = exp(pa[z]);
    double w1 = 1;
    double g1[512];
    rt_dist_grad(&d, &g, &w1, 1, g1); /* onehot - pi */
    for (int j = 0; j < d.total; j++) {
      exact[j] += q * g1[j];
      elogp[j] += p * L[z] * g1[j];
    }
  }
  /* the importance-weighted estimate, averaged over repetitions */
  int Ks[4] = {1, 4, 32, 512};
  double err[4], size = sqrt(kt_dot(exact, exact, d.total));
  rng_t r;
  rng_seed(&r, 7);
  gt_genotype *s = malloc(sizeof *s * 512);
  for (int ki = 0; ki < 4; ki++) {
    int K = Ks[ki], reps = 300000 / K > 1000 ? 300000 / K : 1000;
    double *mean = calloc((size_t)d.total, sizeof(double)), grad[512], lw[512], w[512];
    for (int rep = 0; rep < reps; rep++) {
      for (int k = 0; k < K; k++) {
        rt_dist_sample(&d, &r, &s[k]);
        long z = 0, mul = 1;
        for (int c = 0; c < d.ncat; c++) {
          int t = c / SP.inputs, i = c % SP.inputs;
          z += mul * gt_index(&SP, s[k].pred[t][0][i], s[k].prim[t][0][i]);
          mul *= d.size[c];
        }
        lw[k] = L[z];
      }
      rt_softmax(lw, K, 1.0, w);
      rt_dist_grad(&d, s, w, K, grad);
      for (int j = 0; j < d.total; j++) mean[j] += grad[j] / reps;
    }
    double s2 = 0;
    for (int j = 0; j < d.total; j++) s2 += (mean[j] - exact[j]) * (mean[j] - exact[j]);
    err[ki] = sqrt(s2) / size;
    free(mean);
  }
  double s2 = 0;
  for (int j = 0; j < d.total; j++) s2 += (elogp[j] - exact[j]) * (elogp[j] - exact[j]);
  double other = sqrt(s2) / size;
  fprintf(stderr,
          "relative error of the estimate: K=1 %.3f, K=4 %.3f, K=32 %.3f, K=512 %.3f; "
          "the expected log-likelihood's gradient is %.3f away\n",
          err[0], err[1], err[2], err[3], other);
  assert_true(err[1] < err[0]);
  assert_true(err[2] < err[1]);
  assert_true(err[3] < err[2]);
  assert_true(err[3] < 0.1);
  assert_true(other > 5 * err[3]);
  free(s);
  free(L);
  free(exact);
  free(elogp);
  free(pa);
  rt_dist_free(&d);
}

static void test_adam_ascends(void **state) {
  (void)state;
  rt_dist d;
  err_t e = ERR_INIT;
  assert_int_equal(rt_dist_init(&d, &SP, KB, 0.5, 0.999, &e), 0);
  double *g = calloc((size_t)d.total, sizeof(double));
  g[0] = 1;
  g[1] = -1;
  for (int i = 0; i < 3; i++) assert_int_equal(rt_dist_adam(&d, g, 0.02, &e), 0);
  /* Adam's first steps move by about lr in the gradient's sign */
  assert_true(fabs(d.logits[0] - 0.06) < 1e-6);
  assert_true(fabs(d.logits[1] + 0.06) < 1e-6);
  assert_true(d.logits[2] == 0);
  double h0 = log(6) * d.ncat;
  assert_true(rt_dist_entropy(&d) < h0);
  free(g);
  rt_dist_free(&d);
}

static void test_sgd_touched_and_clipped(void **state) {
  (void)state;
  nw_layout lay;
  err_t e = ERR_INIT;
  assert_int_equal(nw_search_layout(&lay, &SP, &SP.net, &e), 0);
  rt_model m;
  assert_int_equal(rt_model_init(&m, KB, &lay, 3, &e), 0);
  double *p0 = malloc(lay.nparams * sizeof(double));
  memcpy(p0, m.params, lay.nparams * sizeof(double));
  double *g = m.grads;
  for (int i = 0; i < lay.n; i++) /* every tensor has a gradient ... */
    if (lay.t[i].kind == NW_PARAM)
      for (size_t k = 0; k < lay.t[i].numel; k++) g[lay.t[i].offset + k] = 1;
  int a = lay.stem_weight, b = lay.classifier_weight;
  m.touched[a] = m.touched[b] = 1; /* ... but two were used */
  double sq = (double)lay.t[a].numel + (double)lay.t[b].numel, gnorm;
  assert_int_equal(rt_model_sgd(&m, 0.1f, 0.9f, 0.0f, 1.0f, &gnorm, &e), 0);
  assert_true(fabs(gnorm - sqrt(sq)) < 1e-9 * gnorm);
  double scale = 1.0 / (sqrt(sq) + 1e-6);
  for (int i = 0; i < lay.n; i++) {
    const nw_tensor *t = &lay.t[i];
    if (t->kind != NW_PARAM) continue;
    for (size_t k = 0; k < t->numel; k++) {
      double now = ((double *)m.params)[t->offset + k], before = p0[t->offset + k];
      double want = (i == a || i == b) ? before - (double)0.1f * (double)(float)scale : before;
      if (fabs(now - want) > 1e-7) fail_msg("%s[%zu]: %.9g, want %.9g", t->name, k, now, want);
      if (i != a && i != b && ((double *)m.mom)[t->offset + k] != 0) fail_msg("%s: momentum moved", t->name);
    }
  }
  for (int i = 0; i < lay.n; i++) assert_int_equal(m.touched[i], 0);
  free(p0);
  rt_model_free(&m);
  nw_free(&lay);
}

typedef struct {
  double lp;
  gt_genotype g;
} scored;

static int by_lp(const void *a, const void *b) {
  const scored *x = a, *y = b;
  return (x->lp < y->lp) - (x->lp > y->lp);
}

/* The M most probable networks, against all 1296 genotypes enumerated,
 * sorted and thinned to distinct networks (a node's two inputs swapped are
 * the same network). */
static void test_top_m(void **state) {
  (void)state;
  rt_dist d;
  err_t e = ERR_INIT;
  assert_int_equal(rt_dist_init(&d, &SP, NULL, 0.5, 0.999, &e), 0);
  random_logits(&d, 2.0);
  scored *all = malloc(sizeof *all * 1296);
  int n = 0;
  for (int c0 = 0; c0 < 6; c0++)
    for (int c1 = 0; c1 < 6; c1++)
      for (int c2 = 0; c2 < 6; c2++)
        for (int c3 = 0; c3 < 6; c3++) {
          int c[4] = {c0, c1, c2, c3};
          gt_genotype g = {1, 2, {{{0}}}, {{{0}}}};
          for (int k = 0; k < 4; k++) g.pred[k / 2][0][k % 2] = c[k] / 3, g.prim[k / 2][0][k % 2] = c[k] % 3;
          all[n].g = g;
          all[n++].lp = rt_dist_logp(&d, &g);
        }
  qsort(all, (size_t)n, sizeof *all, by_lp);
  enum { M = 60 };
  scored want[M];
  int nw = 0;
  for (int i = 0; i < n && nw < M; i++) {
    int dup = 0;
    for (int j = 0; j < nw && !dup; j++) dup = gt_same_network(&want[j].g, &all[i].g);
    if (!dup) want[nw++] = all[i];
  }
  gt_genotype got[M], mode;
  int ng;
  assert_int_equal(rt_dist_top(&d, M, got, &ng, &e), 0);
  assert_int_equal(ng, M);
  rt_dist_mode(&d, &mode);
  assert_true(gt_equal(&got[0], &mode));
  for (int i = 0; i < M; i++) {
    if (fabs(rt_dist_logp(&d, &got[i]) - want[i].lp) > 1e-12)
      fail_msg("rank %d: log p %.15g, the enumeration's %.15g", i, rt_dist_logp(&d, &got[i]), want[i].lp);
    assert_true(gt_same_network(&got[i], &want[i].g));
  }
  /* a space of fewer networks than asked: all of them, once */
  gt_genotype *many = malloc(sizeof *many * 2000);
  assert_int_equal(rt_dist_top(&d, 2000, many, &ng, &e), 0);
  int distinct = 0;
  for (int i = 0; i < n; i++) {
    int dup = 0;
    for (int j = 0; j < i && !dup; j++) dup = gt_same_network(&all[j].g, &all[i].g);
    distinct += !dup;
  }
  assert_int_equal(ng, distinct);
  free(many);
  free(all);
  rt_dist_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sampling_frequencies),     cmocka_unit_test(test_weights_stable),
      cmocka_unit_test(test_gradient_is_log_marginal), cmocka_unit_test(test_adam_ascends),
      cmocka_unit_test(test_sgd_touched_and_clipped),  cmocka_unit_test(test_top_m),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
