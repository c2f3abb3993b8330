/* Whole children: the plan's placement (no two live buffers overlap), its
 * backward against finite differences of the loss in double precision
 * (GEMM 1x1 convs, node sums into slices, an edge taken twice, factorized
 * reduce, pools, every BN), forward-only plans agreeing with training ones,
 * and the memory of a child against the supernet's. */
#include "ktest.h"
#include "rt_model.h"
#include "sp_json.h"

rt_backend *KB;

/* the space under test: the DARTS cell, then one with dense and grouped convs */
static sp_space SP, SPACES[2];
static nw_layout LAY, LAYS[2];

static void use(int i) {
  SP = SPACES[i];
  LAY = LAYS[i];
}

static int setup(void **state) {
  if (kt_setup(state) != 0) return -1;
  err_t e = ERR_INIT;
  const char *files[2] = {PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", PARSEC_SOURCE_DIR "/tests/spaces/tiny_custom.lua"};
  for (int i = 0; i < 2; i++)
    if (sp_load_file(&SPACES[i], files[i], &e) != 0 || nw_search_layout(&LAYS[i], &SPACES[i], &SPACES[i].net, &e) != 0) {
      fprintf(stderr, "%s\n", err_msg(&e));
      return -1;
    }
  use(0);
  return 0;
}

static int teardown(void **state) {
  for (int i = 0; i < 2; i++) {
    nw_free(&LAYS[i]);
    sp_free(&SPACES[i]);
  }
  return kt_teardown(state);
}

/* A random genotype with, in both cells, node 1 taking the same edge twice. */
static void random_genotype(gt_genotype *g, uint64_t seed) {
  kt_state = seed;
  memset(g, 0, sizeof *g);
  g->nodes = SP.nodes;
  g->inputs = SP.inputs;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < SP.nodes; n++)
      for (int i = 0; i < SP.inputs; i++) {
        g->pred[t][n][i] = (int)((kt_rand() + 1) / 2 * (2 + n)) % (2 + n);
        g->prim[t][n][i] = (int)((kt_rand() + 1) / 2 * SP.nprims) % SP.nprims;
      }
  for (int t = 0; t < 2; t++) {
    g->pred[t][1][1] = g->pred[t][1][0];
    g->prim[t][1][1] = g->prim[t][1][0];
  }
}

typedef struct {
  rt_exec fwd;
  rt_model *m;
  void *arena;
  long N;
} net_ctx;

static double net_loss(void *ctx) { /* sum of cross-entropies, batch statistics */
  net_ctx *c = ctx;
  rt_bind bind = rt_model_bind(c->m, c->arena);
  err_t e = ERR_INIT;
  if (rt_exec_run(KB, &c->fwd, c->N, &bind, &e) != 0) fail_msg("%s", err_msg(&e));
  double *ll = rt_ref_ptr(KB, c->fwd.plan, &bind, c->fwd.plan->loglik, c->N);
  double s = 0;
  for (long n = 0; n < c->N; n++) s -= ll[n];
  return s;
}

static void check_child(const gt_genotype *g) {
  err_t e = ERR_INIT;
  pl_plan train, fwd;
  if (pl_build_child(&train, &SP, &SP.net, &LAY, g, PL_TRAIN, &e) != 0 ||
      pl_build_child(&fwd, &SP, &SP.net, &LAY, g, PL_FORWARD, &e) != 0)
    fail_msg("%s", err_msg(&e));
  if (pl_check_placement(&train, &e) != 0 || pl_check_placement(&fwd, &e) != 0) fail_msg("%s", err_msg(&e));
  /* a forward-only plan frees what the backward would need */
  assert_true(fwd.arena_units < train.arena_units);
  rt_model m;
  if (rt_model_init(&m, KB, &LAY, 7, &e) != 0) fail_msg("%s", err_msg(&e));
  long N = 3;
  size_t bytes = pl_arena_bytes(&train, N, KB->elem);
  if (pl_arena_bytes(&fwd, N, KB->elem) > bytes) bytes = pl_arena_bytes(&fwd, N, KB->elem);
  void *arena = calloc(1, bytes);
  net_ctx c = {{0}, &m, arena, N};
  rt_exec tx;
  if (rt_exec_prepare(&tx, KB, &train, &e) != 0 || rt_exec_prepare(&c.fwd, KB, &fwd, &e) != 0)
    fail_msg("%s", err_msg(&e));
  /* both plans read the same inputs: copy them into each plan's place */
  rt_bind bind = rt_model_bind(&m, arena);
  long nimg = N * train.in_c * train.in_h * train.in_w;
  double *img = malloc((size_t)nimg * sizeof *img);
  int lab[3] = {0, 3, 1};
  for (long i = 0; i < nimg; i++) img[i] = kt_rand();
  memcpy(rt_ref_ptr(KB, &fwd, &bind, fwd.images, N), img, (size_t)nimg * sizeof *img);
  memcpy(rt_ref_ptr(KB, &fwd, &bind, fwd.labels, N), lab, sizeof lab);
  double l0 = net_loss(&c);
  memcpy(rt_ref_ptr(KB, &train, &bind, train.images, N), img, (size_t)nimg * sizeof *img);
  memcpy(rt_ref_ptr(KB, &train, &bind, train.labels, N), lab, sizeof lab);
  bind.loss_scale = 1; /* gradient of the sum of cross-entropies */
  bind.bn_momentum = 0;
  rt_model_zero_grads(&m, &e);
  if (rt_exec_run(KB, &tx, N, &bind, &e) != 0) fail_msg("%s", err_msg(&e));
  double *ll = rt_ref_ptr(KB, &train, &bind, train.loglik, N), lt = 0;
  for (long n = 0; n < N; n++) lt -= ll[n];
  kt_close("training and forward plans give the same loss", &lt, &l0, 1, 1e-12, 1e-12);
  /* finite differences on a few elements of every touched tensor; the
     forward plan must see the same inputs, so copy them back in */
  double *grads = malloc(LAY.nparams * sizeof *grads);
  memcpy(grads, m.grads, LAY.nparams * sizeof *grads);
  memcpy(rt_ref_ptr(KB, &fwd, &bind, fwd.images, N), img, (size_t)nimg * sizeof *img);
  memcpy(rt_ref_ptr(KB, &fwd, &bind, fwd.labels, N), lab, sizeof lab);
  assert_true(train.ntouched > 10);
  for (int i = 0; i < train.ntouched; i++) {
    const nw_tensor *t = &LAY.t[train.touched[i]];
    long pick[3] = {0, (long)t->numel / 2, (long)t->numel - 1};
    for (int k = 0; k < 3; k++) {
      double *w = (double *)m.params + t->offset + pick[k];
      char what[160];
      snprintf(what, sizeof what, "gradient of %s[%ld]", t->name, pick[k]);
      kt_fd(what, w, grads + t->offset + pick[k], 1, net_loss, &c);
    }
  }
  /* untouched tensors got no gradient */
  unsigned char *is_touched = calloc((size_t)LAY.n, 1);
  for (int i = 0; i < train.ntouched; i++) is_touched[train.touched[i]] = 1;
  for (int i = 0; i < LAY.n; i++)
    if (!is_touched[i] && LAY.t[i].kind == NW_PARAM)
      for (size_t k = 0; k < LAY.t[i].numel; k++)
        if (grads[LAY.t[i].offset + k] != 0) fail_msg("%s has a gradient but is not marked touched", LAY.t[i].name);
  free(is_touched);
  free(grads);
  free(img);
  rt_exec_free(&tx);
  rt_exec_free(&c.fwd);
  free(arena);
  rt_model_free(&m);
  pl_free(&train);
  pl_free(&fwd);
}

static void test_child_gradients(void **state) {
  (void)state;
  use(0);
  for (uint64_t seed = 1; seed <= 3; seed++) {
    gt_genotype g;
    random_genotype(&g, seed * 7919);
    check_child(&g);
  }
}

/* Every primitive on every edge kind: the normal cell all one primitive,
 * then the next, so each primitive runs at stride 1 and 2. */
static void every_primitive(void) {
  for (int p = 0; p < SP.nprims; p++) {
    gt_genotype g;
    memset(&g, 0, sizeof g);
    g.nodes = SP.nodes;
    g.inputs = SP.inputs;
    for (int t = 0; t < 2; t++)
      for (int n = 0; n < SP.nodes; n++)
        for (int i = 0; i < SP.inputs; i++) {
          g.pred[t][n][i] = i == 0 ? 0 : 1 + n; /* a cell input (stride 2 in reductions), then a node */
          g.prim[t][n][i] = (p + i) % SP.nprims;
        }
    check_child(&g);
  }
}

static void test_every_primitive(void **state) {
  (void)state;
  use(0);
  every_primitive();
}

/* user-defined dense and grouped convolutions (im2col and GEMM) */
static void test_custom_convolutions(void **state) {
  (void)state;
  use(1);
  every_primitive();
  for (uint64_t seed = 1; seed <= 2; seed++) {
    gt_genotype g;
    random_genotype(&g, seed * 104729);
    check_child(&g);
  }
  use(0);
}

typedef struct {
  rt_exec x;
  rt_model *m;
  void *arena;
  long N;
} train_ctx;

/* the whole training loss, main and auxiliary, as the training plan computes it */
static double train_loss(void *ctx) {
  train_ctx *c = ctx;
  rt_bind bind = rt_model_bind(c->m, c->arena);
  bind.loss_scale = 1;
  err_t e = ERR_INIT;
  if (rt_exec_run(KB, &c->x, c->N, &bind, &e) != 0) fail_msg("%s", err_msg(&e));
  const pl_plan *p = c->x.plan;
  double *ll = rt_ref_ptr(KB, p, &bind, p->loglik, c->N), *al = rt_ref_ptr(KB, p, &bind, p->aux_loglik, c->N), s = 0;
  for (long n = 0; n < c->N; n++) s -= ll[n] + SP.eval_net.auxiliary_weight * al[n];
  return s;
}

/* The evaluation network: affine BNs, an op per genotype entry, the
 * auxiliary head (weight 0.4) and drop path, against finite differences. */
/* An evaluation network NET's training plan (drop path, the auxiliary
   head): every touched tensor's gradient against finite differences */
static void check_eval_network(const sp_net *net) {
  err_t e = ERR_INIT;
  gt_genotype g;
  random_genotype(&g, 4242);
  nw_layout lay;
  if (sp_validate_net(&SP, net, "evaluation network", &e) != 0 || nw_eval_layout(&lay, &SP, net, &g, &e) != 0)
    fail_msg("%s", err_msg(&e));
  assert_true(net->auxiliary);
  assert_true(lay.aux_first >= 0);
  assert_true(nw_find(&lay, "cells.0._ops.0.op.1.weight") >= 0 || nw_find(&lay, "cells.0._ops.0.conv_1.weight") >= 0 ||
              lay.entry_first[1] == lay.entry_first[0]);
  assert_true(nw_find(&lay, "auxiliary_head.features.5.weight") >= 0);
  assert_true(nw_find(&lay, "cells.0.preprocess1.op.2.bias") >= 0); /* affine */
  pl_plan p;
  if (pl_build_eval(&p, &SP, net, &lay, &g, PL_TRAIN, 1, (float)net->auxiliary_weight, &e) != 0)
    fail_msg("%s", err_msg(&e));
  assert_true(p.has_aux);
  assert_true(p.ndrops > 0);
  if (pl_check_placement(&p, &e) != 0) fail_msg("%s", err_msg(&e));
  rt_model m;
  if (rt_model_init(&m, KB, &lay, 11, &e) != 0) fail_msg("%s", err_msg(&e));
  long N = 3;
  void *arena = calloc(1, pl_arena_bytes(&p, N, KB->elem));
  train_ctx c = {{0}, &m, arena, N};
  if (rt_exec_prepare(&c.x, KB, &p, &e) != 0) fail_msg("%s", err_msg(&e));
  rt_bind bind = rt_model_bind(&m, arena);
  double *img = rt_ref_ptr(KB, &p, &bind, p.images, N);
  int *lab = rt_ref_ptr(KB, &p, &bind, p.labels, N);
  for (long i = 0; i < N * p.in_c * p.in_h * p.in_w; i++) img[i] = kt_rand();
  for (long n = 0; n < N; n++) lab[n] = (int)(n * 2 % p.classes);
  for (int d = 0; d < p.ndrops; d++) { /* fixed masks: some samples dropped, the rest scaled by 1/keep */
    double *mask = rt_ref_ptr(KB, &p, &bind, p.drops[d], N);
    for (long n = 0; n < N; n++) mask[n] = (n + d) % 3 == 0 ? 0 : 1 / 0.8;
  }
  rt_model_zero_grads(&m, &e);
  train_loss(&c);
  double *grads = malloc(lay.nparams * sizeof *grads);
  memcpy(grads, m.grads, lay.nparams * sizeof *grads);
  for (int i = 0; i < p.ntouched; i++) {
    const nw_tensor *t = &lay.t[p.touched[i]];
    long pick[2] = {0, (long)t->numel - 1};
    for (int k = 0; k < 2; k++) {
      char what[200];
      snprintf(what, sizeof what, "gradient of %s[%ld]", t->name, pick[k]);
      kt_fd(what, (double *)m.params + t->offset + pick[k], grads + t->offset + pick[k], 1, train_loss, &c);
    }
  }
  free(grads);
  rt_exec_free(&c.x);
  free(arena);
  rt_model_free(&m);
  pl_free(&p);
  nw_free(&lay);
}

static void test_eval_network(void **state) {
  (void)state;
  use(0);
  check_eval_network(&SP.eval_net);
}

/* NetworkImageNet's stems (three 3x3 convs of stride 2, ReLUs between),
   its first cell after a reduction, its auxiliary head without the last BN:
   at 32 px, stems to 4x4, the head on 2x2 maps */
static void test_imagenet_eval_network(void **state) {
  (void)state;
  use(0);
  sp_net net = SP.eval_net;
  net.imagenet_stem = 1;
  net.input_size = 32;
  net.cells = 2;
  net.nreductions = 1;
  net.reductions[0] = 1;
  check_eval_network(&net);
  gt_genotype g;
  random_genotype(&g, 4242);
  nw_layout lay;
  err_t e = ERR_INIT;
  if (nw_eval_layout(&lay, &SP, &net, &g, &e) != 0) fail_msg("%s", err_msg(&e));
  const char *names[] = {"stem0.0.weight", "stem0.1.weight", "stem0.3.weight", "stem0.4.running_var", "stem1.1.weight",
                         "stem1.2.bias", "cells.0.preprocess0.conv_1.weight", "auxiliary_head.features.5.weight"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    if (nw_find(&lay, names[k]) < 0) fail_msg("the imagenet network lacks %s", names[k]);
  assert_true(nw_find(&lay, "auxiliary_head.features.6.weight") < 0);
  assert_true(nw_find(&lay, "stem.0.weight") < 0);
  nw_free(&lay);
}

static void test_placement_and_memory(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  sp_space dsp;
  nw_layout dl;
  assert_int_equal(sp_load_example(&dsp, "darts", &e), 0);
  assert_int_equal(nw_search_layout(&dl, &dsp, &dsp.net, &e), 0);
  const char *v2 = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
                   "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
                   "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
                   "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
                   "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
  gt_genotype g;
  if (gt_parse(&dsp, v2, &g, "DARTS_V2", &e) != 0) fail_msg("%s", err_msg(&e));
  pl_plan child, super;
  assert_int_equal(pl_build_child(&child, &dsp, &dsp.net, &dl, &g, PL_TRAIN, &e), 0);
  assert_int_equal(pl_build_supernet(&super, &dsp, &dsp.net, &dl, PL_TRAIN, &e), 0);
  if (pl_check_placement(&child, &e) != 0 || pl_check_placement(&super, &e) != 0) fail_msg("%s", err_msg(&e));
  /* the arena is close to the most memory live at once, and a supernet needs
     several times a child's */
  assert_true(child.arena_units >= child.peak_units);
  assert_true(child.arena_units < 1.15 * child.peak_units);
  assert_true(super.arena_units > 4 * child.arena_units);
  pl_free(&child);
  pl_free(&super);
  nw_free(&dl);
  sp_free(&dsp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_placement_and_memory),
      cmocka_unit_test(test_child_gradients),
      cmocka_unit_test(test_every_primitive),
      cmocka_unit_test(test_custom_convolutions),
      cmocka_unit_test(test_eval_network),
      cmocka_unit_test(test_imagenet_eval_network),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
