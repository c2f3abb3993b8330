/* The CUDA backend's host side, without a GPU: a test double of the driver
 * API (and of cuBLAS) stands in for libcuda.  Device memory is host memory;
 * a "module" is the cubin NVRTC really compiled (through the kernel cache),
 * and the function looked up in it by symbol is the C rendering of the same
 * spec in the same form (the GPU form where the kernel names one), so a
 * launch runs the same kernel source on the CPU.  Run with
 * PARSEC_CD_EMULATE=1 (ctest's test_cuda_double_emu), a launch runs the
 * CUDA rendering NVRTC compiled, unchanged, on emulated CUDA threads
 * (emu/cuda_emu.h) on the grid and block the backend asked for.
 *
 * What this proves: the backend allocates, copies and zeroes the sizes the
 * plans need, loads each kernel by its symbol from the cubin NVRTC produced
 * for it, marshals launch arguments as CUDA's kernelParams (the size N
 * first), launches enough threads to cover every kernel's work items (one
 * block of whole warps per item for @block kernels), maps
 * row-major GEMMs onto column-major cuBLAS correctly, puts every copy,
 * launch and GEMM on its one stream, stages batches in page-locked memory
 * and does not rewrite them while their copy is queued (the double runs
 * queued copies late), records and replays graphs of repeated plans, and
 * reports failures with the call and the kernel; whole children, and
 * `parsec-run search` and `train` themselves, run through it give the CPU
 * backend's results, and a search step waits only where it must; emulated,
 * the same holds for the CUDA source itself: its grid mapping, its GPU
 * forms' indexing and its block reductions across warps.  What it does not
 * prove: what cuda_emu.h does not model (a real GPU's warps in lock step,
 * its memory model, timing), the kernels' speed, how a real GPU overlaps
 * the copies with its work, or that the real driver accepts every call in
 * a graph capture. */
#include "cuda_double.h"
#include "rt_device.h"
#include "rt_model.h"
#include "rt_runner.h"
#include "rt_search.h"
#include "rt_train.h"
#include "sp_json.h"

#include <unistd.h>

rt_backend *KB; /* unused: ktest.h's double backend */

/* The same model on the cd_cpu (0) and through the CUDA backend (1). */
typedef struct {
  rt_backend *gpu, *bs[2];
  rt_model m[2];
  rt_runner r[2];
  long N;
} pair;

static void pair_open(pair *q, int slots) {
  err_t e = ERR_INIT;
  if (rt_device_open(&q->gpu, "cuda", 0, 0, &e) != 0) fail_msg("%s", err_msg(&e));
  q->bs[0] = cd_cpu;
  q->bs[1] = q->gpu;
  q->N = 8;
  for (int i = 0; i < 2; i++)
    if (rt_model_init(&q->m[i], q->bs[i], &cd_layout, 5, &e) != 0 ||
        rt_runner_init(&q->r[i], q->bs[i], &q->m[i], (int)q->N, 2 * 8 * 8, slots, &e) != 0)
      fail_msg("%s", err_msg(&e));
}

static void pair_close(pair *q) {
  for (int i = 0; i < 2; i++) {
    rt_runner_free(&q->r[i]);
    rt_model_free(&q->m[i]);
  }
  rt_backend_close(q->gpu);
}

/* batch number K, staged on both sides where the last one's copy came from */
static void pair_stage(pair *q, int k) {
  for (int i = 0; i < 2; i++) {
    float *img = q->r[i].himg;
    for (long j = 0; j < q->N * 2 * 8 * 8; j++) img[j] = (float)sin(0.3 * j + k);
    for (long j = 0; j < q->N; j++) q->r[i].hlab[j] = (int)((j + k) % 5);
  }
}

/* one SGD step of plan P on both sides: their log-likelihoods agree */
static void pair_step(pair *q, const pl_plan *p, const char *what, int k) {
  err_t e = ERR_INIT;
  rt_result res[2];
  for (int i = 0; i < 2; i++) {
    double gn;
    if (rt_model_zero_grads(&q->m[i], &e) != 0 || rt_runner_run(&q->r[i], p, q->N, 1.0f / q->N, 0.1f, &res[i], &e) != 0)
      fail_msg("%s: %s", q->bs[i]->name, err_msg(&e));
    rt_model_touch(&q->m[i], p);
    if (rt_model_sgd(&q->m[i], 0.025f, 0.9f, 3e-4f, 5, &gn, &e) != 0) fail_msg("%s", err_msg(&e));
  }
  if (fabs(res[0].loglik - res[1].loglik) > 1e-4 * fabs(res[0].loglik))
    fail_msg("%s %d: log-likelihood %.7g on the cd_cpu, %.7g through the CUDA backend", what, k, res[0].loglik, res[1].loglik);
}

/* the same children, on the cd_cpu and through the CUDA backend */
static void test_children_match_cpu(void **state) {
  (void)state;
  if (!cd_ntable) skip();
  err_t e = ERR_INIT;
  pair q;
  pair_open(&q, 3);
  assert_string_equal(q.gpu->name, "cuda");
  assert_non_null(strstr(q.gpu->device, "sm_90"));
  rng_t rng;
  rng_seed(&rng, 3);
  gt_genotype gs[3];
  for (int child = 0; child < 3; child++) {
    gt_genotype *g = &gs[child];
    g->nodes = cd_space.nodes;
    g->inputs = cd_space.inputs;
    for (int t = 0; t < 2; t++)
      for (int n = 0; n < cd_space.nodes; n++)
        for (int i = 0; i < cd_space.inputs; i++) {
          g->pred[t][n][i] = (int)rng_below(&rng, (uint32_t)(2 + n));
          g->prim[t][n][i] = (int)rng_below(&rng, (uint32_t)cd_space.nprims);
        }
    pl_plan p;
    if (pl_build_child(&p, &cd_space, &cd_space.net, &cd_layout, g, PL_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
    pair_stage(&q, child);
    pair_step(&q, &p, "child", child);
    pl_free(&p);
  }
  /* the three children's forwards queued together, read back by one wait */
  for (int i = 0; i < 2; i++) {
    for (int c = 0; c < 3; c++) {
      pl_plan p;
      if (pl_build_child(&p, &cd_space, &cd_space.net, &cd_layout, &gs[c], PL_FORWARD, &e) != 0 ||
          rt_runner_submit(&q.r[i], &p, q.N, 0, 0, c, &e) != 0)
        fail_msg("%s: %s", q.bs[i]->name, err_msg(&e));
      pl_free(&p);
    }
    if (rt_runner_wait(&q.r[i], &e) != 0) fail_msg("%s", err_msg(&e));
  }
  for (int c = 0; c < 3; c++) {
    const rt_result *a = &q.r[0].results[c], *b = &q.r[1].results[c];
    if (fabs(a->loglik - b->loglik) > 1e-4 * fabs(a->loglik) || a->correct != b->correct)
      fail_msg("queued child %d: log-likelihood %.7g on the cd_cpu, %.7g through the CUDA backend", c, a->loglik,
               b->loglik);
  }
  /* the weights after three SGD steps agree too */
  float *w = malloc(cd_layout.nparams * 4);
  q.gpu->download(q.gpu, w, q.m[1].params, cd_layout.nparams * 4, &e);
  const float *wc = q.m[0].params;
  for (size_t k = 0; k < cd_layout.nparams; k++)
    if (fabsf(w[k] - wc[k]) > 1e-5f + 1e-4f * fabsf(wc[k])) fail_msg("weight %zu: %g on the cd_cpu, %g via CUDA", k, wc[k], w[k]);
  free(w);
  assert_true(cd_launches > 100);
  assert_true(cd_gemms > 10);
  assert_int_equal(cd_short_grids, 0);
  assert_true(cd_block_launches > 10); /* BN statistics and their backward */
  assert_int_equal(cd_bad_blocks, 0);
  assert_true(cd_gpu_forms > 10); /* depthwise convs and pools ran in their GPU forms */
  assert_true(cd_pinned_uploads >= 6); /* each child's images and labels, from page-locked staging */
  assert_int_equal(cd_off_stream, 0);  /* every copy, launch and GEMM on the backend's stream */
  assert_int_equal(cd_busy_frees, 0);
  assert_true(q.gpu->mem_used(q.gpu) == (size_t)1 << 32);
  if (cd_emulate) assert_int_equal(cd_emulated, cd_launches); /* every launch ran the CUDA rendering */
  pair_close(&q);
}

/* A plan that repeats runs once step by step, is recorded at its second
   run and then launched as a graph: four training steps of one child give
   the cd_cpu's; a backend that cannot record falls back to the steps and says
   why. */
static void test_graph_replays_plan(void **state) {
  (void)state;
  if (!cd_ntable) skip();
  err_t e = ERR_INIT;
  pair q;
  pair_open(&q, 1);
  rt_runner_use_graphs(&q.r[0], 1); /* no graphs on the cd_cpu: a no-op */
  rt_runner_use_graphs(&q.r[1], 1);
  assert_int_equal(q.r[0].graphs, 0);
  gt_genotype g;
  g.nodes = cd_space.nodes;
  g.inputs = cd_space.inputs;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < cd_space.nodes; n++)
      for (int i = 0; i < cd_space.inputs; i++) {
        g.pred[t][n][i] = n + i < 2 ? n + i : 0; /* sep_conv and pools on every cell */
        g.prim[t][n][i] = (n + 2 * i + t) % cd_space.nprims;
      }
  pl_plan p;
  if (pl_build_child(&p, &cd_space, &cd_space.net, &cd_layout, &g, PL_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
  long captured = cd_captures, runs = cd_graph_runs;
  for (int step = 0; step < 4; step++) {
    pair_stage(&q, step);
    pair_step(&q, &p, "step through a graph", step);
    assert_int_equal(cd_captures - captured, step > 0); /* recorded once, at the second step */
    assert_int_equal(cd_graph_runs - runs, step);       /* launched from then on */
  }
  assert_int_equal(q.r[1].graph_launches, 3);
  /* a larger plan moves the arena: the recording, made in the old one, is
     dropped, and the child runs step by step again */
  pl_plan big;
  if (pl_build_supernet(&big, &cd_space, &cd_space.net, &cd_layout, PL_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
  assert_true(pl_arena_bytes(&big, q.N, 4) > pl_arena_bytes(&p, q.N, 4));
  pair_stage(&q, 4);
  pair_step(&q, &big, "supernet step", 4);
  pl_free(&big);
  pair_stage(&q, 5);
  pair_step(&q, &p, "step after the arena moved", 5);
  assert_int_equal(q.r[1].graph_launches, 3);
  assert_int_equal(cd_captures - captured, 1);
  /* a runner that cannot record */
  cd_refuse_capture = 1;
  rt_runner_free(&q.r[1]);
  if (rt_runner_init(&q.r[1], q.gpu, &q.m[1], (int)q.N, 2 * 8 * 8, 1, &e) != 0) fail_msg("%s", err_msg(&e));
  rt_runner_use_graphs(&q.r[1], 1);
  for (int step = 6; step < 8; step++) {
    pair_stage(&q, step);
    pair_step(&q, &p, "step without a graph", step);
  }
  assert_int_equal(q.r[1].graphs, 0); /* the refused capture turned recording off, with the reason */
  assert_non_null(strstr(q.r[1].graphs_off, "cuStreamBeginCapture"));
  assert_int_equal(cd_bad_captures, 0);
  cd_refuse_capture = 0;
  pl_free(&p);
  pair_close(&q);
}

/* `parsec-run search` itself, in process, on the cd_cpu and through the CUDA
   backend from one seed: the same distribution, and the GPU's memory in the
   log.  Three children queued per wait, the gradient norm read back once. */
static void test_search_runs_as_on_the_cpu(void **state) {
  (void)state;
  if (!cd_ntable) skip();
  char dir[] = "/tmp/parsec-double-XXXXXX", data[600], out[2][600];
  cd_scratch_data(dir, data, sizeof data, 256, 1);
  const char *devices[2] = {"cpu", "cuda"};
  long syncs0 = cd_stream_syncs;
  for (int i = 0; i < 2; i++) {
    snprintf(out[i], sizeof out[i], "%s/search-%s", dir, devices[i]);
    rt_search_opts o = {.space = PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", .data = data, .out = out[i],
                        .epochs = 2, .samples = 3, .batch = 16, .limit = -1, .seed = 5, .threads = 0,
                        .temperature = NAN, .split = NAN, .arch_lr = NAN, .device = devices[i], .quiet = 1};
    err_t e = ERR_INIT;
    if (rt_search_run(&o, &e) != 0) fail_msg("search on %s: %s", devices[i], err_msg(&e));
  }
  double h[2] = {cd_last_logged(out[0], "entropy"), cd_last_logged(out[1], "entropy")};
  double l[2] = {cd_last_logged(out[0], "train_loss"), cd_last_logged(out[1], "train_loss")};
  if (!(fabs(h[0] - h[1]) < 1e-4 * h[0]) || !(fabs(l[0] - l[1]) < 1e-3 * l[0]))
    fail_msg("entropy %.7g / train loss %.7g on the cd_cpu, %.7g / %.7g through the CUDA backend", h[0], l[0], h[1], l[1]);
  assert_true(isnan(cd_last_logged(out[0], "device_used_peak_bytes")));
  assert_true(cd_last_logged(out[1], "device_used_peak_bytes") == (double)((size_t)1 << 32));
  /* the mode's evaluation, 8 batches an epoch: the first step by step, the
     second recorded, the rest replayed; no child is ever recorded */
  assert_true(cd_last_logged(out[1], "graph_launches") == 14);
  /* 2 epochs of 8 steps (128 images each way, batch 16). A step waits 4
     times: for its forwards, its training passes, the gradient norm and the
     logits' update; the mode's evaluation once a batch (8 an epoch); the
     rest (checkpoints, the arena growing, frees) 33 times here, allowed 40.
     A wait per child would add 96, one more per step 16. */
  long waits = cd_stream_syncs - syncs0;
  if (waits > 4 * 16 + 16 + 40) fail_msg("the CUDA search waited %ld times in 16 steps", waits);
  cd_scratch_remove(dir);
}

/* `parsec-run train` in process, on the cd_cpu and through the CUDA backend:
   the same losses, each step after the first replayed as a graph (drop path,
   the auxiliary head), and the GPU's memory in the log */
static void test_training_runs_as_on_the_cpu(void **state) {
  (void)state;
  if (!cd_ntable) skip();
  static const char *v2 =
      "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
      "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
      "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
  err_t e = ERR_INIT;
  gt_genotype g;
  if (gt_parse(&cd_space, v2, &g, "DARTS_V2", &e) != 0) fail_msg("%s", err_msg(&e));
  if (cd_add_eval_kernels(&g, &e) != 0) fail_msg("%s", err_msg(&e));
  char dir[] = "/tmp/parsec-double-XXXXXX", data[600], geno[600], out[2][600];
  cd_scratch_data(dir, data, sizeof data, 80, 2);
  snprintf(geno, sizeof geno, "%s/genotype.txt", dir);
  FILE *f = fopen(geno, "w");
  if (!f || fputs(v2, f) < 0 || fclose(f) != 0) fail_msg("cannot write %s", geno);
  const char *devices[2] = {"cpu", "cuda"};
  for (int i = 0; i < 2; i++) {
    snprintf(out[i], sizeof out[i], "%s/train-%s", dir, devices[i]);
    rt_train_opts o = {.genotype = geno, .space = PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", .data = data,
                       .out = out[i], .layers = -1, .channels = -1, .epochs = 2, .batch = 16, .cutout = -1,
                       .limit = -1, .seed = 4, .threads = -1, .lr = NAN, .drop_path = 0.3, .auxiliary = 1,
                       .device = devices[i], .progress = 0, .quiet = 1};
    if (rt_train_run(&o, &e) != 0) fail_msg("train on %s: %s", devices[i], err_msg(&e));
  }
  double l[2] = {cd_last_logged(out[0], "train_loss"), cd_last_logged(out[1], "train_loss")};
  if (!(fabs(l[0] - l[1]) < 1e-3 * l[0])) fail_msg("train loss %.7g on the cd_cpu, %.7g through the CUDA backend", l[0], l[1]);
  /* 80 images, batch 16: 5 steps an epoch; the first step of the run goes
     step by step, the second is recorded, the rest replay it */
  assert_true(isnan(cd_last_logged(out[0], "graph_launches")));
  assert_true(cd_last_logged(out[1], "graph_launches") == 9);
  assert_true(cd_last_logged(out[1], "device_used_peak_bytes") > 0);
  cd_scratch_remove(dir);
}

/* a kernel the module lacks is reported with the call and the symbol */
static void test_missing_kernel_reported(void **state) {
  (void)state;
  if (!cd_ntable) skip();
  err_t e = ERR_INIT;
  rt_backend *gpu;
  if (rt_device_open(&gpu, "cuda", 0, 0, &e) != 0) fail_msg("%s", err_msg(&e));
  int keep = cd_ntable;
  cd_ntable = 0; /* every lookup fails */
  cg_spec s;
  const rt_kernel *k;
  assert_int_equal(cg_spec_make(&s, "axpy", CG_CONSTS({"M", 12345}), &e), 0);
  assert_int_equal(rt_kernels_get(gpu, &s, 1, &k, &e), -1);
  assert_non_null(strstr(err_msg(&e), "cuModuleGetFunction(axpy_"));
  err_clear(&e);
  cd_ntable = keep;
  rt_backend_close(gpu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_children_match_cpu),
      cmocka_unit_test(test_graph_replays_plan),
      cmocka_unit_test(test_search_runs_as_on_the_cpu),
      cmocka_unit_test(test_training_runs_as_on_the_cpu),
      cmocka_unit_test(test_missing_kernel_reported),
  };
  return cmocka_run_group_tests(tests, cd_setup, cd_teardown);
}
