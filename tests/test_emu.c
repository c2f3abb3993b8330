/* The CUDA emulation can fail: the block reduction every @block kernel
 * uses, mutated in the ways a GPU kernel goes wrong (a barrier dropped, the
 * shuffle's mask or offsets broken, a warp's partial sum stored at the
 * wrong index, a barrier only some threads reach), gives wrong statistics
 * or a detected error in at least one of the emulation's two schedules,
 * while the source as rendered is right in both. */
#include "emu/emu.h"
#include "ktest.h"

rt_backend *KB; /* unused: ktest.h's double backend */

enum { N = 2, C = 3, HW = 151 }; /* 302 values per channel: more than a block's 256 threads */

/* bn_stats's per-channel mean and 1/std, rendered with FROM replaced by TO,
   run in schedule ORDER, against a double reference: 0 when right, 1 when
   wrong, 2 when the emulation reported an error */
static int bn_stats_run(const char *from, const char *to, const char *order) {
  err_t e = ERR_INIT;
  KSPEC(s, "bn_stats", {"C", C}, {"HW", HW});
  emu_mod m;
  if (emu_build(&m, &s, 1, CG_F64, from, to, &e) != 0) fail_msg("%s", err_msg(&e));
  const long M = (long)N * HW;
  double *x = kt_randv(C * M), save[2 * C], rm[C], rv[C];
  long n = N;
  float mo = 0;
  void *ps[5] = {save, rm, rv, x, NULL}, *params[6] = {&n, &ps[0], &ps[1], &ps[2], &ps[3], &mo};
  cg_grid g;
  unsigned gx, bx;
  if (cg_spec_grid(&s, &g, &e) != 0) fail_msg("%s", err_msg(&e));
  emu_dims(&g, N, &gx, &bx);
  assert_int_equal(gx, C);
  assert_int_equal(bx, 256);
  setenv("PARSEC_EMU_ORDER", order, 1);
  int rc = 0;
  if (m.fn[0](gx, bx, params) != 0) {
    rc = 2;
    if (!from) fail_msg("the unmutated kernel: %s", m.error());
  }
  for (int c = 0; c < C && rc == 0; c++) {
    double s1 = 0, s2 = 0;
    for (long i = 0; i < M; i++) s1 += x[c * M + i], s2 += x[c * M + i] * x[c * M + i];
    double mean = s1 / M, istd = 1 / sqrt(s2 / M - mean * mean + 1e-5);
    if (fabs(save[c] - mean) > 1e-12 || fabs(save[C + c] - istd) > 1e-12 * istd) rc = 1;
  }
  free(x);
  emu_free(&m);
  return rc;
}

static void test_rendered_block_sum_is_right(void **state) {
  (void)state;
  assert_int_equal(bn_stats_run(NULL, NULL, "up"), 0);
  assert_int_equal(bn_stats_run(NULL, NULL, "down"), 0);
}

/* each mutation is caught in some schedule, and how */
static void caught(const char *what, const char *from, const char *to, int up, int down) {
  int got[2] = {bn_stats_run(from, to, "up"), bn_stats_run(from, to, "down")};
  if (got[0] != up || got[1] != down)
    fail_msg("%s: up %d, down %d (want %d, %d; 0 right, 1 wrong numbers, 2 an error reported)", what, got[0], got[1],
             up, down);
  assert_true(got[0] || got[1]);
}

static void test_dropped_barriers(void **state) {
  (void)state;
  /* warp 0 reads the other warps' partial sums before they are written:
     seen when it runs ahead (lane 0 alone writes the statistics) */
  caught("barrier after the partial sums dropped", "  __syncthreads();\n  v = 0;", "  v = 0;", 1, 0);
  /* the second sum (x^2) overwrites partial sums the first is still reading:
     seen when the last warp runs ahead */
  caught("barrier before the partial sums dropped", "__syncthreads(); /* a previous sum may still be reading part_ */",
         "", 0, 1);
}

static void test_broken_shuffles(void **state) {
  (void)state;
  caught("mask leaving out the top lane", "__shfl_xor_sync(0xffffffffu", "__shfl_xor_sync(0x7fffffffu", 2, 2);
  caught("offsets from 8: half of each warp summed", "for (int o = 16;", "for (int o = 8;", 1, 1);
  caught("partial sum at the lane's index", "part_[threadIdx.x >> 5] = v", "part_[threadIdx.x & 31] = v", 1, 1);
}

static void test_divergent_barrier(void **state) {
  (void)state;
  caught("a block sum only some threads reach", "BLOCK_SUM2(s, s2);", "if (LANE < 64) BLOCK_SUM2(s, s2);", 2, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rendered_block_sum_is_right),
      cmocka_unit_test(test_dropped_barriers),
      cmocka_unit_test(test_broken_shuffles),
      cmocka_unit_test(test_divergent_barrier),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
