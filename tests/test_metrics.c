/* Accuracy, NLL, Brier score and expected calibration error against values
 * worked out by hand, and a softmax that stays finite for large logits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rt_metrics.h"

#define assert_near(a, b) assert_true(fabs((a) - (b)) < 1e-6)

static void test_by_hand(void **state) {
  (void)state;
  /* two images of class 0: one right at confidence 0.9 (bin 13), one
     wrong at 0.6 (bin 9) */
  const float p[4] = {0.9f, 0.1f, 0.4f, 0.6f};
  const int y[2] = {0, 0};
  rt_metrics m;
  rt_metrics_of(p, y, 2, 2, &m);
  assert_near(m.accuracy, 0.5);
  assert_near(m.nll, -(log(0.9) + log(0.4)) / 2);
  assert_near(m.brier, (0.01 + 0.01 + 0.36 + 0.36) / 2);
  assert_near(m.ece, 0.5 * fabs(1 - 0.9) + 0.5 * fabs(0 - 0.6));
  assert_int_equal(m.bin_n[13], 1);
  assert_int_equal(m.bin_n[9], 1);
  assert_near(m.bin_conf[9], 0.6);
  assert_near(m.bin_acc[13], 1);
  /* a confident mistake costs a finite NLL */
  const float q[2] = {1, 0};
  const int z[1] = {1};
  rt_metrics_of(q, z, 1, 2, &m);
  assert_near(m.nll, -log(1e-12));
  assert_int_equal(m.bin_n[14], 1); /* confidence 1 sits in the last bin */
}

static void test_softmax(void **state) {
  (void)state;
  float x[3] = {1000, 999, -1000};
  rt_metrics_softmax(x, 1, 3);
  assert_near(x[0], 1 / (1 + exp(-1.0)));
  assert_near(x[0] + x[1] + x[2], 1);
  assert_true(x[2] >= 0 && x[2] < 1e-30);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_by_hand), cmocka_unit_test(test_softmax)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
