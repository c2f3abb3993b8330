/* Times parsec's child network on the CPU, as ../shared/bench/torch_child_step.py
 * times PyTorch's: one child training step (forward, backward, SGD) and one
 * no-grad forward with the DARTS_V2 genotype, and one PARSEC search step with
 * K freshly drawn random genotypes (K forwards on a batch, K forward+backward
 * passes on another, the weight update).  Prints one JSON line.
 *
 *   step_bench [small|darts] [--reps N] [--samples K] [--threads T] [--device cpu|cuda] [--profile]
 *
 * --profile adds, per kernel template, the share of a training step's time
 * (on a GPU each step is waited for, so launch latency counts in).
 * Kernels are compiled (or loaded from the cache) before timing starts. */
#include "rt_device.h"
#include "rt_dist.h"
#include "rt_model.h"
#include "rt_runner.h"
#include "sp_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *DARTS_V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(err_t *e) {
  fprintf(stderr, "step_bench: %s\n", err_msg(e));
  exit(1);
}

typedef struct {
  sp_space sp;
  nw_layout lay;
  rt_backend *b;
  rt_model m;
  rt_runner run; /* the child and search steps run as the search runs them */
  void *arena;   /* the profile's, step by step */
  size_t cap;
  long N;
  float *img;
  int *lab;
} bench;

static void stage(bench *B, const pl_plan *p, rt_bind *bind) {
  err_t e = ERR_INIT;
  size_t bytes = pl_arena_bytes(p, B->N, 4);
  if (bytes > B->cap) {
    B->b->free(B->b, B->arena);
    B->arena = B->b->alloc(B->b, bytes, &e);
    B->cap = bytes;
  }
  *bind = rt_model_bind(&B->m, B->arena);
  B->b->upload(B->b, rt_ref_ptr(B->b, p, bind, p->images, B->N), B->img,
               sizeof(float) * (size_t)B->N * p->in_c * p->in_h * p->in_w, &e);
  B->b->upload(B->b, rt_ref_ptr(B->b, p, bind, p->labels, B->N), B->lab, sizeof(int) * (size_t)B->N, &e);
}

static double t_plan; /* time spent building plans */

/* one child's plan built and queued in SLOT, as the search does it */
static void queue(bench *B, const gt_genotype *g, pl_mode mode, float scale, int slot) {
  err_t e = ERR_INIT;
  pl_plan p;
  double t0 = now();
  if (pl_build_child(&p, &B->sp, &B->sp.net, &B->lay, g, mode, &e)) die(&e);
  t_plan += now() - t0;
  if (rt_runner_submit(&B->run, &p, B->N, scale, mode == PL_TRAIN ? 0.1f : 0, slot, &e)) die(&e);
  if (mode == PL_TRAIN) rt_model_touch(&B->m, &p);
  pl_free(&p);
}

static void wait_all(bench *B) {
  err_t e = ERR_INIT;
  if (rt_runner_wait(&B->run, &e)) die(&e);
}

static void sgd(bench *B) {
  err_t e = ERR_INIT;
  double gn;
  if (rt_model_sgd(&B->m, 0.025f, 0.9f, 3e-4f, 5, &gn, &e)) die(&e);
}

static double median(double *v, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return v[n / 2];
}

/* GEMMs by role: the plans' 1x1 convolutions and linear layers multiply
 * W x (forward), W^T dy (data gradient) and dy x^T (weight gradient) */
static const char *gemm_name(const pl_step *g) {
  return g->tb ? "gemm dy x^T (weight grads)" : g->ta ? "gemm W^T dy (data grads)" : "gemm W x (forward)";
}

/* per-template time of one plan of MODE, step by step */
static void profile(bench *B, const gt_genotype *g, pl_mode mode) {
  err_t e = ERR_INIT;
  pl_plan p;
  rt_exec x;
  if (pl_build_child(&p, &B->sp, &B->sp.net, &B->lay, g, mode, &e) || rt_exec_prepare(&x, B->b, &p, &e)) die(&e);
  rt_bind bind;
  stage(B, &p, &bind);
  bind.loss_scale = 1.0f / B->N;
  bind.bn_momentum = 0.1f;
  const char *names[64];
  double t[64] = {0}, gflop = 0, gtime = 0;
  int cnt[64] = {0}, nn = 0;
  pl_plan one = p;
  for (int rep = 0; rep < 3; rep++)
    for (int i = 0; i < p.nsteps; i++) {
      one.steps = &p.steps[i];
      one.nsteps = 1;
      rt_exec x1 = {&one, x.kernels};
      double t0 = now();
      if (rt_exec_run(B->b, &x1, B->N, &bind, &e) || B->b->sync(B->b, &e)) die(&e); /* a GPU's step, waited for */
      double dt = now() - t0;
      const char *name = p.steps[i].kind == PS_GEMM ? gemm_name(&p.steps[i])
                         : p.steps[i].kind == PS_ZERO ? "zero"
                                                      : p.specs[p.steps[i].spec].k->name;
      int k;
      for (k = 0; k < nn && strcmp(names[k], name); k++) {
      }
      if (k == nn) names[nn++] = name;
      t[k] += dt / 3;
      if (rep == 0) cnt[k]++;
      if (p.steps[i].kind == PS_GEMM) {
        const pl_step *g = &p.steps[i];
        gflop += 2e-9 * (double)(g->m[0] + g->m[1] * B->N) * (double)(g->n[0] + g->n[1] * B->N) *
                 (double)(g->k[0] + g->k[1] * B->N) / 3;
        gtime += dt / 3;
      }
    }
  double total = 0;
  for (int k = 0; k < nn; k++) total += t[k];
  fprintf(stderr, "# %s plan, %d steps, %.1f ms; GEMMs: %.2f GFLOP at %.1f GFLOP/s\n"
                  "# ms      share  calls  kernel\n", mode == PL_TRAIN ? "training" : "forward-only", p.nsteps,
          1e3 * total, gflop, gflop / gtime);
  for (int r = 0; r < nn; r++) {
    int best = 0;
    for (int k = 1; k < nn; k++)
      if (t[k] > t[best]) best = k;
    fprintf(stderr, "%8.2f %6.1f%% %6d  %s\n", 1e3 * t[best], 100 * t[best] / total, cnt[best], names[best]);
    t[best] = -1;
  }
  rt_exec_free(&x);
  pl_free(&p);
}

int main(int argc, char **argv) {
  const char *config = "small";
  int reps = 5, K = 8, threads = 2, prof = 0;
  const char *device = "cpu";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--samples") && i + 1 < argc) K = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
    else if (!strcmp(argv[i], "--profile")) prof = 1;
    else if ((!strcmp(argv[i], "small") || !strcmp(argv[i], "darts"))) config = argv[i];
    else {
      fprintf(stderr, "usage: step_bench [small|darts] [--reps N] [--samples K] [--threads T] "
                      "[--device cpu|cuda] [--profile]\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (reps < 1 || reps > 1000 || K < 1 || K > 256) {
    fprintf(stderr, "step_bench: --reps 1..1000, --samples 1..256\n");
    return 2;
  }
  bench B;
  memset(&B, 0, sizeof B);
  err_t e = ERR_INIT;
  if (sp_open(&B.sp, strcmp(config, "darts") == 0 ? "darts" : "small", &e)) die(&e);
  B.N = 64;
  if (nw_search_layout(&B.lay, &B.sp, &B.sp.net, &e) || rt_device_open(&B.b, device, threads, 0, &e) ||
      rt_model_init(&B.m, B.b, &B.lay, 0, &e))
    die(&e);
  /* every kernel compiled up front, so timing sees no compiler */
  cg_spec *specs;
  int ns;
  if (pl_space_specs(&B.sp, &B.sp.net, &B.lay, &specs, &ns, &e)) die(&e);
  const rt_kernel **ks = calloc((size_t)ns, sizeof *ks);
  if (rt_kernels_get(B.b, specs, ns, ks, &e)) die(&e);
  free(ks);
  free(specs);
  const sp_net *n = &B.sp.net;
  if (rt_runner_init(&B.run, B.b, &B.m, (int)B.N, (long)n->input_channels * n->input_size * n->input_size, K, &e))
    die(&e);
  B.img = B.run.himg;
  B.lab = B.run.hlab;
  rng_t r;
  rng_seed(&r, 0);
  for (long i = 0; i < B.N * n->input_channels * n->input_size * n->input_size; i++)
    B.img[i] = (float)(2 * rng_uniform(&r) - 1);
  for (long i = 0; i < B.N; i++) B.lab[i] = (int)rng_below(&r, (uint32_t)n->classes);
  gt_genotype v2;
  if (gt_parse(&B.sp, DARTS_V2, &v2, "DARTS_V2", &e)) die(&e);
  rt_dist d;
  if (rt_dist_init(&d, &B.sp, B.b, 0.5, 0.999, &e)) die(&e);
  double *ts = malloc(sizeof(double) * (size_t)(reps + 1));
  /* child training step */
  for (int i = 0; i <= reps; i++) {
    double t0 = now();
    rt_model_zero_grads(&B.m, &e);
    queue(&B, &v2, PL_TRAIN, 1.0f / B.N, 0);
    wait_all(&B);
    sgd(&B);
    ts[i] = now() - t0;
  }
  double train = median(ts + 1, reps);
  for (int i = 0; i <= reps; i++) {
    double t0 = now();
    queue(&B, &v2, PL_EVAL, 0, 0);
    wait_all(&B);
    ts[i] = now() - t0;
  }
  double fwd = median(ts + 1, reps);
  int sreps = reps / 2 > 0 ? reps / 2 : 1;
  double t_search = 0;
  t_plan = 0;
  for (int i = 0; i <= sreps; i++) {
    double t0 = now();
    gt_genotype g[256];
    for (int k = 0; k < K; k++) rt_dist_sample(&d, &r, &g[k]);
    for (int k = 0; k < K; k++) queue(&B, &g[k], PL_FORWARD, 0, k);
    wait_all(&B);
    rt_model_zero_grads(&B.m, &e);
    for (int k = 0; k < K; k++) queue(&B, &g[k], PL_TRAIN, 1.0f / (K * B.N), k);
    wait_all(&B);
    sgd(&B);
    ts[i] = now() - t0;
    t_search += ts[i];
  }
  double step = median(ts + 1, sreps);
  fprintf(stderr, "# search steps: %.1f%% of the time building plans (on a GPU, while the last plan runs)\n",
          100 * t_plan / t_search);
  pl_plan p;
  if (pl_build_child(&p, &B.sp, &B.sp.net, &B.lay, &v2, PL_TRAIN, &e)) die(&e);
  size_t child = pl_arena_bytes(&p, B.N, 4);
  pl_free(&p);
  if (pl_build_supernet(&p, &B.sp, &B.sp.net, &B.lay, PL_TRAIN, &e)) die(&e);
  size_t super = pl_arena_bytes(&p, B.N, 4);
  pl_free(&p);
  printf("{\"config\": \"%s\", \"device\": \"%s\", \"batch\": %ld, \"threads\": %d, \"samples\": %d, \"child_train_step_s\": %.4f, "
         "\"child_forward_s\": %.4f, \"parsec_step_s\": %.4f, \"child_arena_bytes\": %zu, "
         "\"supernet_arena_bytes\": %zu}\n",
         config, B.b->device, B.N, threads, K, train, fwd, step, child, super);
  if (prof) {
    profile(&B, &v2, PL_TRAIN);
    profile(&B, &v2, PL_FORWARD);
    gt_genotype g;
    rt_dist_sample(&d, &r, &g);
    fprintf(stderr, "# a random genotype:\n");
    profile(&B, &g, PL_TRAIN);
    profile(&B, &g, PL_FORWARD);
  }
  rt_dist_free(&d);
  rt_runner_free(&B.run);
  B.b->free(B.b, B.arena);
  rt_model_free(&B.m);
  rt_backend_close(B.b);
  return 0;
}
