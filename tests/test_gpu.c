/* On a GPU: every kernel the generator can emit for the DARTS space, run
 * through the CUDA backend, against the CPU rendering of the same kernels.
 * The DARTS supernet's training and inference plans use every one of them
 * (that is how parsecgen enumerates them), so both plans run on both
 * backends from the same weights and inputs, and the log-likelihoods, every
 * weight gradient and every running statistic must agree.  Then the ways of
 * running plans that only a GPU makes differ: a training step replayed as a
 * CUDA graph against its kernels one by one, and plans queued together
 * against one at a time.  Skips where no GPU is usable (the ctest label
 * "gpu"). */
#include "ktest.h"
#ifdef GPU_EMU
#include "cuda_double.h"
#endif
#include "rt_device.h"
#include "rt_model.h"
#include "rt_runner.h"
#include "sp_json.h"

rt_backend *KB; /* unused: ktest.h's double backend */
#ifdef GPU_EMU
#define REF "C rendering"
#define DUT "emulated CUDA"
#else
#define REF "CPU"
#define DUT "GPU"
#endif

static void compare(const char *what, const float *cpu, const float *gpu, size_t n, double rel) {
  double scale = 0;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(cpu[i]));
  size_t bad = 0, worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)cpu[i] - gpu[i]);
    if (d > rel * (scale + 1e-3) + 1e-4 * fabs(cpu[i])) bad++;
    if (d > fabs((double)cpu[worst] - gpu[worst])) worst = i;
  }
  fprintf(stderr, "%s: %zu values, largest difference %.3g at %zu (" REF " %.6g, " DUT " %.6g)\n", what, n,
          fabs((double)cpu[worst] - gpu[worst]), worst, cpu[worst], gpu[worst]);
  if (bad) fail_msg("%s: %zu of %zu values differ between " REF " and " DUT, what, bad, n);
}

/* the GPU and the search network of a bundled space, or a skip */
static rt_backend *open_gpu(sp_space *sp, nw_layout *lay, const char *space) {
  err_t e = ERR_INIT;
  rt_backend *gpu;
  if (rt_device_open(&gpu, "cuda", 0, 0, &e) != 0) {
    fprintf(stderr, "skipped: %s\n", err_msg(&e));
    err_clear(&e);
    skip();
  }
  if (sp_load_example(sp, space, &e) || nw_search_layout(lay, sp, &sp->net, &e)) fail_msg("%s", err_msg(&e));
  return gpu;
}

static void test_every_kernel_matches_cpu(void **state) {
  err_t e = ERR_INIT;
  sp_space sp;
  nw_layout lay;
  rt_backend *gpu = open_gpu(&sp, &lay, *state ? (const char *)*state : "darts"), *cpu;
#ifdef GPU_EMU /* the reference: the C rendering of the same forms, through the same double */
  if (rt_device_open(&cpu, "cuda", 0, 0, &e)) fail_msg("%s", err_msg(&e));
  const double tol = 1e-4;
#else
  if (rt_cpu_open(&cpu, CG_F32, 0, &e)) fail_msg("%s", err_msg(&e));
  const double tol = 2e-3;
#endif
  fprintf(stderr, "GPU: %s\n", gpu->device);
  rt_backend *bs[2] = {cpu, gpu};
  const pl_mode modes[2] = {PL_TRAIN, PL_EVAL};
  long N = 4, img = 3 * 32 * 32;
  float *res[2][4];
  rt_result out[2][2];
  for (int b = 0; b < 2; b++) {
#ifdef GPU_EMU
    cd_emulate = b;
#endif
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
    fprintf(stderr, "%s plan: log-likelihood %.6g (" REF "), %.6g (" DUT ")\n", k ? "inference" : "training", a, g);
    if (fabs(a - g) > tol * (fabs(a) + 1)) fail_msg("log-likelihoods differ");
  }
#ifdef GPU_EMU
  assert_true(cd_emulated > 1000);
#endif
  compare("weight gradients (every kernel's backward)", res[0][0], res[1][0], lay.nparams, tol);
  compare("BN running statistics", res[0][1], res[1][1], lay.nstats, tol);
  for (int b = 0; b < 2; b++) free(res[b][0]), free(res[b][1]);
  rt_backend_close(gpu);
  rt_backend_close(cpu);
  nw_free(&lay);
  sp_free(&sp);
}

#ifndef GPU_EMU /* on a GPU only: the double's graphs are checked in test_cuda_double */
/* three training steps of one child (the first step by step, the second
   recorded, the third a replay; then three queued forwards of three
   children) with graphs (queued) and without (one at a time), on the GPU */
static void test_graphs_and_queues_change_nothing(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  sp_space sp;
  nw_layout lay;
  rt_backend *gpu = open_gpu(&sp, &lay, "darts");
  long N = 16, img = 3 * 32 * 32;
  gt_genotype g[3];
  for (int c = 0; c < 3; c++) {
    g[c].nodes = sp.nodes;
    g[c].inputs = sp.inputs;
    for (int t = 0; t < 2; t++)
      for (int n = 0; n < sp.nodes; n++)
        for (int i = 0; i < sp.inputs; i++) {
          g[c].pred[t][n][i] = (n + i + c) % (2 + n);
          g[c].prim[t][n][i] = (3 * n + i + c + t) % sp.nprims;
        }
  }
  double ll[2][3], fw[2][3];
  for (int way = 0; way < 2; way++) { /* 0: graphs and queues, 1: neither */
    rt_model m;
    rt_runner r;
    if (rt_model_init(&m, gpu, &lay, 9, &e) || rt_runner_init(&r, gpu, &m, (int)N, img, 3, &e)) fail_msg("%s", err_msg(&e));
    rt_runner_use_graphs(&r, way == 0);
    if (way == 0 && !r.graphs) fail_msg("the CUDA backend offers no graphs");
    pl_plan p;
    if (pl_build_child(&p, &sp, &sp.net, &lay, &g[0], PL_TRAIN, &e)) fail_msg("%s", err_msg(&e));
    for (int step = 0; step < 3; step++) {
      kt_state = 5 + (uint64_t)step;
      for (long i = 0; i < N * img; i++) ((float *)r.himg)[i] = (float)kt_rand();
      for (long i = 0; i < N; i++) r.hlab[i] = (int)((i + step) % 10);
      rt_result res;
      double gn;
      if (rt_model_zero_grads(&m, &e) || rt_runner_run(&r, &p, N, 1.0f / N, 0.1f, &res, &e)) fail_msg("%s", err_msg(&e));
      rt_model_touch(&m, &p);
      if (rt_model_sgd(&m, 0.025f, 0.9f, 3e-4f, 5, &gn, &e)) fail_msg("%s", err_msg(&e));
      ll[way][step] = res.loglik;
    }
    pl_free(&p);
    if (way == 0 && r.graph_launches != 2) fail_msg("%ld graph launches (%s)", r.graph_launches, r.graphs_off);
    for (int c = 0; c < 3; c++) {
      if (pl_build_child(&p, &sp, &sp.net, &lay, &g[c], PL_FORWARD, &e) ||
          rt_runner_submit(&r, &p, N, 0, 0, way == 0 ? c : 0, &e) || (way == 1 && rt_runner_wait(&r, &e)))
        fail_msg("%s", err_msg(&e));
      if (way == 1) fw[1][c] = r.results[0].loglik;
      pl_free(&p);
    }
    if (way == 0) {
      if (rt_runner_wait(&r, &e)) fail_msg("%s", err_msg(&e));
      for (int c = 0; c < 3; c++) fw[0][c] = r.results[c].loglik;
    }
    rt_runner_free(&r);
    rt_model_free(&m);
  }
  for (int k = 0; k < 3; k++) {
    fprintf(stderr, "step %d: log-likelihood %.7g as a graph, %.7g kernel by kernel; queued forward %.7g, alone %.7g\n", k,
            ll[0][k], ll[1][k], fw[0][k], fw[1][k]);
    if (fabs(ll[0][k] - ll[1][k]) > 1e-5 * fabs(ll[1][k]) || fabs(fw[0][k] - fw[1][k]) > 1e-5 * fabs(fw[1][k]))
      fail_msg("graphs or queues changed a result");
  }
  rt_backend_close(gpu);
  nw_free(&lay);
  sp_free(&sp);
}

#endif

#ifdef GPU_EMU
/* The same check without a GPU, for the spaces a CPU runs in the test's
   time (the DARTS space's kernels are the small space's at other sizes):
   the CUDA backend through the driver double, its launches running the CUDA
   rendering of every kernel on emulated CUDA threads (emu/cuda_emu.h) on
   the grids the backend chose, against the C rendering of the same forms
   through the same double.  (On a GPU the reference is the CPU backend,
   whose forms differ from the GPU's and round differently.) */
int main(void) {
  setenv("PARSEC_CD_EMULATE", "1", 1);
  if (cd_setup(NULL) != 0) return 1;
  if (!cd_ntable) return 77; /* no NVRTC: the double has no cubins to load */
  static const char *spaces[] = {"small", "custom_op"};
  for (int i = 0; i < 2; i++) {
    err_t e = ERR_INIT;
    sp_space sp;
    nw_layout lay;
    cg_spec *specs;
    int n;
    if (sp_load_example(&sp, spaces[i], &e) || nw_search_layout(&lay, &sp, &sp.net, &e) ||
        pl_space_specs(&sp, &sp.net, &lay, &specs, &n, &e) || cd_add_kernels(specs, n, &e)) {
      fprintf(stderr, "%s: %s\n", spaces[i], err_msg(&e));
      return 1;
    }
    free(specs);
    nw_free(&lay);
    sp_free(&sp);
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test_prestate(test_every_kernel_matches_cpu, (void *)spaces[0]),
                                     cmocka_unit_test_prestate(test_every_kernel_matches_cpu, (void *)spaces[1])};
  int failed = cmocka_run_group_tests_name("every kernel of the bundled spaces, emulated CUDA", tests, NULL, NULL);
  cd_teardown(NULL);
  return failed;
}
#else
int main(void) {
  /* no usable GPU: ctest reports the test skipped (SKIP_RETURN_CODE), not passed */
  rt_backend *gpu;
  err_t e = ERR_INIT;
  if (rt_device_open(&gpu, "cuda", 0, 0, &e) != 0) {
    fprintf(stderr, "skipped: %s\n", err_msg(&e));
    err_clear(&e);
    return 77;
  }
  rt_backend_close(gpu);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_kernel_matches_cpu),
                                     cmocka_unit_test(test_graphs_and_queues_change_nothing)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
