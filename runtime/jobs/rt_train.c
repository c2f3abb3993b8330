#include "rt_train.h"
#include "rt_ckpt.h"
#include "rt_comm.h"
#include "rt_data.h"
#include "rt_loader.h"
#include "rt_device.h"
#include "io.h"
#include "rt_job.h"
#include "sha.h"
#include "rt_record.h"
#include "rt_rundir.h"
#include "rt_runner.h"
#include "rt_safetensors.h"
#include "sp_json.h"
#include "version.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the resolved settings of a training (what a checkpoint records); the
 * network's reductions travel beside them */
typedef struct {
  char data[RT_FIELD_STR_MAX], test_data[RT_FIELD_STR_MAX];
  int epochs, batch, cutout, limit, seed, auxiliary, cells, channels;
  double lr, lr_min, momentum, weight_decay, grad_clip, drop_path, aux_weight, label_smoothing;
  char augment[RT_FIELD_STR_MAX]; /* rt_augment.h's recipes; "": auto */
  int image_size;                 /* the network's input size; 0: the space's */
  char mean[RT_FIELD_STR_MAX], std[RT_FIELD_STR_MAX]; /* given normalisation; "": the data's */
  double lr_decay;                /* > 0: lr x lr_decay^epoch; 0: cosine to lr_min */
} tsettings;

#define SET(f) offsetof(tsettings, f)
#define OPT(f) offsetof(rt_train_opts, f)
static const rt_field fields[] = {
    {"data", RT_FIELD_STR, SET(data), OPT(data)},
    {"test_data", RT_FIELD_STR, SET(test_data), OPT(test_data)},
    {"epochs", RT_FIELD_INT, SET(epochs), OPT(epochs), 0, 1, 1000000},
    {"batch", RT_FIELD_INT, SET(batch), OPT(batch), 0, 1, 4096},
    {"cutout", RT_FIELD_INT, SET(cutout), OPT(cutout), 0, 0, 4096},
    {"limit", RT_FIELD_INT, SET(limit), OPT(limit), 0, 0, 2147483647},
    {"seed", RT_FIELD_INT, SET(seed), OPT(seed), 0, 0, 2147483647},
    {"auxiliary", RT_FIELD_INT, SET(auxiliary), OPT(auxiliary), 0, 0, 1, "--no-auxiliary"},
    {"cells", RT_FIELD_INT, SET(cells), RT_NO_OPTION, 0, 1, 64},
    {"channels", RT_FIELD_INT, SET(channels), OPT(channels), 0, 1, 4096},
    {"lr", RT_FIELD_NUM, SET(lr), OPT(lr), 0, 0, 1000},
    {"lr_min", RT_FIELD_NUM, SET(lr_min), RT_NO_OPTION, 0, 0, 1000},
    {"momentum", RT_FIELD_NUM, SET(momentum), RT_NO_OPTION, 0, 0, 1},
    {"weight_decay", RT_FIELD_NUM, SET(weight_decay), RT_NO_OPTION, 0, 0, 1000},
    {"grad_clip", RT_FIELD_NUM, SET(grad_clip), RT_NO_OPTION, 0, 0, 1000000000},
    {"drop_path", RT_FIELD_NUM, SET(drop_path), OPT(drop_path), 0, 0, 0.99},
    {"aux_weight", RT_FIELD_NUM, SET(aux_weight), RT_NO_OPTION, 0, 0, 1000000},
    {"label_smoothing", RT_FIELD_NUM, SET(label_smoothing), OPT(label_smoothing), 1, 0, 0.99},
    {"augment", RT_FIELD_STR, SET(augment), OPT(augment), 1},
    {"image_size", RT_FIELD_INT, SET(image_size), OPT(image_size), 1, 0, 4096},
    {"mean", RT_FIELD_STR, SET(mean), OPT(mean), 1},
    {"std", RT_FIELD_STR, SET(std), OPT(std), 1},
    {"lr_decay", RT_FIELD_NUM, SET(lr_decay), RT_NO_OPTION, 1, 0, 1},
};
#define NFIELDS ((int)(sizeof fields / sizeof fields[0]))

typedef struct {
  const rt_train_opts *o;
  tsettings st;
  sp_space sp;
  sp_net net;
  gt_genotype g;
  nw_layout lay;
  rt_backend *b;
  rt_model m;
  rt_runner run;
  rt_dataset train, test;
  rt_loader *loader; /* stages the next batch while a step computes */
  int has_test;
  float mean[8], std[8];
  rt_augment aug;
  rng_t data_rng, drop_rng;
  pl_plan ptrain, peval;
  rt_ckpt ck; /* a checkpoint being resumed */
  char gfrom[4200]; /* where the genotype came from: --run, a file, a built-in */
  int epoch;
  long batches;
  char dir[4096];
  rt_job job;
  rt_rundir rd; /* the run directory, locked while the training runs (rank 0) */
  /* several ranks (mpirun): each takes a slice of every batch */
  rt_comm comm;
} trainer;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---------- settings ---------- */

/* The network as the settings give it: the evaluation network with their
 * cells (more or fewer: DARTS's reduction rule), channels, auxiliary head
 * and drop path. */
static void shape_net(trainer *t) {
  const tsettings *st = &t->st;
  t->net = t->sp.eval_net;
  t->net.channels = st->channels;
  if (st->cells != t->sp.eval_net.cells) {
    t->net.cells = st->cells;
    t->net.nreductions = 0;
    int r1 = st->cells / 3, r2 = 2 * st->cells / 3;
    t->net.reductions[t->net.nreductions++] = r1;
    if (r2 != r1) t->net.reductions[t->net.nreductions++] = r2;
  }
  t->net.auxiliary = st->auxiliary;
  t->net.drop_path = st->drop_path;
  t->net.label_smoothing = st->label_smoothing;
  if (st->image_size > 0) t->net.input_size = st->image_size;
}

/* The space's training recipe, then every option given. */
static void resolve(trainer *t) {
  const rt_train_opts *o = t->o;
  const sp_train *r = &t->sp.train;
  tsettings *st = &t->st;
  snprintf(st->data, sizeof st->data, "%s", t->sp.search.data);
  snprintf(st->augment, sizeof st->augment, "%s", r->augment);
  st->test_data[0] = 0;
  st->epochs = r->epochs;
  st->batch = r->batch;
  st->cutout = r->cutout;
  st->limit = 0;
  st->seed = 0;
  st->auxiliary = t->sp.eval_net.auxiliary;
  st->cells = o->layers > 0 ? o->layers : t->sp.eval_net.cells;
  st->channels = t->sp.eval_net.channels;
  st->lr = r->lr;
  st->lr_min = r->lr_min;
  st->lr_decay = r->lr_decay;
  st->momentum = r->momentum;
  st->weight_decay = r->weight_decay;
  st->grad_clip = r->grad_clip;
  st->drop_path = t->sp.eval_net.drop_path;
  st->aux_weight = t->sp.eval_net.auxiliary_weight;
  st->label_smoothing = t->sp.eval_net.label_smoothing;
  rt_fields_apply(fields, NFIELDS, st, o);
  shape_net(t);
}

/* The settings and the network's reductions, for the checkpoint. */
static cJSON *settings_json(const trainer *t) {
  cJSON *j = rt_fields_json(fields, NFIELDS, &t->st);
  cJSON_AddItemToObject(j, "reductions", cJSON_CreateIntArray(t->net.reductions, t->net.nreductions));
  return j;
}

static int settings_from(trainer *t, const cJSON *j, const char *path, err_t *e) {
  if (rt_fields_read(fields, NFIELDS, &t->st, j, path, e) != 0) return -1;
  shape_net(t);
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reductions");
  int n = cJSON_GetArraySize(r);
  if (!cJSON_IsArray(r) || n > (int)(sizeof t->net.reductions / sizeof t->net.reductions[0])) return err_set(e, "%s: the checkpoint's reductions are damaged", path);
  t->net.nreductions = n;
  for (int i = 0; i < n; i++) {
    const cJSON *v = cJSON_GetArrayItem(r, i);
    if (!cJSON_IsNumber(v) || v->valueint < 0 || v->valueint >= t->net.cells)
      return err_set(e, "%s: the checkpoint's reductions are damaged", path);
    t->net.reductions[i] = v->valueint;
  }
  return 0;
}

/* ---------- checkpoints ---------- */

static int host_blocks(trainer *t, float **params, float **stats, float **mom, err_t *e) {
  size_t pb = t->lay.nparams * 4, sb = (t->lay.nstats ? t->lay.nstats : 1) * 4;
  *params = malloc(pb ? pb : 4);
  *stats = malloc(sb);
  if (mom) *mom = malloc(pb ? pb : 4);
  if (!*params || !*stats || (mom && !*mom)) return err_set(e, "out of memory");
  return rt_model_get(&t->m, *params, t->m.params, pb, e) || (t->lay.nstats && rt_model_get(&t->m, *stats, t->m.stats, sb, e)) ||
         (mom && rt_model_get(&t->m, *mom, t->m.mom, pb, e));
}

/* The checkpoint and the weights after EPOCHS finished epochs. */
static int save(trainer *t, int epochs, err_t *e) {
  float *params = NULL, *stats = NULL, *mom = NULL;
  int rc = host_blocks(t, &params, &stats, &mom, e);
  char path[4200];
  if (rc == 0) {
    char *gtext = gt_to_text(&t->sp, &t->g), *space = sp_to_json(&t->sp);
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "format", "parsec-checkpoint");
    cJSON_AddStringToObject(h, "kind", "train");
    cJSON_AddItemToObject(h, "space", cJSON_Parse(space ? space : "{}"));
    cJSON_AddStringToObject(h, "genotype", gtext ? gtext : "");
    cJSON_AddItemToObject(h, "settings", settings_json(t));
    cJSON_AddNumberToObject(h, "epoch", epochs);
    cJSON_AddNumberToObject(h, "batches", (double)t->batches);
    cJSON_AddNumberToObject(h, "log_bytes", (double)t->job.log_bytes);
    rng_to_json(h, "data_rng", &t->data_rng);
    rng_to_json(h, "drop_rng", &t->drop_rng);
    char *hs = cJSON_Print(h);
    cJSON_Delete(h);
    size_t pb = t->lay.nparams * 4, sb = t->lay.nstats * 4;
    rt_block bl[3] = {{"params", params, pb}, {"momentum", mom, pb}, {"bn_stats", stats, sb}};
    snprintf(path, sizeof path, "%s/checkpoint.bin", t->dir);
    rc = hs ? rt_ckpt_write(path, hs, bl, 3, e) : err_set(e, "out of memory");
    free(hs);
    free(gtext);
    free(space);
  }
  if (rc == 0) {
    char cells[32], chans[32], ep[32], size[32];
    snprintf(size, sizeof size, "%d", t->net.input_size);
    snprintf(cells, sizeof cells, "%d", t->net.cells);
    snprintf(chans, sizeof chans, "%d", t->net.channels);
    snprintf(ep, sizeof ep, "%d", epochs);
    char *gtext = gt_to_text(&t->sp, &t->g);
    /* the input normalisation travels with the weights: an export needs it */
    char mean[256] = "", std[256] = "", red[128] = "";
    for (int c = 0; c < t->train.c && c < 8; c++) {
      snprintf(mean + strlen(mean), sizeof mean - strlen(mean), "%s%.9g", c ? "," : "", t->mean[c]);
      snprintf(std + strlen(std), sizeof std - strlen(std), "%s%.9g", c ? "," : "", t->std[c]);
    }
    for (int i = 0; i < t->net.nreductions; i++)
      snprintf(red + strlen(red), sizeof red - strlen(red), "%s%d", i ? "," : "", t->net.reductions[i]);
    const char *meta[] = {"format", "pt", "genotype", gtext ? gtext : "", "layers", cells, "init_channels", chans,
                          "epochs_trained", ep, "space", t->sp.name, "input_mean", mean, "input_std", std,
                          "reductions", red, "input_size", size};
    snprintf(path, sizeof path, "%s/weights.safetensors", t->dir);
    rc = rt_safetensors_write(path, &t->lay, params, stats, t->batches, meta, 10, e);
    free(gtext);
  }
  free(params);
  free(stats);
  free(mom);
  return rc;
}

/* Reads RUN/checkpoint.bin: the space, genotype and settings now; its
 * blocks wait in t->ck until the model exists (load_blocks). */
static int restore(trainer *t, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.bin", t->dir);
  if (rt_ckpt_read(path, &t->ck, e) != 0) return -1;
  cJSON *h = cJSON_Parse(t->ck.header);
  int rc = 0;
  const cJSON *kind = h ? cJSON_GetObjectItemCaseSensitive(h, "kind") : NULL;
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "train") != 0) {
    cJSON_Delete(h);
    return err_set(e, "%s: not a training checkpoint (a search run? continue it with parsec-run search --resume)",
                   path);
  }
  char *space = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(h, "space"));
  rc = space ? sp_from_json(&t->sp, space, path, e) : err_set(e, "out of memory");
  free(space);
  const cJSON *gt = cJSON_GetObjectItemCaseSensitive(h, "genotype");
  if (rc == 0) rc = cJSON_IsString(gt) ? gt_parse(&t->sp, gt->valuestring, &t->g, path, e) : err_set(e, "%s: no genotype", path);
  if (rc == 0) rc = settings_from(t, cJSON_GetObjectItemCaseSensitive(h, "settings"), path, e);
  /* the position, each number in its range */
  double ep = 0, ba = 0, lb = -1;
  if (rc == 0)
    rc = rt_ckpt_number(h, "epoch", 0, t->st.epochs, &ep, path, e) || rt_ckpt_number(h, "batches", 0, 1e15, &ba, path, e) ||
         (cJSON_GetObjectItemCaseSensitive(h, "log_bytes") && rt_ckpt_number(h, "log_bytes", 0, 1e15, &lb, path, e));
  if (rc == 0) {
    t->epoch = (int)ep;
    t->batches = (long)ba;
    /* log lines after the checkpoint go: the resumed run writes them again */
    rc = (lb >= 0 && rt_rundir_trim_log(t->dir, (long long)lb, e)) || rng_from_json(h, "data_rng", &t->data_rng, e) ||
         rng_from_json(h, "drop_rng", &t->drop_rng, e);
  }
  cJSON_Delete(h);
  return rc;
}

static int load_blocks(trainer *t, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.bin", t->dir);
  size_t pb = t->lay.nparams * 4, sb = t->lay.nstats * 4;
  const void *params = rt_ckpt_block(&t->ck, "params", pb, path, e);
  const void *mom = params ? rt_ckpt_block(&t->ck, "momentum", pb, path, e) : NULL;
  const void *stats = mom ? rt_ckpt_block(&t->ck, "bn_stats", sb, path, e) : NULL;
  if (!stats) return -1;
  return t->b->upload(t->b, t->m.params, params, pb, e) || t->b->upload(t->b, t->m.mom, mom, pb, e) ||
         (sb && t->b->upload(t->b, t->m.stats, stats, sb, e));
}

/* ---------- setup ---------- */

static int load_data(trainer *t, err_t *e) {
  if (rt_data_open(&t->train, t->st.data, RT_SPLIT_TRAIN, e) != 0) return -1;
  const sp_net *n = &t->net;
  rt_data_fit(&t->train, n->input_channels, n->input_size); /* an image folder takes the network's shape */
  if (t->train.c != n->input_channels || t->train.h != n->input_size || t->train.w != n->input_size)
    return err_set(e, "%s holds %dx%dx%d images, but the space '%s' expects %dx%dx%d", t->st.data, t->train.c,
                   t->train.h, t->train.w, t->sp.name, n->input_channels, n->input_size, n->input_size);
  if (t->train.classes > n->classes)
    return err_set(e, "%s has labels up to %d, but the space '%s' has %d classes", t->st.data, t->train.classes - 1,
                   t->sp.name, n->classes);
  rt_data_limit(&t->train, t->st.limit);
  if (rt_data_norm(&t->train, t->st.mean, t->st.std, t->mean, t->std, e) != 0) return -1;
  /* the test set: --test-data, else the data set's own test split if it has one */
  const char *test = t->st.test_data[0] ? t->st.test_data : NULL;
  if (test) {
    if (rt_data_open(&t->test, test, RT_SPLIT_TRAIN, e) != 0) return -1;
    t->has_test = 1;
  } else if (rt_data_has_test(t->st.data)) {
    if (rt_data_open(&t->test, t->st.data, RT_SPLIT_TEST, e) != 0) return -1;
    t->has_test = 1;
  }
  rt_data_fit(&t->test, n->input_channels, n->input_size);
  if (t->has_test && (t->test.c != t->train.c || t->test.h != t->train.h || t->test.w != t->train.w))
    return err_set(e, "the test images (%dx%dx%d) differ from the training images (%dx%dx%d)", t->test.c, t->test.h,
                   t->test.w, t->train.c, t->train.h, t->train.w);
  if (t->has_test && t->test.classes > n->classes) /* the loss would read past the logits */
    return err_set(e, "%s has labels up to %d, but the space '%s' has %d classes", test ? test : t->st.data,
                   t->test.classes - 1, t->sp.name, n->classes);
  if (t->has_test && t->st.limit > 0) rt_data_limit(&t->test, t->st.limit);
  if (rt_augment_for(t->st.augment, t->st.data, n->input_size, &t->aug, e) != 0 ||
      rt_data_check_augment(&t->train, &t->aug, e) != 0 || rt_loader_open(&t->loader, t->o->threads, t->b->target == CG_TARGET_CUDA, e) != 0)
    return -1;
  if (t->has_test) rt_data_fit_test(&t->test, n->input_channels, n->input_size, &t->aug);
  t->aug.cutout = t->st.cutout;
  if (rt_runner_init(&t->run, t->b, &t->m, t->st.batch, (long)n->input_channels * n->input_size * n->input_size, 1,
                     e) != 0)
    return -1;
  rt_runner_use_graphs(&t->run, !t->o->no_graphs); /* the same two plans, every step */
  return 0;
}

/* The genotype the options name (--genotype G, else RUN's mode) into G. */
static int named_genotype(trainer *t, gt_genotype *g, err_t *e) {
  const rt_train_opts *o = t->o;
  if (o->genotype) return gt_resolve(&t->sp, o->genotype, g, t->gfrom, sizeof t->gfrom, e);
  char path[4200];
  snprintf(path, sizeof path, "%s/genotype.txt", o->run);
  snprintf(t->gfrom, sizeof t->gfrom, "the mode of %s", o->run);
  return rt_rundir_genotype(&t->sp, path, g, e);
}

/* --resume with the command line the training was started with: each
 * option given must agree with the run's; --epochs may grow. */
static int same_run(trainer *t, err_t *e) {
  const rt_train_opts *o = t->o;
  if (rt_fields_match(fields, NFIELDS, &t->st, o, "epochs,", t->dir, e) != 0) return -1;
  if (o->layers > 0 && o->layers != t->st.cells)
    return err_set_code(e, ERR_USAGE, "--resume: --layers is %d in %s, and %d here: a resumed run keeps the settings "
                                      "it was started with; drop --layers or give the run's value",
                        t->st.cells, t->dir, o->layers);
  if (o->space) {
    sp_space given;
    char a[SHA256_HEX], b[SHA256_HEX];
    if (sp_open(&given, o->space, e) != 0) return -1;
    int same = sp_ir_sha256(&given, a) == 0 && sp_ir_sha256(&t->sp, b) == 0 && strcmp(a, b) == 0;
    sp_free(&given);
    if (!same) return err_set_code(e, ERR_USAGE, "--resume: %s is not the space %s was trained in", o->space, t->dir);
  }
  gt_genotype g;
  if ((o->run || o->genotype) && named_genotype(t, &g, e) != 0) return -1;
  if ((o->run || o->genotype) && !gt_equal(&g, &t->g))
    return err_set_code(e, ERR_USAGE, "--resume: %s is not the genotype %s trains (see its genotype.txt)", t->gfrom,
                        t->dir);
  return 0;
}

/* config.json: the settings, the data, the genotype and where it came from. */
static int start_record(trainer *t, err_t *e) {
  cJSON *data = cJSON_CreateObject();
  cJSON_AddStringToObject(data, "spec", t->st.data);
  cJSON_AddNumberToObject(data, "train_images", t->train.n);
  if (t->has_test) cJSON_AddNumberToObject(data, "test_images", t->test.n);
  cJSON_AddStringToObject(data, "test_spec", t->st.test_data);
  int shape[3] = {t->train.c, t->train.h, t->train.w};
  cJSON_AddItemToObject(data, "image_shape", cJSON_CreateIntArray(shape, 3));
  cJSON_AddNumberToObject(data, "classes", t->train.classes);
  cJSON *extra = cJSON_CreateObject();
  char *gtext = gt_to_text(&t->sp, &t->g);
  cJSON_AddStringToObject(extra, "genotype", gtext ? gtext : "");
  free(gtext);
  cJSON_AddStringToObject(extra, "genotype_from", t->gfrom);
  cJSON_AddNumberToObject(extra, "parameters", (double)nw_param_count_main(&t->lay));
  cJSON_AddNumberToObject(extra, "parameters_with_auxiliary", (double)nw_param_count(&t->lay));
  rt_record r = {"train", t->o->argc, t->o->argv, &t->sp, settings_json(t), data, t->b->device, extra};
  return rt_record_start(t->dir, &r, e) || rt_data_write_classes(&t->train, t->dir, e) ? -1 : 0;
}

/* Several ranks: every rank runs the same binary on the same settings and
   data, and there is at least an image a rank in every full batch. */
static int ranks_setup(trainer *t, err_t *e) {
  if (t->comm.size == 1) return 0;
  if (t->comm.size > t->st.batch)
    return err_set_code(e, ERR_USAGE, "%d ranks for batches of %d: give at most %d ranks (mpirun -np) or a larger --batch",
                        t->comm.size, t->st.batch, t->st.batch);
  if (t->b->elem != 4) return err_set(e, "several ranks need the float32 backends");
  uint64_t h = rt_comm_hash(RT_COMM_HASH0, &t->st, sizeof t->st);
  const uint64_t sizes[4] = {t->lay.nparams, (uint64_t)t->train.n, (uint64_t)t->epoch, (uint64_t)t->b->elem};
  h = rt_comm_hash(rt_comm_hash(rt_comm_hash(h, sizes, sizeof sizes), &t->g, sizeof t->g), PARSEC_VERSION,
                   sizeof PARSEC_VERSION);
  return rt_comm_same(&t->comm, h,
                      "was started with other settings, genotype, data or parsec-run than rank 0: every rank must run "
                      "the same parsec-run " PARSEC_VERSION " with the same options",
                      1, e) ||
                 rt_backend_join(t->b, &t->comm, e)
             ? -1
             : 0;
}

static int setup(trainer *t, err_t *e) {
  const rt_train_opts *o = t->o;
  /* before any work: a bad --out fails now; rank 0 alone writes the run */
  if (t->comm.rank == 0 && rt_rundir_claim(&t->rd, o->out, o->resume, e) != 0) return -1;
  snprintf(t->dir, sizeof t->dir, "%s", t->comm.rank == 0 ? t->rd.dir : o->out);
  if (o->resume) {
    if (restore(t, e) != 0 || same_run(t, e) != 0) return -1;
    if (o->epochs > 0) t->st.epochs = o->epochs;
  } else {
    int rc = o->run ? rt_rundir_space(o->run, "search", "search", NULL, &t->sp, e)
                    : sp_open(&t->sp, o->space ? o->space : "darts", e);
    if (rc != 0 || named_genotype(t, &t->g, e) != 0) return -1;
    resolve(t);
    rng_seed(&t->data_rng, (uint64_t)t->st.seed * 3 + 21);
    rng_seed(&t->drop_rng, (uint64_t)t->st.seed * 3 + 22);
  }
  if (t->st.batch < 1 || t->st.batch > 4096) return err_set(e, "--batch %d is out of range (1..4096)", t->st.batch);
  if (sp_validate_net(&t->sp, &t->net, "evaluation network", e) != 0) return -1;
  if (nw_eval_layout(&t->lay, &t->sp, &t->net, &t->g, e) != 0) return -1;
  /* a rank's GPU: its rank among the ranks on its machine */
  if (rt_device_open_at(&t->b, o->device, t->comm.local_rank, o->threads, !o->quiet, e) != 0) return -1;
  if (rt_model_init(&t->m, t->b, &t->lay, (uint64_t)t->st.seed, e) != 0) return -1;
  if (o->resume && load_blocks(t, e) != 0) return -1;
  if (pl_build_eval(&t->ptrain, &t->sp, &t->net, &t->lay, &t->g, PL_TRAIN, t->st.drop_path > 0,
                    t->st.auxiliary ? (float)t->st.aux_weight : 0, e) != 0 ||
      pl_build_eval(&t->peval, &t->sp, &t->net, &t->lay, &t->g, PL_EVAL, 0, 0, e) != 0)
    return -1;
  if (load_data(t, e) != 0 || ranks_setup(t, e) != 0) return -1;
  if (t->comm.rank > 0) return 0;
  return o->resume ? rt_record_resumed(t->dir, o->argc, o->argv, t->epoch, e) : start_record(t, e);
}

static void teardown(trainer *t) {
  rt_runner_free(&t->run);
  if (t->b) {
    rt_model_free(&t->m);
    rt_backend_close(t->b);
  }
  pl_free(&t->ptrain);
  pl_free(&t->peval);
  nw_free(&t->lay);
  rt_loader_close(t->loader);
  t->loader = NULL;
  rt_data_free(&t->train);
  rt_data_free(&t->test);
  rt_ckpt_free(&t->ck);
  sp_free(&t->sp);
  rt_rundir_release(&t->rd);
}

/* ---------- epochs ---------- */

static int evaluate(trainer *t, double *acc, double *loss, err_t *e) {
  int B = t->st.batch, n = t->test.n;
  int *idx = malloc(sizeof *idx * (size_t)B * 2);
  if (!idx) return err_set(e, "out of memory");
  double correct = 0, ll = 0;
  int rc = 0;
  for (int at = 0; at < n && rc == 0; at += B) {
    int m = n - at < B ? n - at : B;
    for (int i = 0; i < m; i++) idx[i] = at + i;
    rt_loader_batch(t->loader, &t->test, idx, m, t->mean, t->std, NULL, NULL, t->run.himg, t->b->elem, t->run.hlab);
    int nm = n - at - B < B ? n - at - B : B; /* the next batch, prepared while this one runs */
    for (int i = 0; i < nm; i++) idx[B + i] = at + B + i;
    if (nm > 0) rt_loader_ahead(t->loader, &t->test, idx + B, nm, NULL, NULL);
    rt_result r;
    rc = rt_runner_run(&t->run, &t->peval, m, 0, 0, &r, e);
    correct += r.correct;
    ll += r.loglik;
  }
  free(idx);
  *acc = correct / n;
  *loss = -ll / n;
  return rc;
}

/* Several ranks: this rank's images [lo, lo + n) of a staged batch of M
   moved to the front of the staging (images CNHW, labels, drop-path scales
   [drop][sample]), so that it trains on them as one rank would. */
static void take_slice(trainer *t, int m, int lo, int n) {
  const size_t el = t->b->elem, hw = (size_t)t->net.input_size * (size_t)t->net.input_size;
  char *img = t->run.himg, *mask = t->run.hmask;
  for (int c = 0; c < t->net.input_channels; c++)
    memmove(img + (size_t)c * (size_t)n * hw * el, img + ((size_t)c * (size_t)m + (size_t)lo) * hw * el,
            (size_t)n * hw * el);
  memmove(t->run.hlab, t->run.hlab + lo, sizeof(int32_t) * (size_t)n);
  for (int d = 0; d < t->ptrain.ndrops; d++)
    memmove(mask + (size_t)d * (size_t)n * el, mask + ((size_t)d * (size_t)m + (size_t)lo) * el, (size_t)n * el);
}

/* One SGD step on the batch ORDER[0..M): on several ranks each takes its
   slice (the whole batch staged, so the augmentation and drop-path draws
   stay those of one rank). */
static int train_step(trainer *t, const int *order, int m, const int *next, int nm, double lr, double drop,
                      double sums[2], err_t *e) {
  const long R = t->comm.size, r = t->comm.rank;
  const int lo = (int)(m * r / R), n = (int)(m * (r + 1) / R) - lo;
  rt_loader_batch(t->loader, &t->train, order, m, t->mean, t->std, &t->aug, &t->data_rng, t->run.himg, t->b->elem,
                  t->run.hlab);
  if (nm > 0) rt_loader_ahead(t->loader, &t->train, next, nm, &t->aug, &t->data_rng); /* while this step computes */
  if (rt_runner_drops(&t->run, &t->ptrain, m, drop, &t->drop_rng, e) || rt_model_zero_grads(&t->m, e)) return -1;
  rt_result res = {0};
  if (R > 1) take_slice(t, m, lo, n);
  if (n > 0 && rt_runner_run(&t->run, &t->ptrain, n, 1.0f / (float)m, 0.1f, &res, e) != 0) return -1;
  sums[0] = -res.loglik;
  sums[1] = res.correct;
  rt_model_touch(&t->m, &t->ptrain);
  /* several ranks: the slices' gradients (each scaled by 1 / the whole
     batch) summed, and the loss and hit counts */
  if (R > 1 && (rt_model_join(&t->m, &t->comm, e) != 0 || rt_comm_sum(&t->comm, sums, 2, e) != 0)) return -1;
  double gnorm;
  return rt_model_sgd(&t->m, (float)lr, (float)t->st.momentum, (float)t->st.weight_decay, (float)t->st.grad_clip,
                      &gnorm, e);
}

/* a stop asked of any rank stops them all at the same step */
static int stopping(trainer *t, err_t *e) {
  int stop = rt_job_stopping(&t->job);
  return rt_comm_max(&t->comm, &stop, 1, e) != 0 ? -1 : stop;
}

static int train_epoch(trainer *t, double lr, double drop, double *loss, double *acc, err_t *e) {
  int B = t->st.batch, n = t->train.n, steps = (n + B - 1) / B;
  int *order = malloc(sizeof *order * (size_t)n);
  if (!order) return err_set(e, "out of memory");
  for (int i = 0; i < n; i++) order[i] = i;
  rng_t r;
  rng_seed(&r, ((uint64_t)t->st.seed << 20) ^ (uint64_t)(t->epoch + 1) * 0xd1b54a32d192ed03ULL);
  rng_shuffle(&r, order, n);
  double ls = 0, cs = 0, t0 = now_s();
  int rc = 0, stop = 0;
  for (int s = 0; s < steps && rc == 0 && !stop; s++) {
    int m = n - s * B < B ? n - s * B : B, nm = s + 1 < steps ? (n - (s + 1) * B < B ? n - (s + 1) * B : B) : 0;
    double sums[2];
    rc = train_step(t, order + s * B, m, order + (s + 1) * B, nm, lr, drop, sums, e);
    ls += sums[0];
    cs += sums[1];
    t->batches++;
    double el = now_s() - t0;
    rt_job_step(&t->job, t->epoch, t->st.epochs, s + 1, steps, el / (s + 1), ls / ((double)(s + 1) * B),
                (s + 1) * B / (el > 0 ? el : 1));
    if (rc == 0 && (stop = stopping(t, e)) < 0) rc = -1;
  }
  free(order);
  *loss = ls / n;
  *acc = cs / n;
  if (rc == 0 && !stop && (stop = stopping(t, e)) < 0) rc = -1;
  if (stop > 0 && rc == 0) return 1; /* interrupted: the epoch is not finished */
  return rc;
}

/* the weights are the same on every rank; the BN running statistics are
   each rank's own (rank 0's are kept) */
static int same_weights(trainer *t, err_t *e) {
  if (t->comm.size == 1) return 0;
  uint64_t h = RT_COMM_HASH0;
  return rt_model_hash_params(&t->m, &h, e) ||
                 rt_comm_same(&t->comm, h, "holds other weights than rank 0: the ranks diverged", 0, e)
             ? -1
             : 0;
}

static int write_static(trainer *t, err_t *e) {
  return rt_rundir_write_cells(t->dir, &t->sp, &t->g, "trained genotype", 1, NULL, e);
}

/* The epoch's log line and the checkpoint after it; its line on screen. */
static int end_epoch(trainer *t, double lr, double drop, double loss, double acc, double tloss, double tacc,
                     double secs, err_t *e) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "epoch", t->epoch + 1);
  cJSON_AddNumberToObject(j, "lr", lr);
  cJSON_AddNumberToObject(j, "drop_path", drop);
  cJSON_AddNumberToObject(j, "train_loss", loss);
  cJSON_AddNumberToObject(j, "train_acc", acc);
  if (t->has_test) {
    cJSON_AddNumberToObject(j, "test_loss", tloss);
    cJSON_AddNumberToObject(j, "test_acc", tacc);
  }
  cJSON_AddNumberToObject(j, "seconds", secs);
  long bad = rt_data_unreadable(&t->train) + (t->has_test && t->test.folder ? rt_data_unreadable(&t->test) : 0);
  if (t->train.folder) cJSON_AddNumberToObject(j, "unreadable_images", (double)bad);
  cJSON *m = cJSON_CreateObject();
  cJSON_AddNumberToObject(m, "arena_bytes", (double)t->run.cap);
  if (rt_job_log(&t->job, j, m, &t->run, e) != 0 || save(t, t->epoch + 1, e) != 0) return -1;
  rt_progress_clear(&t->job.prog);
  char gpu_mem[64];
  rt_job_screen_note(&t->job, &t->run, gpu_mem, sizeof gpu_mem);
  if (t->o->quiet) return 0;
  if (t->has_test)
    printf("epoch %d/%d  lr %.4f  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.1f s%s\n", t->epoch + 1,
           t->st.epochs, lr, loss, 100 * acc, tloss, 100 * tacc, secs, gpu_mem);
  else
    printf("epoch %d/%d  lr %.4f  train loss %.4f acc %.2f%%  %.1f s%s\n", t->epoch + 1, t->st.epochs, lr, loss,
           100 * acc, secs, gpu_mem);
  fflush(stdout);
  return 0;
}

/* Epochs from the current one to the last; 0, ERR_INTERRUPTED, or a
 * failure's status.  *tacc, *tloss: the last test figures. */
static int run_epochs(trainer *t, double *tacc, double *tloss, err_t *e) {
  while (t->epoch < t->st.epochs) {
    /* cosine annealing (DARTS's CIFAR recipe), or a decay by lr_decay after
       every epoch (its ImageNet recipe: StepLR(1, 0.97)) */
    double lr = t->st.lr_decay > 0 ? t->st.lr * pow(t->st.lr_decay, t->epoch)
                                   : t->st.lr_min + 0.5 * (t->st.lr - t->st.lr_min) * (1 + cos(M_PI * t->epoch / t->st.epochs));
    double drop = t->st.drop_path * t->epoch / t->st.epochs, loss = 0, acc = 0, t0 = now_s();
    int r = train_epoch(t, lr, drop, &loss, &acc, e);
    if (r == 1) return ERR_INTERRUPTED; /* the last finished epoch's checkpoint stands */
    if (r != 0 || rt_data_check_unreadable(&t->train, e) != 0 || (t->has_test && rt_data_check_unreadable(&t->test, e) != 0) ||
        same_weights(t, e) != 0)
      return err_status(e);
    /* rank 0 evaluates, logs and saves */
    if (t->comm.rank == 0 && ((t->has_test && evaluate(t, tacc, tloss, e) != 0) ||
                              end_epoch(t, lr, drop, loss, acc, *tloss, *tacc, now_s() - t0, e) != 0))
      return err_status(e);
    t->epoch++;
  }
  return 0;
}

static void say_start(const trainer *t) {
  char smooth[64] = "";
  if (t->st.label_smoothing > 0) snprintf(smooth, sizeof smooth, ", label smoothing %g", t->st.label_smoothing);
  printf("parsec train: %s on %s (%d training images%s), %d cells, C %d, %.3f M parameters (%.3f M with the "
         "auxiliary head), %d epoch%s, batch %d, drop path %.2f, cutout %d%s; outputs in %s/\n",
         t->sp.name, t->st.data, t->train.n, t->has_test ? "" : ", no test set", t->net.cells, t->net.channels,
         (double)nw_param_count_main(&t->lay) / 1e6, (double)nw_param_count(&t->lay) / 1e6, t->st.epochs,
         t->st.epochs == 1 ? "" : "s", t->st.batch, t->st.drop_path, t->st.cutout, smooth, t->dir);
  printf("device: %s%s\n", t->b->device, t->run.graphs ? "; steps replayed as a CUDA graph" : "");
  char data[1024];
  rt_data_describe(&t->train, &t->aug, data, sizeof data);
  printf("%s\n", data);
  if (t->comm.size > 1)
    printf("%d ranks (MPI): each batch split across them; gradients summed by %s; rank 0 writes the run\n",
           t->comm.size, t->b->sums);
  if (t->o->resume) printf("resuming after epoch %d\n", t->epoch);
  fflush(stdout);
}

static void say_end(const trainer *t, int rc, double tacc) {
  if (rc == ERR_INTERRUPTED)
    printf("interrupted in epoch %d: the last finished epoch is checkpointed; continue with: parsec-run train --resume "
           "--out %s\n",
           t->epoch + 1, t->dir);
  if (rc != 0) return;
  if (t->has_test) printf("trained: test error %.2f%% (accuracy %.2f%%)", 100 * (1 - tacc), 100 * tacc);
  else printf("trained");
  printf(", %.3f M parameters; weights in %s/weights.safetensors\n", (double)nw_param_count_main(&t->lay) / 1e6,
         t->dir);
}

int rt_train_run(const rt_train_opts *o, err_t *e) {
  trainer *t = calloc(1, sizeof *t);
  if (!t) return err_set(e, "out of memory"), ERR_FAILED;
  if (rt_comm_open(&t->comm, e) != 0) {
    free(t);
    return err_status(e);
  }
  rt_train_opts quiet = *o; /* ranks after the first say nothing */
  quiet.quiet = 1;
  quiet.progress = 0;
  t->o = o = t->comm.rank == 0 ? o : &quiet;
  int rc = setup(t, e) == 0 && (t->comm.rank > 0 || write_static(t, e) == 0) ? 0 : err_status(e);
  if (rc == 0) {
    if (!o->quiet) say_start(t);
    double tacc = 0, tloss = 0;
    rt_job_begin(&t->job, "train", t->dir, o->progress, o->quiet, "images/s");
    rc = run_epochs(t, &tacc, &tloss, e);
    rt_job_end(&t->job);
    if (!o->quiet) say_end(t, rc, tacc);
  }
  if (rc != 0 && t->comm.size > 1) err_prefix(e, "rank %d of %d", t->comm.rank, t->comm.size);
  teardown(t);
  free(t);
  return rc;
}
