#include "rt_search.h"
#include "rt_ckpt.h"
#include "rt_data.h"
#include "rt_device.h"
#include "rt_dist.h"
#include "io.h"
#include "rt_model.h"
#include "rt_job.h"
#include "rt_record.h"
#include "rt_rundir.h"
#include "rt_runner.h"
#include "rt_safetensors.h"
#include "sha.h"
#include "sp_json.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXK 256

/* the resolved settings of a run (what a checkpoint records) */
typedef struct {
  char data[RT_FIELD_STR_MAX];
  int epochs, samples, batch, limit, seed;
  double temperature, split, arch_lr;
  double lr, lr_min, momentum, weight_decay, grad_clip, beta1, beta2;
  char init_from[RT_FIELD_STR_MAX];
  int warmup, uniform_weights;
  double temperature_end;
} settings;

#define SET(f) offsetof(settings, f)
#define OPT(f) offsetof(rt_search_opts, f)
static const rt_field fields[] = {
    {"data", RT_FIELD_STR, SET(data), OPT(data)},
    {"epochs", RT_FIELD_INT, SET(epochs), OPT(epochs), 0, 1, 1000000},
    {"samples", RT_FIELD_INT, SET(samples), OPT(samples), 0, 1, 256},
    {"batch", RT_FIELD_INT, SET(batch), OPT(batch), 0, 1, 4096},
    {"limit", RT_FIELD_INT, SET(limit), OPT(limit), 0, 0, 2147483647},
    {"seed", RT_FIELD_INT, SET(seed), OPT(seed), 0, 0, 2147483647},
    {"temperature", RT_FIELD_NUM, SET(temperature), OPT(temperature), 0, 1e-6, 1000000},
    {"split", RT_FIELD_NUM, SET(split), OPT(split), 0, 0.01, 0.99},
    {"arch_lr", RT_FIELD_NUM, SET(arch_lr), OPT(arch_lr), 0, 0, 1000},
    {"lr", RT_FIELD_NUM, SET(lr), RT_NO_OPTION, 0, 0, 1000},
    {"lr_min", RT_FIELD_NUM, SET(lr_min), RT_NO_OPTION, 0, 0, 1000},
    {"momentum", RT_FIELD_NUM, SET(momentum), RT_NO_OPTION, 0, 0, 1},
    {"weight_decay", RT_FIELD_NUM, SET(weight_decay), RT_NO_OPTION, 0, 0, 1000},
    {"grad_clip", RT_FIELD_NUM, SET(grad_clip), RT_NO_OPTION, 0, 0, 1000000000},
    {"arch_beta1", RT_FIELD_NUM, SET(beta1), RT_NO_OPTION, 0, 0, 0.999999},
    {"arch_beta2", RT_FIELD_NUM, SET(beta2), RT_NO_OPTION, 0, 0, 0.999999999},
    {"init_from", RT_FIELD_STR, SET(init_from), OPT(init_from)},
    {"warmup", RT_FIELD_INT, SET(warmup), OPT(warmup), 1, 0, 1000000},
    {"uniform_weights", RT_FIELD_INT, SET(uniform_weights), OPT(uniform_weights), 1, 0, 1, "--uniform-weights"},
    {"temperature_end", RT_FIELD_NUM, SET(temperature_end), OPT(temperature_end), 1, 0, 1000000},
};
#define NFIELDS ((int)(sizeof fields / sizeof fields[0]))

typedef struct {
  const rt_search_opts *o;
  settings st;
  sp_space sp;
  const sp_net *net;
  nw_layout lay;
  rt_backend *b;
  rt_model m;
  rt_dist d;
  rt_dataset data;
  int *train_idx, *search_idx;
  int ntrain, nsearch;
  float mean[8], std[8];
  rt_augment aug;
  rng_t sample_rng, aug_rng;
  rt_runner run;
  char dir[4096];
  /* position: the next step to run */
  int epoch, step;
  /* this epoch so far */
  double loss_sum, acc_sum, wall;
  long steps_done, children;
  /* memory, this epoch */
  size_t step_peak, child_alone, supernet_bytes;
  double worst_ratio;
  rt_cache_stats cache0;
  rt_job job;
  rt_rundir rd; /* the run directory, locked while the search runs */
} search;

/* ---------- settings ---------- */

/* The space's recipe (its transfer recipe for a transfer search, paper
 * section 4.2), then every option given on the command line. */
static void resolve(search *s) {
  const sp_search *r = &s->sp.search;
  settings *st = &s->st;
  snprintf(st->data, sizeof st->data, "%s", r->data);
  st->epochs = r->epochs;
  st->samples = r->samples;
  st->batch = r->batch;
  st->limit = r->limit;
  st->seed = r->seed;
  st->temperature = r->temperature;
  st->split = r->split;
  st->arch_lr = r->arch_lr;
  st->lr = r->lr;
  st->lr_min = r->lr_min;
  st->momentum = r->momentum;
  st->weight_decay = r->weight_decay;
  st->grad_clip = r->grad_clip;
  st->beta1 = r->arch_beta1;
  st->beta2 = r->arch_beta2;
  st->init_from[0] = 0;
  st->warmup = r->warmup;
  st->uniform_weights = r->uniform_weights;
  st->temperature_end = r->temperature_end;
  if (s->o->init_from) {
    const sp_transfer *t = &s->sp.transfer;
    st->epochs = t->epochs;
    st->arch_lr = t->arch_lr;
    st->batch = t->batch;
    if (t->samples > 0) st->samples = t->samples;
  }
  rt_fields_apply(fields, NFIELDS, st, s->o);
}

/* ---------- data ---------- */

static int load_data(search *s, err_t *e) {
  if (rt_data_open(&s->data, s->st.data, RT_SPLIT_TRAIN, e) != 0) return -1;
  const sp_net *n = s->net;
  if (s->data.c != n->input_channels || s->data.h != n->input_size || s->data.w != n->input_size)
    return err_set(e, "%s holds %dx%dx%d images, but the space '%s' expects %dx%dx%d (network.input): give matching "
                      "data with --data or a space for this data",
                   s->st.data, s->data.c, s->data.h, s->data.w, s->sp.name, n->input_channels, n->input_size,
                   n->input_size);
  if (s->data.classes > n->classes)
    return err_set(e, "%s has labels up to %d, but the space '%s' has %d classes (network.classes)", s->st.data,
                   s->data.classes - 1, s->sp.name, n->classes);
  rt_data_limit(&s->data, s->st.limit);
  if (s->data.n < 4) return err_set(e, "%s: %d images are too few to split into train and search sets", s->st.data, s->data.n);
  rt_data_stats(&s->data, s->mean, s->std);
  /* the split: a seeded shuffle, then the first part trains the weights */
  int *all = malloc(sizeof *all * (size_t)s->data.n);
  if (!all) return err_set(e, "out of memory");
  for (int i = 0; i < s->data.n; i++) all[i] = i;
  rng_t r;
  rng_seed(&r, (uint64_t)s->st.seed * 0x9e3779b97f4a7c15ULL + 1);
  rng_shuffle(&r, all, s->data.n);
  s->ntrain = (int)(s->data.n * s->st.split + 0.5);
  if (s->ntrain < 1) s->ntrain = 1;
  if (s->ntrain > s->data.n - 1) s->ntrain = s->data.n - 1;
  s->nsearch = s->data.n - s->ntrain;
  s->train_idx = all;
  s->search_idx = malloc(sizeof *all * (size_t)s->nsearch);
  if (!s->search_idx) return err_set(e, "out of memory");
  memcpy(s->search_idx, all + s->ntrain, sizeof *all * (size_t)s->nsearch);
  if (rt_data_is_cifar(s->st.data)) s->aug = (rt_augment){4, 1, 0};
  if (s->o->init_from || s->st.init_from[0]) s->aug.cutout = s->sp.transfer.cutout;
  if (rt_runner_init(&s->run, s->b, &s->m, s->st.batch, (long)n->input_channels * n->input_size * n->input_size,
                     s->st.samples, e) != 0)
    return -1;
  /* the children are new plans every step (never recorded); the mode's
     evaluation repeats one plan over the search split's batches */
  rt_runner_use_graphs(&s->run, !s->o->no_graphs);
  return 0;
}

/* The order of epoch E's batches: a function of the seed and E alone, so a
 * resumed run sees the same batches. */
static void epoch_order(const search *s, int epoch, int *train, int *srch) {
  rng_t r;
  rng_seed(&r, ((uint64_t)s->st.seed << 20) ^ (uint64_t)(epoch + 1) * 0xd1b54a32d192ed03ULL);
  memcpy(train, s->train_idx, sizeof *train * (size_t)s->ntrain);
  memcpy(srch, s->search_idx, sizeof *srch * (size_t)s->nsearch);
  rng_shuffle(&r, train, s->ntrain);
  rng_shuffle(&r, srch, s->nsearch);
}

static int steps_per_epoch(const search *s) { return (s->ntrain + s->st.batch - 1) / s->st.batch; }

/* ---------- running plans ---------- */

static void stage(search *s, const int *idx, int n, const rt_augment *aug) {
  rt_data_batch(&s->data, idx, n, s->mean, s->std, aug, &s->aug_rng, s->run.himg, s->b->elem, s->run.hlab);
}

/* Builds child G's plan of MODE and queues it on the staged batch of N
   (training plans mark the tensors they touch); results in slot K. */
static int queue_child(search *s, const gt_genotype *g, pl_mode mode, int n, float loss_scale, int k, err_t *e) {
  pl_plan p;
  if (pl_build_child(&p, &s->sp, s->net, &s->lay, g, mode, e) != 0) return -1;
  int rc = rt_runner_submit(&s->run, &p, n, loss_scale, mode == PL_TRAIN ? 0.1f : 0, k, e);
  if (rc == 0 && mode == PL_TRAIN) rt_model_touch(&s->m, &p);
  pl_free(&p);
  if (rc != 0) rt_runner_wait(&s->run, NULL); /* nothing stays queued behind an error */
  return rc;
}

/* The temperature of epoch EPOCH: constant, or moving linearly from
 * `temperature` to `temperature_end` over the epochs after the warm-up. */
static double temperature_at(const settings *st, int epoch) {
  if (st->temperature_end <= 0 || st->epochs - st->warmup <= 1) return st->temperature;
  double f = (double)(epoch - st->warmup) / (st->epochs - st->warmup - 1);
  if (f < 0) f = 0;
  return st->temperature + (st->temperature_end - st->temperature) * (f > 1 ? 1 : f);
}

/* Importance weights W of the K children on the search batch: forward
 * only, batch statistics, running statistics untouched; the K plans are
 * queued together (a GPU runs one while the next is built). */
static int importance_weights(search *s, const gt_genotype *g, int K, const int *sidx, int sn, double *w,
                              size_t *peak, err_t *e) {
  double logw[MAXK];
  stage(s, sidx, sn, &s->aug);
  for (int k = 0; k < K; k++)
    if (queue_child(s, &g[k], PL_FORWARD, sn, 0, k, e) != 0) return -1;
  if (rt_runner_wait(&s->run, e) != 0) return -1;
  for (int k = 0; k < K; k++) {
    logw[k] = s->run.results[k].loglik;
    if (s->run.results[k].arena_bytes > *peak) *peak = s->run.results[k].arena_bytes;
  }
  rt_softmax(logw, K, temperature_at(&s->st, s->epoch), w);
  return 0;
}

/* The ascent of pi's logits: grad = sum_k w_k (onehot(alpha_k) - pi), Adam. */
static int update_pi(search *s, const gt_genotype *g, const double *w, int K, err_t *e) {
  double grad[4096];
  double *gp = s->d.total <= 4096 ? grad : malloc(sizeof(double) * (size_t)s->d.total);
  if (!gp) return err_set(e, "out of memory");
  rt_dist_grad(&s->d, g, w, K, gp);
  int rc = rt_dist_adam(&s->d, gp, s->st.arch_lr, e);
  if (gp != grad) free(gp);
  return rc;
}

/* One step of Algorithm 1.  Its options against early collapse change it
 * only where set: in a warm-up epoch pi stays frozen and the children's
 * weight gradients are averaged uniformly (no search batch is needed);
 * uniform_weights averages them uniformly in every epoch, while pi still
 * ascends with the importance weights. */
static int search_step(search *s, const int *tidx, int tn, const int *sidx, int sn, double lr, err_t *e) {
  int K = s->st.samples, warm = s->epoch < s->st.warmup;
  gt_genotype g[MAXK];
  double w[MAXK], gw[MAXK]; /* weights for pi's gradient, and for the weights' */
  for (int k = 0; k < K; k++) rt_dist_sample(&s->d, &s->sample_rng, &g[k]);
  size_t peak = 0, alone = 0;
  if (!warm && importance_weights(s, g, K, sidx, sn, w, &peak, e) != 0) return -1;
  for (int k = 0; k < K; k++) gw[k] = warm || s->st.uniform_weights ? 1.0 / K : w[k];
  /* weighted gradients on the train batch (the auxiliary head's loss, in a
     transfer search, joins the gradients, not the weights) */
  stage(s, tidx, tn, &s->aug);
  if (rt_model_zero_grads(&s->m, e) != 0) return -1;
  double loss = 0, acc = 0;
  for (int k = 0; k < K; k++)
    if (queue_child(s, &g[k], PL_TRAIN, tn, (float)(gw[k] / tn), k, e) != 0) return -1;
  if (rt_runner_wait(&s->run, e) != 0) return -1;
  for (int k = 0; k < K; k++) {
    const rt_result r = s->run.results[k];
    loss += gw[k] * (-r.loglik / tn);
    acc += gw[k] * (r.correct / tn);
    if (r.arena_bytes > peak) peak = r.arena_bytes;
    if (r.arena_bytes > alone) alone = r.arena_bytes;
  }
  if (!warm && update_pi(s, g, w, K, e) != 0) return -1;
  double gnorm;
  if (rt_model_sgd(&s->m, (float)lr, (float)s->st.momentum, (float)s->st.weight_decay, (float)s->st.grad_clip, &gnorm,
                   e) != 0)
    return -1;
  s->loss_sum += loss;
  s->acc_sum += acc;
  s->children += (warm ? 1L : 2L) * K;
  if (peak > s->step_peak) s->step_peak = peak;
  if (alone > s->child_alone) s->child_alone = alone;
  double ratio = alone ? (double)peak / (double)alone : 1;
  if (ratio > s->worst_ratio) s->worst_ratio = ratio;
  return 0;
}

/* The mode's accuracy on the search split, running BN statistics. */
static int evaluate_mode(search *s, const gt_genotype *mode, double *acc, double *loss, err_t *e) {
  pl_plan p;
  if (pl_build_child(&p, &s->sp, s->net, &s->lay, mode, PL_EVAL, e) != 0) return -1;
  double correct = 0, ll = 0;
  int rc = 0;
  for (int at = 0; at < s->nsearch && rc == 0; at += s->st.batch) {
    int n = s->nsearch - at < s->st.batch ? s->nsearch - at : s->st.batch;
    stage(s, s->search_idx + at, n, NULL);
    rt_result r;
    rc = rt_runner_run(&s->run, &p, n, 0, 0, &r, e);
    correct += r.correct;
    ll += r.loglik;
  }
  pl_free(&p);
  *acc = correct / s->nsearch;
  *loss = -ll / s->nsearch;
  return rc;
}

/* ---------- outputs ---------- */

/* The shared weights as RUN/weights.safetensors, a tensor per parameter
 * named by cell, node, input and op (cells.3.nodes.1.inputs.0.sep_conv_3x3.1.weight),
 * the BN statistics beside them: loadable without parsec. */
static int write_weights(search *s, err_t *e) {
  if (s->b->elem != sizeof(float)) return 0;
  size_t pb = s->lay.nparams * sizeof(float), sb = s->lay.nstats * sizeof(float);
  float *params = malloc(pb ? pb : 1), *stats = malloc(sb ? sb : 1);
  int rc = params && stats ? 0 : err_set(e, "out of memory");
  if (rc == 0) rc = rt_model_get(&s->m, params, s->m.params, pb, e) || (sb && rt_model_get(&s->m, stats, s->m.stats, sb, e));
  char epoch[32], cells[32], chans[32], path[4200], mean[256] = "", std[256] = "";
  snprintf(epoch, sizeof epoch, "%d", s->epoch + 1);
  snprintf(cells, sizeof cells, "%d", s->net->cells);
  snprintf(chans, sizeof chans, "%d", s->net->channels);
  for (int c = 0; c < s->data.c && c < 8; c++) {
    snprintf(mean + strlen(mean), sizeof mean - strlen(mean), "%s%.9g", c ? "," : "", s->mean[c]);
    snprintf(std + strlen(std), sizeof std - strlen(std), "%s%.9g", c ? "," : "", s->std[c]);
  }
  snprintf(path, sizeof path, "%s/weights.safetensors", s->dir);
  const char *meta[] = {"format",        "parsec-search-weights", "space",      s->sp.name, "epochs_trained", epoch,
                        "layers",        cells,                   "init_channels", chans,   "input_mean",     mean,
                        "input_std",     std};
  if (rc == 0) rc = rt_safetensors_write(path, &s->lay, params, stats, 0, meta, 7, e);
  free(params);
  free(stats);
  return rc;
}

static int write_outputs(search *s, const gt_genotype *mode, err_t *e) {
  char path[4200];
  char *dist = rt_dist_json(&s->d);
  char title[256];
  snprintf(title, sizeof title, "mode of %s after epoch %d", s->sp.name, s->epoch + 1);
  int rc = dist ? 0 : err_set(e, "out of memory");
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/distribution.json", s->dir);
    rc = io_write_text(path, dist, e);
  }
  if (rc == 0) rc = rt_rundir_write_cells(s->dir, &s->sp, mode, title, 1, NULL, e);
  free(dist);
  return rc ? rc : write_weights(s, e);
}

static int log_epoch(search *s, double lr, const gt_genotype *mode, double macc, double mloss, err_t *e) {
  rt_cache_stats cs = rt_kernel_stats(s->b);
  long req = cs.requests - s->cache0.requests, miss = cs.misses - s->cache0.misses;
  double comp = cs.compile_seconds - s->cache0.compile_seconds;
  int steps = (int)s->steps_done;
  char *mt = gt_to_text(&s->sp, mode);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "epoch", s->epoch + 1);
  cJSON_AddNumberToObject(j, "lr", lr);
  cJSON_AddNumberToObject(j, "train_loss", steps ? s->loss_sum / steps : 0);
  cJSON_AddNumberToObject(j, "train_acc", steps ? s->acc_sum / steps : 0);
  cJSON_AddNumberToObject(j, "entropy", rt_dist_entropy(&s->d));
  cJSON_AddNumberToObject(j, "temperature", temperature_at(&s->st, s->epoch));
  if (s->epoch < s->st.warmup) cJSON_AddBoolToObject(j, "warmup", 1); /* pi was frozen */
  cJSON_AddStringToObject(j, "mode", mt ? mt : "");
  cJSON_AddNumberToObject(j, "mode_search_acc", macc);
  cJSON_AddNumberToObject(j, "mode_search_loss", mloss);
  cJSON_AddNumberToObject(j, "seconds", s->wall);
  cJSON_AddNumberToObject(j, "children_per_s", s->wall > 0 ? s->children / s->wall : 0);
  cJSON *k = cJSON_AddObjectToObject(j, "kernels");
  cJSON_AddNumberToObject(k, "requests", (double)req);
  cJSON_AddNumberToObject(k, "hits", (double)(req - miss));
  cJSON_AddNumberToObject(k, "misses", (double)miss);
  cJSON_AddNumberToObject(k, "compile_seconds", comp);
  cJSON *m = cJSON_CreateObject();
  cJSON_AddNumberToObject(m, "step_peak_activation_bytes", (double)s->step_peak);
  cJSON_AddNumberToObject(m, "largest_child_alone_bytes", (double)s->child_alone);
  cJSON_AddNumberToObject(m, "step_peak_over_largest_child", s->worst_ratio);
  cJSON_AddNumberToObject(m, "parameter_bytes", (double)(s->lay.nparams * 3 + s->lay.nstats) * (double)s->b->elem);
  cJSON_AddNumberToObject(m, "supernet_activation_bytes", (double)s->supernet_bytes);
  int rc = rt_job_log(&s->job, j, m, &s->run, e);
  char gpu_mem[64];
  rt_job_screen_note(&s->job, &s->run, gpu_mem, sizeof gpu_mem);
  if (!s->o->quiet) {
    rt_progress_clear(&s->job.prog);
    printf("epoch %d/%d  lr %.4f  loss %.3f  acc %5.1f%%  entropy %.2f  mode acc %5.1f%%  %.1f s  "
           "%.1f children/s  kernels %ld/%ld hit  arena %.1f MiB (supernet %.1f MiB)%s\n",
           s->epoch + 1, s->st.epochs, lr, steps ? s->loss_sum / steps : 0, steps ? 100 * s->acc_sum / steps : 0,
           rt_dist_entropy(&s->d), 100 * macc, s->wall, s->wall > 0 ? s->children / s->wall : 0, req - miss, req,
           (double)s->step_peak / (1 << 20), (double)s->supernet_bytes / (1 << 20), gpu_mem);
    printf("  mode: %s\n", mt ? mt : "");
    fflush(stdout);
  }
  free(mt);
  return rc;
}

/* ---------- checkpoints ---------- */

/* The state at the start of step STEP of epoch EPOCH (0-based): a resumed
 * run continues from there. */
static int save_checkpoint(search *s, int epoch, int step, err_t *e) {
  size_t pb = s->lay.nparams * s->b->elem, sb = s->lay.nstats * s->b->elem, lb = sizeof(double) * (size_t)s->d.total;
  void *params = malloc(pb ? pb : 1), *mom = malloc(pb ? pb : 1), *stats = malloc(sb ? sb : 1);
  double *am = malloc(lb), *av = malloc(lb);
  int rc = params && mom && stats && am && av ? 0 : err_set(e, "out of memory");
  if (rc == 0)
    rc = rt_model_get(&s->m, params, s->m.params, pb, e) || rt_model_get(&s->m, mom, s->m.mom, pb, e) ||
         (sb && rt_model_get(&s->m, stats, s->m.stats, sb, e)) || rt_dist_moments(&s->d, am, av, e);
  char *space = sp_to_json(&s->sp);
  cJSON *h = cJSON_CreateObject();
  cJSON_AddStringToObject(h, "format", "parsec-checkpoint");
  cJSON_AddStringToObject(h, "kind", "search");
  cJSON_AddItemToObject(h, "space", cJSON_Parse(space ? space : "{}"));
  cJSON_AddItemToObject(h, "settings", rt_fields_json(fields, NFIELDS, &s->st));
  cJSON_AddNumberToObject(h, "epoch", epoch);
  cJSON_AddNumberToObject(h, "step", step);
  cJSON_AddNumberToObject(h, "elem", (double)s->b->elem);
  cJSON_AddNumberToObject(h, "adam_t", (double)s->d.t);
  cJSON_AddNumberToObject(h, "log_bytes", (double)s->job.log_bytes);
  /* the blocks' tensors by the names weights.safetensors gives them:
     [name, block, offset, elements]; momentum shares the params layout */
  cJSON *names = cJSON_AddArrayToObject(h, "tensors");
  for (int i = 0; i < s->lay.n; i++) {
    const nw_tensor *t = &s->lay.t[i];
    cJSON *row = cJSON_CreateArray();
    cJSON_AddItemToArray(row, cJSON_CreateString(t->name));
    cJSON_AddItemToArray(row, cJSON_CreateString(t->kind == NW_PARAM ? "params" : "bn_stats"));
    cJSON_AddItemToArray(row, cJSON_CreateNumber((double)t->offset));
    cJSON_AddItemToArray(row, cJSON_CreateNumber((double)t->numel));
    cJSON_AddItemToArray(names, row);
  }
  rng_to_json(h, "sample_rng", &s->sample_rng);
  rng_to_json(h, "aug_rng", &s->aug_rng);
  cJSON *acc = cJSON_AddObjectToObject(h, "epoch_so_far");
  cJSON_AddNumberToObject(acc, "loss_sum", s->loss_sum);
  cJSON_AddNumberToObject(acc, "acc_sum", s->acc_sum);
  cJSON_AddNumberToObject(acc, "steps", (double)s->steps_done);
  cJSON_AddNumberToObject(acc, "children", (double)s->children);
  cJSON_AddNumberToObject(acc, "seconds", s->wall);
  char *hs = cJSON_Print(h);
  cJSON_Delete(h);
  free(space);
  if (rc == 0) {
    rt_block bl[6] = {{"params", params, pb}, {"momentum", mom, pb},         {"bn_stats", stats, sb},
                      {"logits", s->d.logits, lb}, {"adam_m", am, lb}, {"adam_v", av, lb}};
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint.bin", s->dir);
    rc = hs ? rt_ckpt_write(path, hs, bl, 6, e) : err_set(e, "out of memory");
  }
  free(hs);
  free(params);
  free(mom);
  free(stats);
  free(am);
  free(av);
  return rc;
}

/* Restores a run from RUN/checkpoint.bin (the space comes from it too). */
static int load_checkpoint(search *s, rt_ckpt *c, cJSON **hdr, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.bin", s->dir);
  if (rt_ckpt_read(path, c, e) != 0) return -1;
  *hdr = cJSON_Parse(c->header);
  if (!*hdr) return err_set(e, "%s: damaged checkpoint header", path);
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(*hdr, "kind");
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "search") != 0)
    return err_set(e, "%s: not a search checkpoint", path);
  char *space = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(*hdr, "space"));
  int rc = space ? sp_from_json(&s->sp, space, path, e) : err_set(e, "out of memory");
  free(space);
  if (rc) return -1;
  return rt_fields_read(fields, NFIELDS, &s->st, cJSON_GetObjectItemCaseSensitive(*hdr, "settings"), path, e);
}

static int restore_state(search *s, rt_ckpt *c, const cJSON *h, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.bin", s->dir);
  const cJSON *elem = cJSON_GetObjectItemCaseSensitive(h, "elem");
  if (!cJSON_IsNumber(elem) || (size_t)elem->valueint != s->b->elem)
    return err_set(e, "%s: written with %d-byte numbers, this backend uses %zu", path,
                   cJSON_IsNumber(elem) ? elem->valueint : -1, s->b->elem);
  size_t pb = s->lay.nparams * s->b->elem, sb = s->lay.nstats * s->b->elem, lb = sizeof(double) * (size_t)s->d.total;
  const void *params = rt_ckpt_block(c, "params", pb, path, e);
  const void *mom = params ? rt_ckpt_block(c, "momentum", pb, path, e) : NULL;
  const void *stats = mom ? rt_ckpt_block(c, "bn_stats", sb, path, e) : NULL;
  const double *lg = stats ? rt_ckpt_block(c, "logits", lb, path, e) : NULL;
  const double *am = lg ? rt_ckpt_block(c, "adam_m", lb, path, e) : NULL;
  const double *av = am ? rt_ckpt_block(c, "adam_v", lb, path, e) : NULL;
  if (!av) return -1;
  /* the position and the epoch's sums, each in its range */
  double t, ep, st, sv[5], lg_bytes = -1;
  const cJSON *acc = cJSON_GetObjectItemCaseSensitive(h, "epoch_so_far");
  const char *sums[] = {"loss_sum", "acc_sum", "steps", "children", "seconds"};
  const double hi[] = {1e300, 1e300, 1e12, 1e15, 1e12};
  if (rt_ckpt_number(h, "adam_t", 0, 1e15, &t, path, e) || rt_ckpt_number(h, "epoch", 0, 1e6, &ep, path, e) ||
      rt_ckpt_number(h, "step", 0, steps_per_epoch(s) - 1, &st, path, e))
    return -1;
  for (int i = 0; i < 5; i++)
    if (rt_ckpt_number(acc, sums[i], i < 2 ? -1e300 : 0, hi[i], &sv[i], path, e)) return -1;
  if (cJSON_GetObjectItemCaseSensitive(h, "log_bytes") && rt_ckpt_number(h, "log_bytes", 0, 1e15, &lg_bytes, path, e))
    return -1;
  for (int i = 0; i < s->d.total; i++)
    if (!isfinite(lg[i]) || !isfinite(am[i]) || !isfinite(av[i]) || av[i] < 0)
      return err_set(e, "%s: damaged checkpoint (a logit or its Adam moment is not finite)", path);
  if (s->b->upload(s->b, s->m.params, params, pb, e) || s->b->upload(s->b, s->m.mom, mom, pb, e) ||
      (sb && s->b->upload(s->b, s->m.stats, stats, sb, e)) || rt_dist_set(&s->d, lg, am, av, (long)t, e))
    return -1;
  if (rng_from_json(h, "sample_rng", &s->sample_rng, e) || rng_from_json(h, "aug_rng", &s->aug_rng, e)) return -1;
  s->epoch = (int)ep;
  s->step = (int)st;
  s->loss_sum = sv[0];
  s->acc_sum = sv[1];
  s->steps_done = (long)sv[2];
  s->children = (long)sv[3];
  s->wall = sv[4];
  /* log lines after the checkpoint (an epoch whose checkpoint was not
     written) go: the resumed run writes them again */
  if (lg_bytes >= 0 && rt_rundir_trim_log(s->dir, (long long)lg_bytes, e) != 0) return -1;
  return 0;
}

/* ---------- the run ---------- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cosine_lr(const settings *st, int epoch) {
  return st->lr_min + 0.5 * (st->lr - st->lr_min) * (1 + cos(M_PI * epoch / st->epochs));
}

/* --resume with the command line the run was started with: each option
 * given (and SPACE) must agree with the run's; --epochs may grow. */
static int same_run(search *s, err_t *e) {
  const rt_search_opts *o = s->o;
  if (rt_fields_match(fields, NFIELDS, &s->st, o, "epochs,", s->dir, e) != 0) return -1;
  if (!o->space) return 0;
  sp_space given;
  char a[SHA256_HEX], b[SHA256_HEX];
  if (sp_open(&given, o->space, e) != 0) return -1;
  int same = sp_ir_sha256(&given, a) == 0 && sp_ir_sha256(&s->sp, b) == 0 && strcmp(a, b) == 0;
  sp_free(&given);
  if (!same)
    return err_set_code(e, ERR_USAGE, "--resume: %s is not the space %s was started with ('%s'); drop SPACE or give "
                                      "that one", o->space, s->dir, s->sp.name);
  return 0;
}

/* config.json, and pi at the start as the history's epoch 0. */
static int start_record(search *s, err_t *e) {
  cJSON *data = cJSON_CreateObject();
  cJSON_AddStringToObject(data, "spec", s->st.data);
  cJSON_AddNumberToObject(data, "images", s->data.n);
  cJSON_AddNumberToObject(data, "train_split", s->ntrain);
  cJSON_AddNumberToObject(data, "search_split", s->nsearch);
  int shape[3] = {s->data.c, s->data.h, s->data.w};
  cJSON_AddItemToObject(data, "image_shape", cJSON_CreateIntArray(shape, 3));
  cJSON_AddNumberToObject(data, "classes", s->data.classes);
  cJSON *extra = cJSON_CreateObject();
  cJSON_AddNumberToObject(extra, "parameters", (double)nw_param_count(&s->lay));
  rt_record r = {s->st.init_from[0] ? "transfer" : "search", s->o->argc, s->o->argv, &s->sp,
                 rt_fields_json(fields, NFIELDS, &s->st), data, s->b->device, extra};
  if (rt_record_start(s->dir, &r, e) != 0) return -1;
  return rt_record_append(s->dir, RT_RECORD_HISTORY, rt_dist_history_line(&s->d, 0), e);
}

/* The history back to the checkpoint's finished epochs, and the resume noted. */
static int resume_record(search *s, err_t *e) {
  return rt_record_trim(s->dir, RT_RECORD_HISTORY, s->epoch, e) ||
         rt_record_resumed(s->dir, s->o->argc, s->o->argv, s->epoch, e);
}

static int setup(search *s, err_t *e) {
  const rt_search_opts *o = s->o;
  rt_ckpt ck = {0};
  cJSON *hdr = NULL;
  if (rt_rundir_claim(&s->rd, o->out, o->resume, e) != 0) return -1; /* before any work: a bad --out fails now */
  snprintf(s->dir, sizeof s->dir, "%s", s->rd.dir);
  if (o->resume) {
    if (load_checkpoint(s, &ck, &hdr, e) != 0 || same_run(s, e) != 0) goto fail;
    if (o->epochs >= 0) s->st.epochs = o->epochs; /* a resumed run may be given more epochs */
  } else {
    if (sp_open(&s->sp, o->space, e) != 0) goto fail;
    resolve(s);
  }
  s->net = s->st.init_from[0] ? &s->sp.transfer_net : &s->sp.net;
  if (s->st.samples < 1 || s->st.samples > MAXK) {
    err_set(e, "--samples %d is out of range (1..%d)", s->st.samples, MAXK);
    goto fail;
  }
  if (s->st.warmup >= s->st.epochs) {
    err_set_code(e, ERR_USAGE, "a warm-up of %d epochs leaves none of the %d to learn pi in: give fewer --warmup epochs",
                 s->st.warmup, s->st.epochs);
    goto fail;
  }
  if (s->st.batch < 1 || s->st.batch > 4096) {
    err_set(e, "--batch %d is out of range (1..4096)", s->st.batch);
    goto fail;
  }
  if (nw_search_layout(&s->lay, &s->sp, s->net, e) != 0) goto fail;
  if (rt_device_open(&s->b, o->device, o->threads, !o->quiet, e) != 0) goto fail;
  if (rt_model_init(&s->m, s->b, &s->lay, (uint64_t)s->st.seed, e) != 0) goto fail;
  if (rt_dist_init(&s->d, &s->sp, s->b, s->st.beta1, s->st.beta2, e) != 0) goto fail;
  rng_seed(&s->sample_rng, (uint64_t)s->st.seed * 2 + 11);
  rng_seed(&s->aug_rng, (uint64_t)s->st.seed * 2 + 12);
  if (s->st.init_from[0] && !o->resume) {
    char path[4200];
    snprintf(path, sizeof path, "%s/distribution.json", s->st.init_from);
    if (rt_dist_load_json(&s->d, path, e) != 0) goto fail;
  }
  if (load_data(s, e) != 0) goto fail;
  if (o->resume && restore_state(s, &ck, hdr, e) != 0) goto fail;
  if (o->resume ? resume_record(s, e) : start_record(s, e)) goto fail;
  /* the supernet's activations on the same configuration, for comparison */
  pl_plan sup;
  if (pl_build_supernet(&sup, &s->sp, s->net, &s->lay, PL_TRAIN, e) != 0) goto fail;
  s->supernet_bytes = pl_arena_bytes(&sup, s->st.batch, s->b->elem);
  pl_free(&sup);
  cJSON_Delete(hdr);
  rt_ckpt_free(&ck);
  return 0;
fail:
  cJSON_Delete(hdr);
  rt_ckpt_free(&ck);
  return -1;
}

static void teardown(search *s) {
  if (s->b) {
    rt_runner_free(&s->run);
    rt_dist_free(&s->d);
    rt_model_free(&s->m);
    rt_backend_close(s->b);
  }
  nw_free(&s->lay);
  rt_data_free(&s->data);
  free(s->train_idx);
  free(s->search_idx);
  sp_free(&s->sp);
  rt_rundir_release(&s->rd);
}

/* The step at s->step of the current epoch: its batches, Algorithm 1, the
 * epoch's sums. */
static int run_step(search *s, const int *torder, const int *sorder, double lr, err_t *e) {
  int at = s->step * s->st.batch;
  int tn = s->ntrain - at < s->st.batch ? s->ntrain - at : s->st.batch;
  /* the search split is walked alongside, wrapping if it is the shorter */
  int sat = (int)(((long)s->step * s->st.batch) % s->nsearch);
  int sn = s->nsearch - sat < s->st.batch ? s->nsearch - sat : s->st.batch;
  if (sn > tn) sn = tn;
  double t0 = now_s();
  if (search_step(s, torder + at, tn, sorder + sat, sn, lr, e) != 0) return -1;
  s->wall += now_s() - t0;
  s->steps_done++;
  return 0;
}

/* The end of an epoch: the mode on the search split, the log line, the
 * outputs, and the checkpoint of the next epoch's start. */
static int end_epoch(search *s, double lr, err_t *e) {
  gt_genotype mode;
  rt_dist_mode(&s->d, &mode);
  double macc, mloss;
  if (evaluate_mode(s, &mode, &macc, &mloss, e) != 0 || log_epoch(s, lr, &mode, macc, mloss, e) != 0 ||
      write_outputs(s, &mode, e) != 0 ||
      rt_record_append(s->dir, RT_RECORD_HISTORY, rt_dist_history_line(&s->d, s->epoch + 1), e) != 0)
    return -1;
  return save_checkpoint(s, s->epoch + 1, 0, e);
}

/* Epochs from the current position to the last; 0, ERR_INTERRUPTED, or a
 * failure's status. */
static int run_epochs(search *s, err_t *e) {
  int nsteps = steps_per_epoch(s);
  int *torder = malloc(sizeof(int) * (size_t)s->ntrain), *sorder = malloc(sizeof(int) * (size_t)s->nsearch);
  int rc = torder && sorder ? 0 : err_set(e, "out of memory");
  while (rc == 0 && s->epoch < s->st.epochs) {
    double lr = cosine_lr(&s->st, s->epoch);
    epoch_order(s, s->epoch, torder, sorder);
    if (s->step == 0) {
      s->loss_sum = s->acc_sum = s->wall = 0;
      s->steps_done = s->children = 0;
    }
    s->step_peak = s->child_alone = 0;
    s->worst_ratio = 1;
    s->cache0 = rt_kernel_stats(s->b);
    while (rc == 0 && s->step < nsteps) {
      if (run_step(s, torder, sorder, lr, e) != 0) {
        rc = err_status(e);
        break;
      }
      s->step++;
      rt_job_step(&s->job, s->epoch, s->st.epochs, s->step, nsteps, s->wall / s->steps_done,
                  s->loss_sum / s->steps_done, s->children / (s->wall > 0 ? s->wall : 1));
      if (rt_job_stopping(&s->job) && s->step < nsteps) { /* at an epoch's end, its own checkpoint serves */
        rt_progress_clear(&s->job.prog);
        rc = save_checkpoint(s, s->epoch, s->step, e) == 0 ? ERR_INTERRUPTED : err_status(e);
      }
    }
    if (rc != 0) break;
    if (end_epoch(s, lr, e) != 0) {
      rc = err_status(e);
      break;
    }
    s->epoch++;
    s->step = 0;
    if (rt_job_stopping(&s->job)) rc = ERR_INTERRUPTED;
  }
  free(torder);
  free(sorder);
  return rc;
}

static void say_start(const search *s) {
  printf("parsec search: space '%s' on %s (%d images: %d train, %d search), %d epoch%s of %d steps, K = %d, "
         "batch %d, seed %d\n",
         s->sp.name, s->st.data, s->data.n, s->ntrain, s->nsearch, s->st.epochs, s->st.epochs == 1 ? "" : "s",
         steps_per_epoch(s), s->st.samples, s->st.batch, s->st.seed);
  printf("device: %s; parameters %.2f M; outputs in %s/\n", s->b->device, (double)nw_param_count(&s->lay) / 1e6,
         s->dir);
  if (s->st.warmup > 0 || s->st.uniform_weights || s->st.temperature_end > 0)
    printf("against early collapse: warm-up %d epoch%s (pi frozen), %s weight gradients, temperature %g -> %g\n",
           s->st.warmup, s->st.warmup == 1 ? "" : "s", s->st.uniform_weights ? "uniform" : "importance-weighted",
           s->st.temperature, s->st.temperature_end > 0 ? s->st.temperature_end : s->st.temperature);
  if (s->o->resume) printf("resuming at epoch %d, step %d\n", s->epoch + 1, s->step + 1);
  fflush(stdout);
}

static void say_end(search *s, int rc) {
  if (rc == ERR_INTERRUPTED)
    printf("interrupted: checkpoint written at epoch %d, step %d; continue with: parsec-run search --resume --out %s\n",
           s->epoch + 1, s->step + 1, s->dir);
  if (rc != 0) return;
  gt_genotype mode;
  rt_dist_mode(&s->d, &mode);
  char *t = gt_to_text(&s->sp, &mode);
  printf("search finished: entropy %.2f; the mode genotype is in %s/genotype.txt:\n%s\n"
         "outputs: log.jsonl, distribution.json, genotype.txt, cells.dot, checkpoint.bin in %s/\n",
         rt_dist_entropy(&s->d), s->dir, t ? t : "", s->dir);
  free(t);
}

int rt_search_run(const rt_search_opts *o, err_t *e) {
  search *s = calloc(1, sizeof *s);
  if (!s) return err_set(e, "out of memory"), ERR_FAILED;
  s->o = o;
  int rc = setup(s, e) == 0 ? 0 : err_status(e);
  if (rc == 0) {
    if (!o->quiet) say_start(s);
    rt_job_begin(&s->job, "search", s->dir, o->progress, o->quiet, "children/s");
    rc = run_epochs(s, e);
    rt_job_end(&s->job);
    if (!o->quiet) say_end(s, rc);
  }
  teardown(s);
  free(s);
  return rc;
}
