/* The SVG charts: ticks at round numbers covering the data, labels
 * escaped, one polyline per series, a cell per heat-map value. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plot.h"

#define assert_near(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

static int count(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static void test_ticks(void **state) {
  (void)state;
  double t[16];
  int n = plot_ticks(0.13, 0.87, 6, t);
  assert_true(n >= 3 && n <= 7);
  assert_true(t[0] >= 0.13 - 1e-12 && t[n - 1] <= 0.87 + 1e-12);
  double step = t[1] - t[0], m = step / pow(10, floor(log10(step) + 1e-9));
  assert_true(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9); /* 1, 2 or 5 times a power of ten */
  for (int i = 1; i < n; i++) assert_near(t[i] - t[i - 1], step, 1e-12);
  n = plot_ticks(47.2, 50.3, 6, t);
  assert_near(t[0], 48, 1e-9);
  assert_near(t[n - 1], 50, 1e-9);
  n = plot_ticks(5, 5, 6, t); /* a flat series still gets an axis */
  assert_true(n >= 2);
}

static void test_lines(void **state) {
  (void)state;
  double x[3] = {1, 2, 3}, a[3] = {10, 20, 30}, b[3] = {30, NAN, 10};
  plot_chart c = {"loss <&> accuracy", "epoch", "y", x, 3, {{"train", a, "#c00"}, {"test", b, "#00c"}}, 2};
  char *svg = plot_lines("a \"title\"", &c, 1);
  assert_non_null(svg);
  assert_non_null(strstr(svg, "loss &lt;&amp;&gt; accuracy"));
  assert_non_null(strstr(svg, "a &quot;title&quot;"));
  assert_int_equal(count(svg, "<polyline"), 2);
  assert_non_null(strstr(svg, "data-label=\"test\""));
  assert_null(strstr(svg, ">1.5<")); /* epochs are whole */
  assert_non_null(strstr(svg, "</svg>"));
  free(svg);
}

static void test_heatmap(void **state) {
  (void)state;
  double x[4] = {0, 1, 2, 3}, v[2 * 4] = {0, 0.5, 1, 0.25, 1, 0.5, 0, 0.75};
  const char *group[2] = {"normal node 0", "normal node 0"}, *row[2] = {"skip_connect", "sep_conv_3x3"};
  plot_heat h = {"pi", "epoch", "share", x, 4, group, row, 2, v};
  char *svg = plot_heatmap(&h);
  assert_non_null(svg);
  assert_int_equal(count(svg, "normal node 0"), 1); /* a group is named once */
  assert_non_null(strstr(svg, "fill=\"#ffffff\"")); /* 0 is white */
  assert_non_null(strstr(svg, "fill=\"#08306b\"")); /* 1 is dark blue */
  free(svg);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_ticks), cmocka_unit_test(test_lines),
                                     cmocka_unit_test(test_heatmap)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
