/* A search: the settings resolved from the recipe and the command line,
 * the data and its train/search split, Algorithm 1 of the paper step by
 * step, and the run's loop over epochs (its files: rt_search_files.c). */
#include "rt_search_state.h"
#include "rt_loader.h"
#include "rt_device.h"
#include "sp_json.h"
#include "version.h"

#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------- settings ---------- */

/* The space's recipe (its transfer recipe for a transfer search, paper
 * section 4.2), then every option given on the command line. */
static void resolve(search *s) {
  const sp_search *r = &s->sp.search;
  settings *st = &s->st;
  snprintf(st->data, sizeof st->data, "%s", r->data);
  snprintf(st->augment, sizeof st->augment, "%s", r->augment);
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
  rt_fields_apply(rt_search_fields, rt_search_nfields, st, s->o);
}

/* ---------- data ---------- */

static int load_data(search *s, err_t *e) {
  if (rt_data_open(&s->data, s->st.data, RT_SPLIT_TRAIN, e) != 0) return -1;
  const sp_net *n = s->net;
  rt_data_fit(&s->data, n->input_channels, n->input_size); /* an image folder takes the network's shape */
  if (s->data.c != n->input_channels || s->data.h != n->input_size || s->data.w != n->input_size)
    return err_set(e,
                   "%s holds %dx%dx%d images, but the space '%s' expects %dx%dx%d (network.input): give matching "
                   "data with --data or a space for this data",
                   s->st.data, s->data.c, s->data.h, s->data.w, s->sp.name, n->input_channels, n->input_size,
                   n->input_size);
  if (s->data.classes > n->classes)
    return err_set(e, "%s has labels up to %d, but the space '%s' has %d classes (network.classes)", s->st.data,
                   s->data.classes - 1, s->sp.name, n->classes);
  rt_data_limit(&s->data, s->st.limit);
  if (s->data.n < 4)
    return err_set(e, "%s: %d images are too few to split into train and search sets", s->st.data, s->data.n);
  if (rt_data_norm(&s->data, s->st.mean, s->st.std, s->mean, s->std, e) != 0) return -1;
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
  if (rt_augment_for(s->st.augment, s->st.data, n->input_size, &s->aug, e) != 0 ||
      rt_data_check_augment(&s->data, &s->aug, e) != 0 || rt_loader_open(&s->loader, s->o->threads, s->b->target == CG_TARGET_CUDA, e) != 0)
    return -1;
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

#define BN_MOMENTUM 0.1f /* of the running statistics, as PyTorch's */

/* ---------- several ranks ---------- */

/* This rank's share of the K children: a contiguous block (R <= K). */
static void split_children(search *s) {
  const long K = s->st.samples, R = s->comm.size, r = s->comm.rank;
  s->k0 = (int)(K * r / R);
  s->k1 = (int)(K * (r + 1) / R);
}

/* Counts, per running-statistic element, the updates a training plan of
   this rank makes (its BN steps that take a momentum). */
static void count_stat_updates(search *s, const pl_plan *p) {
  for (int i = 0; i < p->nsteps; i++) {
    const pl_step *st = &p->steps[i];
    int bn = 0;
    for (int a = 0; a < st->nargs; a++) bn |= st->args[a].kind == PA_BN_MOMENTUM;
    for (int a = 0; a < st->nargs && bn; a++) {
      const pl_arg *g = &st->args[a];
      if (g->kind != PA_REF || g->ref.space != PR_STAT || g->ref.off < 0 || (size_t)g->ref.off >= s->lay.nstats)
        continue;
      for (size_t j = 0; j < s->stat_len[g->ref.off]; j++) s->stat_count[(size_t)g->ref.off + j] += 1;
    }
  }
}

/* Every rank runs the same binary on the same settings, space and data. */
static int same_setup(search *s, err_t *e) {
  uint64_t h = rt_comm_hash(RT_COMM_HASH0, &s->st, sizeof s->st);
  h = rt_comm_hash(h, PARSEC_VERSION, sizeof PARSEC_VERSION);
  const uint64_t sizes[4] = {s->lay.nparams, s->lay.nstats, (uint64_t)s->data.n, (uint64_t)s->b->elem};
  h = rt_comm_hash(rt_comm_hash(h, sizes, sizeof sizes), s->mean, sizeof s->mean);
  return rt_comm_same(&s->comm, h,
                      "was started with other settings, space, data or parsec-run than rank 0: every rank must run "
                      "the same parsec-run " PARSEC_VERSION " with the same options",
                      1, e);
}

/* pi and the weights are the same on every rank (they are computed the same
   way from the same sums); a difference means the ranks diverged. */
static int same_state(search *s, err_t *e) {
  if (s->comm.size == 1) return 0;
  uint64_t h = rt_comm_hash(RT_COMM_HASH0, s->d.logits, sizeof(double) * (size_t)s->d.total);
  int rc = rt_model_hash_params(&s->m, &h, e);
  if (rc == 0) rc = rt_comm_same(&s->comm, h, "holds other weights or another pi than rank 0: the ranks diverged", 0, e);
  if (rc != 0) err_append(e, " (after epoch %d)", s->epoch + 1);
  return rc;
}

/* Before a step's training passes on several ranks: the running statistics
   saved in XFER and zeroed, so that this rank's children leave their share
   there. */
static int stats_before(search *s, err_t *e) {
  size_t ns = s->lay.nstats;
  memset(s->stat_count, 0, sizeof(float) * ns);
  float *r0 = s->xfer;
  return rt_model_get(&s->m, r0, s->m.stats, ns * 4, e) || s->b->zero(s->b, s->m.stats, ns * 4, e) ? -1 : 0;
}

/* After them: every rank's share combined as one rank would have applied
   them in turn.  An update is r = (1 - m) r + m x, so the n updates of a
   rank from r = 0 leave B, and from r they leave (1 - m)^n r + B: the
   ranks' (B, n), in rank order (the children's order), give one rank's
   result up to rounding. */
static int stats_after(search *s, err_t *e) {
  const size_t ns = s->lay.nstats, R = (size_t)s->comm.size;
  float *r0 = s->xfer, *mine = r0 + ns, *all = mine + 2 * ns;
  if (rt_model_get(&s->m, mine, s->m.stats, ns * 4, e) != 0) return -1;
  memcpy(mine + ns, s->stat_count, sizeof(float) * ns);
  if (rt_comm_gather_f32(&s->comm, mine, 2 * ns, all, e) != 0) return -1;
  const double keep = 1 - (double)BN_MOMENTUM;
  for (size_t j = 0; j < ns; j++) {
    double r = r0[j];
    for (size_t q = 0; q < R; q++) r = pow(keep, all[q * 2 * ns + ns + j]) * r + all[q * 2 * ns + j];
    r0[j] = (float)r;
  }
  return s->b->upload(s->b, s->m.stats, r0, ns * 4, e);
}

/* After the training passes: the ranks' gradients summed, their touched
   tensors joined, their running statistics combined. */
static int join_ranks(search *s, err_t *e) {
  return rt_model_join(&s->m, &s->comm, e) || stats_after(s, e) ? -1 : 0;
}

/* The buffers several ranks need, and the check that they can share K. */
static int ranks_setup(search *s, err_t *e) {
  split_children(s);
  if (s->comm.size == 1) return 0;
  if (s->comm.size > s->st.samples)
    return err_set_code(e, ERR_USAGE,
                        "%d ranks for K = %d children a step: a rank trains whole children, so give at most %d ranks "
                        "(mpirun -np) or more --samples",
                        s->comm.size, s->st.samples, s->st.samples);
  if (s->b->elem != 4) return err_set(e, "several ranks need the float32 backends");
  /* the statistics before the step, this rank's (B, n), every rank's */
  size_t ns = s->lay.nstats, need = (3 + 2 * (size_t)s->comm.size) * ns;
  s->xfer = malloc(sizeof(float) * need + 4);
  s->stat_count = malloc(sizeof(float) * ns + 4);
  s->stat_len = calloc(ns + 1, sizeof *s->stat_len);
  s->rank_peak = calloc((size_t)s->comm.size, sizeof *s->rank_peak);
  if (!s->xfer || !s->stat_count || !s->stat_len || !s->rank_peak) return err_set(e, "out of memory");
  for (int t = 0; t < s->lay.n; t++) /* a statistic's length at its first element */
    if (s->lay.t[t].kind == NW_STAT) s->stat_len[s->lay.t[t].offset] = s->lay.t[t].numel;
  return same_setup(s, e) || rt_backend_join(s->b, &s->comm, e) ? -1 : 0;
}

/* ---------- running plans ---------- */

/* Stages batch IDX[0..n), then starts preparing NEXT[0..nn) (if any), the
   batch staged after it (augmented alike), while the children compute. */
static void stage(search *s, const int *idx, int n, const rt_augment *aug, const int *next, int nn) {
  rng_t *rng = aug ? &s->aug_rng : NULL;
  rt_loader_batch(s->loader, &s->data, idx, n, s->mean, s->std, aug, rng, s->run.himg, s->b->elem, s->run.hlab);
  if (next && nn > 0) rt_loader_ahead(s->loader, &s->data, next, nn, aug, rng);
}

/* Builds child G's plan of MODE and queues it on the staged batch of N
   (training plans mark the tensors they touch); results in slot K. */
static int queue_child(search *s, const gt_genotype *g, pl_mode mode, int n, float loss_scale, int k, err_t *e) {
  pl_plan p;
  if (pl_build_child(&p, &s->sp, s->net, &s->lay, g, mode, e) != 0) return -1;
  int rc = rt_runner_submit(&s->run, &p, n, loss_scale, mode == PL_TRAIN ? BN_MOMENTUM : 0, k, e);
  if (rc == 0 && mode == PL_TRAIN) rt_model_touch(&s->m, &p);
  if (rc == 0 && mode == PL_TRAIN && s->comm.size > 1) count_stat_updates(s, &p);
  pl_free(&p);
  if (rc != 0) rt_runner_wait(&s->run, NULL); /* nothing stays queued behind an error */
  return rc;
}

/* Importance weights W of the K children on the search batch: forward
 * only, batch statistics, running statistics untouched; the K plans are
 * queued together (a GPU runs one while the next is built). */
static int importance_weights(search *s, const gt_genotype *g, int K, const int *sidx, int sn, const int *tidx, int tn,
                              double *w, size_t *peak, err_t *e) {
  double logw[MAXK] = {0};
  stage(s, sidx, sn, &s->aug, tidx, tn); /* the train batch follows */
  for (int k = s->k0; k < s->k1; k++)
    if (queue_child(s, &g[k], PL_FORWARD, sn, 0, k, e) != 0) return -1;
  if (rt_runner_wait(&s->run, e) != 0) return -1;
  for (int k = s->k0; k < s->k1; k++) {
    logw[k] = s->run.results[k].loglik;
    if (s->run.results[k].arena_bytes > *peak) *peak = s->run.results[k].arena_bytes;
  }
  /* on several ranks, each holds its children's: the sum gives all K */
  if (rt_comm_sum(&s->comm, logw, K, e) != 0) return -1;
  rt_softmax(logw, K, rt_search_temperature(&s->st, s->epoch), w);
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
static int search_step(search *s, const int *tidx, int tn, const int *sidx, int sn, const int *next, int nn, double lr,
                       err_t *e) {
  int K = s->st.samples, warm = s->epoch < s->st.warmup;
  gt_genotype g[MAXK];
  double w[MAXK], gw[MAXK]; /* weights for pi's gradient, and for the weights' */
  for (int k = 0; k < K; k++) rt_dist_sample(&s->d, &s->sample_rng, &g[k]);
  size_t peak = 0, alone = 0;
  if (!warm && importance_weights(s, g, K, sidx, sn, tidx, tn, w, &peak, e) != 0) return -1;
  for (int k = 0; k < K; k++) gw[k] = warm || s->st.uniform_weights ? 1.0 / K : w[k];
  /* weighted gradients on the train batch (the auxiliary head's loss, in a
     transfer search, joins the gradients, not the weights) */
  stage(s, tidx, tn, &s->aug, next, nn);
  if (rt_model_zero_grads(&s->m, e) != 0) return -1;
  if (s->comm.size > 1 && stats_before(s, e) != 0) return -1;
  double sums[2] = {0, 0}; /* loss, accuracy */
  for (int k = s->k0; k < s->k1; k++)
    if (queue_child(s, &g[k], PL_TRAIN, tn, (float)(gw[k] / tn), k, e) != 0) return -1;
  if (rt_runner_wait(&s->run, e) != 0) return -1;
  for (int k = s->k0; k < s->k1; k++) {
    const rt_result r = s->run.results[k];
    sums[0] += gw[k] * (-r.loglik / tn);
    sums[1] += gw[k] * (r.correct / tn);
    if (r.arena_bytes > peak) peak = r.arena_bytes;
    if (r.arena_bytes > alone) alone = r.arena_bytes;
  }
  if (s->comm.size > 1 && (join_ranks(s, e) != 0 || rt_comm_sum(&s->comm, sums, 2, e) != 0)) return -1;
  const double loss = sums[0], acc = sums[1];
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
    int n = s->nsearch - at < s->st.batch ? s->nsearch - at : s->st.batch, nat = at + s->st.batch;
    int nn = s->nsearch - nat < s->st.batch ? s->nsearch - nat : s->st.batch;
    stage(s, s->search_idx + at, n, NULL, s->search_idx + nat, nn);
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

/* ---------- the run ---------- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cosine_lr(const settings *st, int epoch) {
  return st->lr_min + 0.5 * (st->lr - st->lr_min) * (1 + cos(M_PI * epoch / st->epochs));
}

static int setup(search *s, err_t *e) {
  const rt_search_opts *o = s->o;
  rt_ckpt ck = {0};
  cJSON *hdr = NULL;
  /* before any work: a bad --out fails now; rank 0 alone writes the run */
  if (s->comm.rank == 0 && rt_rundir_claim(&s->rd, o->out, o->resume, e) != 0) return -1;
  snprintf(s->dir, sizeof s->dir, "%s", s->comm.rank == 0 ? s->rd.dir : o->out);
  if (o->resume) {
    if (rt_search_load_checkpoint(s, &ck, &hdr, e) != 0 || rt_search_same_run(s, e) != 0) goto fail;
    if (o->epochs >= 0) s->st.epochs = o->epochs; /* a resumed run may be given more epochs */
  } else {
    if (sp_open(&s->sp, o->space, e) != 0) goto fail;
    resolve(s);
  }
  if (s->st.image_size > 0) /* every network of the space, as recorded with the run */
    s->sp.net.input_size = s->sp.eval_net.input_size = s->sp.transfer_net.input_size = s->st.image_size;
  s->net = s->st.init_from[0] ? &s->sp.transfer_net : &s->sp.net;
  if (s->st.samples < 1 || s->st.samples > MAXK) {
    err_set(e, "--samples %d is out of range (1..%d)", s->st.samples, MAXK);
    goto fail;
  }
  if (s->st.warmup >= s->st.epochs) {
    err_set_code(e, ERR_USAGE,
                 "a warm-up of %d epochs leaves none of the %d to learn pi in: give fewer --warmup epochs",
                 s->st.warmup, s->st.epochs);
    goto fail;
  }
  if (s->st.batch < 1 || s->st.batch > 4096) {
    err_set(e, "--batch %d is out of range (1..4096)", s->st.batch);
    goto fail;
  }
  if (nw_search_layout(&s->lay, &s->sp, s->net, e) != 0) goto fail;
  /* a rank's GPU: its rank among the ranks on its machine */
  if (rt_device_open_at(&s->b, o->device, s->comm.local_rank, o->threads, !o->quiet, e) != 0) goto fail;
  if (rt_model_init(&s->m, s->b, &s->lay, (uint64_t)s->st.seed, e) != 0) goto fail;
  if (rt_dist_init(&s->d, &s->sp, s->b, s->st.beta1, s->st.beta2, e) != 0) goto fail;
  rng_seed(&s->sample_rng, (uint64_t)s->st.seed * 2 + 11);
  rng_seed(&s->aug_rng, (uint64_t)s->st.seed * 2 + 12);
  if (s->st.init_from[0] && !o->resume) {
    char path[4200];
    snprintf(path, sizeof path, "%s/distribution.json", s->st.init_from);
    if (rt_dist_load_json(&s->d, path, e) != 0) goto fail;
  }
  if (load_data(s, e) != 0 || ranks_setup(s, e) != 0) goto fail;
  if (o->resume && rt_search_restore_state(s, &ck, hdr, e) != 0) goto fail;
  if (s->comm.rank == 0 && (o->resume ? rt_search_resume_record(s, e) : rt_search_start_record(s, e))) goto fail;
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
  rt_loader_close(s->loader);
  s->loader = NULL;
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
  free(s->xfer);
  free(s->stat_count);
  free(s->stat_len);
  free(s->rank_peak);
  rt_rundir_release(&s->rd);
}

/* The step at s->step of the current epoch: its batches, Algorithm 1, the
 * epoch's sums. */
/* Step STEP's train batch (*TN images at TORDER + *TAT) and search batch */
static void step_batches(const search *s, int step, int *tat, int *tn, int *sat, int *sn) {
  *tat = step * s->st.batch;
  *tn = s->ntrain - *tat < s->st.batch ? s->ntrain - *tat : s->st.batch;
  /* the search split is walked alongside, wrapping if it is the shorter */
  *sat = (int)(((long)step * s->st.batch) % s->nsearch);
  *sn = s->nsearch - *sat < s->st.batch ? s->nsearch - *sat : s->st.batch;
  if (*sn > *tn) *sn = *tn;
}

static int run_step(search *s, const int *torder, const int *sorder, double lr, err_t *e) {
  int at, tn, sat, sn, nat, ntn, nsat, nsn;
  step_batches(s, s->step, &at, &tn, &sat, &sn);
  /* the batch the next step stages first, prepared while this one computes */
  const int *next = NULL;
  int nn = 0;
  if (s->step + 1 < rt_search_steps(s)) {
    step_batches(s, s->step + 1, &nat, &ntn, &nsat, &nsn);
    int warm = s->epoch < s->st.warmup;
    next = warm ? torder + nat : sorder + nsat;
    nn = warm ? ntn : nsn;
  }
  double t0 = now_s();
  if (search_step(s, torder + at, tn, sorder + sat, sn, next, nn, lr, e) != 0) return -1;
  s->wall += now_s() - t0;
  s->steps_done++;
  return 0;
}

/* The end of an epoch: the mode on the search split, the log line, the
 * outputs, and the checkpoint of the next epoch's start. */
static int end_epoch(search *s, double lr, err_t *e) {
  gt_genotype mode;
  rt_dist_mode(&s->d, &mode);
  if (rt_data_check_unreadable(&s->data, e) != 0 || same_state(s, e) != 0) return -1;
  if (s->comm.size > 1) { /* each rank's memory, for rank 0's log */
    const uint64_t mine = s->step_peak;
    if (rt_comm_gather_u64(&s->comm, &mine, 1, s->rank_peak, e) != 0) return -1;
  }
  if (s->comm.rank != 0) return 0; /* rank 0 evaluates and writes */
  double macc, mloss;
  if (evaluate_mode(s, &mode, &macc, &mloss, e) != 0 || rt_search_log_epoch(s, lr, &mode, macc, mloss, e) != 0 ||
      rt_search_write_outputs(s, &mode, e) != 0)
    return -1;
  return rt_search_save_checkpoint(s, s->epoch + 1, 0, e);
}

/* Epochs from the current position to the last; 0, ERR_INTERRUPTED, or a
 * failure's status. */
static int run_epochs(search *s, err_t *e) {
  int nsteps = rt_search_steps(s);
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
    s->comm_secs0 = s->comm.secs;
    while (rc == 0 && s->step < nsteps) {
      if (run_step(s, torder, sorder, lr, e) != 0) {
        rc = err_status(e);
        break;
      }
      s->step++;
      rt_job_step(&s->job, s->epoch, s->st.epochs, s->step, nsteps, s->wall / s->steps_done,
                  s->loss_sum / s->steps_done, s->children / (s->wall > 0 ? s->wall : 1));
      int stop = rt_job_stopping(&s->job); /* on several ranks: when any rank was told to */
      if (rt_comm_max(&s->comm, &stop, 1, e) != 0) {
        rc = err_status(e);
        break;
      }
      if (stop && s->step < nsteps) { /* at an epoch's end, its own checkpoint serves */
        rt_progress_clear(&s->job.prog);
        rc = s->comm.rank > 0 || rt_search_save_checkpoint(s, s->epoch, s->step, e) == 0 ? ERR_INTERRUPTED
                                                                                          : err_status(e);
      }
    }
    if (rc != 0) break;
    if (end_epoch(s, lr, e) != 0) {
      rc = err_status(e);
      break;
    }
    s->epoch++;
    s->step = 0;
    int stop = rt_job_stopping(&s->job);
    if (rt_comm_max(&s->comm, &stop, 1, e) != 0) rc = err_status(e);
    else if (stop) rc = ERR_INTERRUPTED;
  }
  free(torder);
  free(sorder);
  return rc;
}

static void say_start(const search *s) {
  printf(
      "parsec search: space '%s' on %s (%d images: %d train, %d search), %d epoch%s of %d steps, K = %d, "
      "batch %d, seed %d\n",
      s->sp.name, s->st.data, s->data.n, s->ntrain, s->nsearch, s->st.epochs, s->st.epochs == 1 ? "" : "s",
      rt_search_steps(s), s->st.samples, s->st.batch, s->st.seed);
  printf("device: %s; parameters %.2f M; outputs in %s/\n", s->b->device, (double)nw_param_count(&s->lay) / 1e6,
         s->dir);
  char data[1024];
  rt_data_describe(&s->data, &s->aug, data, sizeof data);
  printf("%s\n", data);
  if (s->st.warmup > 0 || s->st.uniform_weights || s->st.temperature_end > 0)
    printf("against early collapse: warm-up %d epoch%s (pi frozen), %s weight gradients, temperature %g -> %g\n",
           s->st.warmup, s->st.warmup == 1 ? "" : "s", s->st.uniform_weights ? "uniform" : "importance-weighted",
           s->st.temperature, s->st.temperature_end > 0 ? s->st.temperature_end : s->st.temperature);
  if (s->comm.size > 1)
    printf("%d ranks (MPI): each step's %d children split %d..%d per rank; rank 0 writes the run\n", s->comm.size,
           s->st.samples, s->st.samples / s->comm.size, (s->st.samples + s->comm.size - 1) / s->comm.size);
  if (s->comm.size > 1) printf("gradients summed by %s\n", s->b->sums);
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
  printf(
      "search finished: entropy %.2f; the mode genotype is in %s/genotype.txt:\n%s\n"
      "outputs: log.jsonl, distribution.json, genotype.txt, cells.dot, checkpoint.bin in %s/\n",
      rt_dist_entropy(&s->d), s->dir, t ? t : "", s->dir);
  free(t);
}

int rt_search_run(const rt_search_opts *o, err_t *e) {
  search *s = calloc(1, sizeof *s);
  if (!s) return err_set(e, "out of memory"), ERR_FAILED;
  if (rt_comm_open(&s->comm, e) != 0) {
    free(s);
    return err_status(e);
  }
  rt_search_opts quiet = *o; /* ranks after the first say nothing */
  quiet.quiet = 1;
  quiet.progress = 0;
  s->o = s->comm.rank == 0 ? o : &quiet;
  o = s->o;
  int rc = setup(s, e) == 0 ? 0 : err_status(e);
  if (rc == 0) {
    if (!o->quiet) say_start(s);
    rt_job_begin(&s->job, "search", s->dir, o->progress, o->quiet, "children/s");
    rc = run_epochs(s, e);
    rt_job_end(&s->job);
    if (!o->quiet) say_end(s, rc);
  }
  if (rc != 0 && s->comm.size > 1) err_prefix(e, "rank %d of %d", s->comm.rank, s->comm.size);
  teardown(s);
  free(s);
  return rc;
}
