/* On a GPU: every kernel the generator can emit for the DARTS space, run
 * through the CUDA backend, against the CPU rendering of the same kernels.
 * The DARTS supernet's training and inference plans use every one of them
 * (that is how parsecgen enumerates them), so both plans run on both
 * backends from the same weights and inputs, and the log-likelihoods, every
 * weight gradient and every running statistic must agree.  Skips where no
 * GPU is usable (the ctest label "gpu"). */
#include "ktest.h"
#include "rt_device.h"
#include "rt_model.h"
#include "rt_runner.h"
#include "sp_json.h"

rt_backend *KB; /* unused: ktest.h's double backend */

static void compare(const char *what, const float *cpu, const float *gpu, size_t n, double rel) {
  double scale = 0;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(cpu[i]));
  size_t bad = 0, worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)cpu[i] - gpu[i]);
    if (d > rel * (scale + 1e-3) + 1e-4 * fabs(cpu[i])) bad++;
    if (d > fabs((double)cpu[worst] - gpu[worst])) worst = i;
  }
  fprintf(stderr, "%s: %zu values, largest difference %.3g at %zu (cpu %.6g, gpu %.6g)\n", what, n,
          fabs((double)cpu[worst] - gpu[worst]), worst, cpu[worst], gpu[worst]);
  if (bad) fail_msg("%s: %zu of %zu values differ between CPU and GPU", what, bad, n);
}

static void test_every_kernel_matches_cpu(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  rt_backend *gpu, *cpu;
  if (rt_device_open(&gpu, "cuda", 0, 0, &e) != 0) {
    fprintf(stderr, "skipped: %s\n", err_msg(&e));
    err_clear(&e);
    skip();
  }
  sp_space sp;
  nw_layout lay;
  if (sp_load_example(&sp, "darts", &e) || nw_search_layout(&lay, &sp, &sp.net, &e) || rt_cpu_open(&cpu, CG_F32, 0, &e))
    fail_msg("%s", err_msg(&e));
  fprintf(stderr, "GPU: %s\n", gpu->device);
  rt_backend *bs[2] = {cpu, gpu};
  const pl_mode modes[2] = {PL_TRAIN, PL_EVAL};
  long N = 4, img = 3 * 32 * 32;
  float *res[2][4];
  rt_result out[2][2];
  for (int b = 0; b < 2; b++) {
    rt_model m;
    rt_runner r;
    if (rt_model_init(&m, bs[b], &lay, 9, &e) || rt_runner_init(&r, bs[b], &m, (int)N, img, 1, &e)) fail_msg("%s", err_msg(&e));
    kt_state = 77;
    for (long i = 0; i < N * img; i++) ((float *)r.himg)[i] = (float)kt_rand();
    for (long i = 0; i < N; i++) r.hlab[i] = (int)i;
    for (int k = 0; k < 2; k++) {
      pl_plan p;
      if (pl_build_supernet(&p, &sp, &sp.net, &lay, modes[k], &e) || rt_model_zero_grads(&m, &e) ||
          rt_runner_run(&r, &p, N, 1.0f / N, 0.1f, &out[b][k], &e) || bs[b]->sync(bs[b], &e))
        fail_msg("%s: %s", bs[b]->name, err_msg(&e));
      pl_free(&p);
      if (k == 0) {
        res[b][0] = malloc(lay.nparams * 4);
        res[b][1] = malloc(lay.nstats * 4);
        bs[b]->download(bs[b], res[b][0], m.grads, lay.nparams * 4, &e);
        bs[b]->download(bs[b], res[b][1], m.stats, lay.nstats * 4, &e);
      }
    }
    rt_runner_free(&r);
    rt_model_free(&m);
  }
  for (int k = 0; k < 2; k++) {
    double a = out[0][k].loglik, g = out[1][k].loglik;
    fprintf(stderr, "%s plan: log-likelihood %.6g on the CPU, %.6g on the GPU\n", k ? "inference" : "training", a, g);
    if (fabs(a - g) > 1e-3 * fabs(a) + 1e-3) fail_msg("log-likelihoods differ");
  }
  compare("weight gradients (every kernel's backward)", res[0][0], res[1][0], lay.nparams, 2e-3);
  compare("BN running statistics", res[0][1], res[1][1], lay.nstats, 2e-3);
  for (int b = 0; b < 2; b++) free(res[b][0]), free(res[b][1]);
  rt_backend_close(gpu);
  rt_backend_close(cpu);
  nw_free(&lay);
  sp_free(&sp);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_kernel_matches_cpu)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
