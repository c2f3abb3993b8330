#include "rt_ensemble.h"
#include "io.h"
#include "rng.h"
#include "rt_data.h"
#include "rt_device.h"
#include "rt_dist.h"
#include "rt_exec.h"
#include "rt_export.h"
#include "rt_metrics.h"
#include "rt_model.h"
#include "rt_record.h"
#include "rt_rundir.h"
#include "rt_runner.h"

#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MEMBERS 64

typedef struct {
  const rt_ensemble_opts *o;
  rt_rundir rd;
  sp_space sp;
  rt_dist d;
  int n;       /* members */
  int nmodels; /* the members, and the mode when it is not one of them */
  int mode_at; /* the model that is the mode */
  gt_genotype g[MAX_MEMBERS + 1];
  char dir[MAX_MEMBERS + 1][4200];
  char name[MAX_MEMBERS + 1][32];
} ensemble;

static int exists(const char *dir, const char *name) {
  char p[4400];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return stat(p, &st) == 0;
}

/* ---------- the members ---------- */

/* M distinct networks drawn from pi; a concentrated pi may hold fewer. */
static int draw(ensemble *E, err_t *e) {
  const rt_ensemble_opts *o = E->o;
  rng_t rng;
  rng_seed(&rng, (uint64_t)o->seed * 7 + 41);
  long tries = 0, most = 1000L * o->members + 1000;
  while (E->n < o->members && tries++ < most) {
    gt_genotype g;
    rt_dist_sample(&E->d, &rng, &g);
    int dup = 0;
    for (int k = 0; k < E->n && !dup; k++) dup = gt_same_network(&E->g[k], &g);
    if (!dup) E->g[E->n++] = g;
  }
  if (E->n < o->members)
    return err_set_code(e, ERR_USAGE,
                        "only %d distinct networks in %ld draws from %s's p(alpha | pi): it has concentrated on fewer "
                        "networks than --members %d; ask for fewer members, or --pick top (the most probable ones)",
                        E->n, most, o->run, o->members);
  return 0;
}

static int choose(ensemble *E, err_t *e) {
  const rt_ensemble_opts *o = E->o;
  E->n = 0;
  if (strcmp(o->pick, "sample") == 0) return draw(E, e);
  if (strcmp(o->pick, "top") == 0) {
    if (rt_dist_top(&E->d, o->members, E->g, &E->n, e) != 0) return -1;
    if (E->n < o->members)
      return err_set_code(e, ERR_USAGE, "the space holds only %d distinct networks: ask for fewer --members", E->n);
    return 0;
  }
  for (E->n = 0; E->n < o->members; E->n++) rt_dist_mode(&E->d, &E->g[E->n]); /* "mode": seeds of one network */
  return 0;
}

/* A resumed ensemble keeps the members it drew (DIR/members.txt). */
static int read_members(ensemble *E, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/members.txt", E->o->out);
  char *text = io_read_file(path, "the ensemble's members", IO_TEXT_MAX, NULL, e);
  if (!text) return -1;
  int rc = 0, lineno = 0;
  E->n = 0;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
    char where[4300];
    snprintf(where, sizeof where, "%s:%d", path, ++lineno);
    if (E->n == MAX_MEMBERS)
      rc = err_set(e, "%s: more than %d members", path, MAX_MEMBERS);
    else
      rc = gt_parse(&E->sp, line, &E->g[E->n++], where, e);
  }
  free(text);
  if (rc == 0 && E->n != E->o->members)
    rc = err_set_code(e, ERR_USAGE, "--resume: the ensemble in %s has %d members, and --members is %d here", E->o->out,
                      E->n, E->o->members);
  return rc;
}

static int write_members(ensemble *E, err_t *e) {
  size_t cap = 1, o = 0;
  char *texts[MAX_MEMBERS];
  for (int k = 0; k < E->n; k++) {
    texts[k] = gt_to_text(&E->sp, &E->g[k]);
    cap += texts[k] ? strlen(texts[k]) + 1 : 0;
  }
  char *all = malloc(cap), path[4200];
  for (int k = 0; k < E->n && all; k++) o += (size_t)snprintf(all + o, cap - o, "%s\n", texts[k] ? texts[k] : "");
  snprintf(path, sizeof path, "%s/members.txt", E->o->out);
  int rc = all ? io_write_text(path, all, e) : err_set(e, "out of memory");
  for (int k = 0; k < E->n; k++) free(texts[k]);
  free(all);
  return rc;
}

/* The models' directories; the mode trained apart when it is no member. */
static void name_models(ensemble *E) {
  gt_genotype mode;
  rt_dist_mode(&E->d, &mode);
  E->nmodels = E->n;
  E->mode_at = -1;
  for (int k = 0; k < E->n && E->mode_at < 0; k++)
    if (gt_same_network(&E->g[k], &mode)) E->mode_at = k;
  if (E->mode_at < 0) {
    E->mode_at = E->nmodels;
    E->g[E->nmodels++] = mode;
  }
  for (int k = 0; k < E->nmodels; k++) {
    if (k < E->n)
      snprintf(E->name[k], sizeof E->name[k], "member-%d", k + 1);
    else
      snprintf(E->name[k], sizeof E->name[k], "mode");
    snprintf(E->dir[k], sizeof E->dir[k], "%s/%s", E->o->out, E->name[k]);
  }
}

static int start(ensemble *E, err_t *e) {
  const rt_ensemble_opts *o = E->o;
  if (rt_rundir_claim(&E->rd, o->out, o->resume, e) != 0) return -1;
  if (rt_rundir_space(o->run, "search", "search", NULL, &E->sp, e) != 0) return -1;
  const char *spec = o->train.data ? o->train.data : E->sp.search.data; /* tested on: before any training */
  if (!o->train.test_data && (strncmp(spec, "idx:", 4) == 0 || strncmp(spec, "npy:", 4) == 0))
    return err_set_code(e, ERR_USAGE, "%s has no test split to evaluate the ensemble on: give one with --test-data",
                        spec);
  char path[4200];
  snprintf(path, sizeof path, "%s/distribution.json", o->run);
  if (rt_dist_init(&E->d, &E->sp, NULL, 0.5, 0.999, e) != 0 || rt_dist_load_json(&E->d, path, e) != 0)
    return err_prefix(e, "%s has no distribution to draw an ensemble from", o->run);
  if (o->resume && exists(o->out, "members.txt")) {
    if (read_members(E, e) != 0) return -1;
  } else if (choose(E, e) != 0 || write_members(E, e) != 0) {
    return -1;
  }
  name_models(E);
  if (o->resume && exists(o->out, RT_RECORD_CONFIG))
    return rt_record_resumed(o->out, o->train.argc, o->train.argv, 0, e);
  cJSON *settings = cJSON_CreateObject(), *extra = cJSON_CreateObject();
  cJSON_AddStringToObject(settings, "run", o->run);
  cJSON_AddNumberToObject(settings, "members", o->members);
  cJSON_AddStringToObject(settings, "pick", o->pick);
  cJSON_AddNumberToObject(settings, "seed", o->seed);
  cJSON *models = cJSON_AddArrayToObject(extra, "models");
  for (int k = 0; k < E->nmodels; k++) {
    cJSON *m = cJSON_CreateObject();
    char *t = gt_to_text(&E->sp, &E->g[k]);
    cJSON_AddStringToObject(m, "name", E->name[k]);
    cJSON_AddStringToObject(m, "genotype", t ? t : "");
    cJSON_AddNumberToObject(m, "log_p", rt_dist_logp(&E->d, &E->g[k]));
    cJSON_AddBoolToObject(m, "is_mode", k == E->mode_at);
    cJSON_AddItemToArray(models, m);
    free(t);
  }
  cJSON *data = cJSON_CreateObject(); /* what the members train and are tested on */
  cJSON_AddStringToObject(data, "spec", o->train.data ? o->train.data : E->sp.search.data);
  cJSON_AddStringToObject(data, "test_spec", o->train.test_data ? o->train.test_data : "");
  rt_record r = {"ensemble", o->train.argc, o->train.argv, &E->sp, settings, data, o->train.device, extra};
  return rt_record_start(o->out, &r, e);
}

/* ---------- training ---------- */

/* Whether model K's training has run all its epochs. */
static int finished(const ensemble *E, int k) {
  err_t e = ERR_INIT;
  cJSON *c = exists(E->dir[k], RT_RECORD_CONFIG) ? rt_record_config(E->dir[k], &e) : NULL;
  err_clear(&e);
  const cJSON *ep = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "settings"), "epochs");
  int want = E->o->train.epochs > 0 ? E->o->train.epochs : cJSON_IsNumber(ep) ? ep->valueint : 1 << 30;
  cJSON_Delete(c);
  char path[4400];
  snprintf(path, sizeof path, "%s/log.jsonl", E->dir[k]);
  char *log = io_read_file(path, NULL, IO_TEXT_MAX, NULL, &e);
  err_clear(&e);
  int lines = 0;
  for (const char *p = log; p && *p; p++) lines += *p == '\n';
  free(log);
  return lines >= want;
}

/* A member interrupted before its first epoch ended has no checkpoint to
 * resume: what its start wrote goes, and it starts again. */
static void forget_unstarted(const char *dir) {
  static const char *const started[] = {"config.json", "genotype.txt", "cells.dot", "cells.svg", "log.jsonl"};
  if (exists(dir, "checkpoint.bin")) return;
  for (size_t i = 0; i < sizeof started / sizeof started[0]; i++) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, started[i]);
    unlink(p);
  }
}

static int train(ensemble *E, int k, err_t *e) {
  const rt_ensemble_opts *o = E->o;
  if (finished(E, k)) return 0;
  forget_unstarted(E->dir[k]);
  char *text = gt_to_text(&E->sp, &E->g[k]);
  if (!text) return err_set(e, "out of memory");
  rt_train_opts t = o->train;
  t.run = o->run;
  t.genotype = text;
  t.space = NULL;
  t.out = E->dir[k];
  t.seed = (o->train.seed >= 0 ? o->train.seed : 0) + (k < E->n ? k : 0);
  t.resume = exists(E->dir[k], "checkpoint.bin");
  if (!o->train.quiet) printf("\n== %s of %d: %s%s\n", E->name[k], E->n, t.resume ? "resuming " : "", text);
  fflush(stdout);
  int rc = rt_train_run(&t, e);
  free(text);
  if (rc != 0 && rc != ERR_INTERRUPTED) err_prefix(e, "%s", E->name[k]);
  return rc;
}

/* ---------- evaluation ---------- */

typedef struct {
  long N;
  int K;
  float *probs; /* N x K */
  int *labels;
} predictions;

/* The test set model K was trained against: the data its record names,
 * its test split (or --test-data), its --limit. */
static int test_set(const ensemble *E, int k, rt_dataset *d, err_t *e) {
  cJSON *c = rt_record_config(E->dir[k], e);
  if (!c) return -1;
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(c, "data"),
              *st = cJSON_GetObjectItemCaseSensitive(c, "settings");
  const cJSON *spec = cJSON_GetObjectItemCaseSensitive(data, "spec"),
              *test = cJSON_GetObjectItemCaseSensitive(data, "test_spec");
  const cJSON *limit = cJSON_GetObjectItemCaseSensitive(st, "limit");
  int rc;
  if (cJSON_IsString(test) && test->valuestring[0])
    rc = rt_data_open(d, test->valuestring, RT_SPLIT_TRAIN, e);
  else if (!cJSON_IsString(spec))
    rc = err_set(e, "%s/config.json names no data", E->dir[k]);
  else if (strncmp(spec->valuestring, "idx:", 4) == 0 || strncmp(spec->valuestring, "npy:", 4) == 0)
    rc = err_set_code(e, ERR_USAGE, "%s has no test split: give the ensemble one with --test-data", spec->valuestring);
  else
    rc = rt_data_open(d, spec->valuestring, RT_SPLIT_TEST, e);
  if (rc == 0 && cJSON_IsNumber(limit) && limit->valueint > 0) rt_data_limit(d, limit->valueint);
  cJSON_Delete(c);
  return rc;
}

/* Model K's softmax on its test set, on backend B, in batches. */
static int predict(const ensemble *E, int k, rt_backend *b, predictions *out, err_t *e) {
  rt_trained t;
  rt_dataset d;
  rt_model m = {0};
  rt_runner r = {0};
  pl_plan p = {0};
  if (rt_trained_open(&t, E->dir[k], NULL, NULL, NULL, e) != 0) return -1;
  int rc = test_set(E, k, &d, e), have_model = 0;
  if (rc == 0 && b->elem != sizeof(float)) rc = err_set(e, "evaluating an ensemble needs a float32 backend");
  const int B = 256, K = t.net.classes;
  if (rc == 0) rc = rt_model_init(&m, b, &t.lay, 0, e), have_model = rc == 0;
  if (rc == 0)
    rc = b->upload(b, m.params, t.params, t.lay.nparams * 4, e) ||
         (t.lay.nstats && b->upload(b, m.stats, t.stats, t.lay.nstats * 4, e)) ||
         pl_build_eval(&p, &t.sp, &t.net, &t.lay, &t.g, PL_EVAL, 0, 0, e) ||
         rt_runner_init(&r, b, &m, B, (long)d.c * d.h * d.w, 1, e);
  long N = d.n;
  float *probs = rc == 0 ? malloc(sizeof *probs * (size_t)N * (size_t)K) : NULL;
  float *logits = rc == 0 ? malloc(sizeof *logits * (size_t)B * (size_t)K) : NULL;
  int *idx = rc == 0 ? malloc(sizeof *idx * (size_t)(N + 1)) : NULL,
      *labels = rc == 0 ? malloc(sizeof *labels * (size_t)(N + 1)) : NULL;
  if (rc == 0 && (!probs || !logits || !idx || !labels)) rc = err_set(e, "out of memory");
  for (long i = 0; rc == 0 && i < N; i++) idx[i] = (int)i;
  for (long at = 0; rc == 0 && at < N; at += B) {
    int n = N - at < B ? (int)(N - at) : B;
    rt_data_batch(&d, idx + at, n, t.mean, t.std, NULL, NULL, r.himg, b->elem, r.hlab);
    for (int i = 0; i < n; i++) labels[at + i] = r.hlab[i];
    rt_result res;
    rc = rt_runner_run(&r, &p, n, 0, 0, &res, e);
    rt_bind bind = rt_model_bind(&m, r.arena);
    if (rc == 0) rc = b->download(b, logits, rt_ref_ptr(b, &p, &bind, p.logits, n), sizeof *logits * (size_t)n * K, e);
    for (int i = 0; rc == 0 && i < n; i++) /* class-major [K, n] to rows */
      for (int c = 0; c < K; c++) probs[(at + i) * K + c] = logits[(long)c * n + i];
  }
  if (rc == 0) {
    rt_metrics_softmax(probs, N, K);
    *out = (predictions){N, K, probs, labels};
    probs = NULL;
    labels = NULL;
  }
  free(probs);
  free(labels);
  free(logits);
  free(idx);
  pl_free(&p);
  rt_runner_free(&r);
  if (have_model) rt_model_free(&m);
  rt_data_free(&d);
  rt_trained_free(&t);
  return rc;
}

static cJSON *metrics_json(const char *name, const char *genotype, const rt_metrics *m) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "model", name);
  if (genotype) cJSON_AddStringToObject(j, "genotype", genotype);
  cJSON_AddNumberToObject(j, "accuracy", m->accuracy);
  cJSON_AddNumberToObject(j, "nll", m->nll);
  cJSON_AddNumberToObject(j, "ece", m->ece);
  cJSON_AddNumberToObject(j, "brier", m->brier);
  cJSON *bins = cJSON_AddArrayToObject(j, "reliability"); /* [mean confidence, accuracy, images] per bin */
  for (int b = 0; b < RT_METRICS_BINS; b++) {
    double row[3] = {m->bin_conf[b], m->bin_acc[b], (double)m->bin_n[b]};
    cJSON_AddItemToArray(bins, cJSON_CreateDoubleArray(row, 3));
  }
  return j;
}

static void say(const char *name, const rt_metrics *m) {
  printf("%-10s %8.2f%% %8.4f %8.4f %8.4f\n", name, 100 * m->accuracy, m->nll, m->ece, m->brier);
}

/* Every model's predictions, the ensemble's mean of the members', the
 * metrics of each into DIR/log.jsonl (written anew) and on screen. */
static int evaluate(ensemble *E, err_t *e) {
  const rt_ensemble_opts *o = E->o;
  rt_backend *b;
  if (rt_device_open(&b, o->train.device, o->train.threads, 0, e) != 0) return -1;
  predictions pr[MAX_MEMBERS + 1];
  memset(pr, 0, sizeof pr);
  int rc = 0;
  for (int k = 0; k < E->nmodels && rc == 0; k++) {
    rc = predict(E, k, b, &pr[k], e);
    if (rc == 0 && k > 0 &&
        (pr[k].N != pr[0].N || pr[k].K != pr[0].K || memcmp(pr[k].labels, pr[0].labels, sizeof(int) * (size_t)pr[0].N)))
      rc = err_set(e, "%s was tested on other images than %s: an ensemble's members share one test set", E->name[k],
                   E->name[0]);
  }
  rt_backend_close(b);
  char path[4200], *lines = NULL;
  size_t len = 0;
  FILE *f = rc == 0 ? open_memstream(&lines, &len) : NULL;
  if (rc == 0 && !f) rc = err_set(e, "out of memory");
  if (rc == 0) {
    long N = pr[0].N;
    int K = pr[0].K;
    float *mean = calloc((size_t)N * (size_t)K, sizeof *mean);
    if (!o->train.quiet) printf("\n%ld test images\nmodel      accuracy      NLL      ECE    Brier\n", N);
    for (int k = 0; k < E->nmodels && mean; k++) {
      rt_metrics m;
      rt_metrics_of(pr[k].probs, pr[k].labels, N, K, &m);
      char *t = gt_to_text(&E->sp, &E->g[k]);
      cJSON *j = metrics_json(E->name[k], t, &m);
      free(t);
      cJSON_AddBoolToObject(j, "is_mode", k == E->mode_at);
      char *line = cJSON_PrintUnformatted(j);
      fprintf(f, "%s\n", line ? line : "{}");
      free(line);
      cJSON_Delete(j);
      if (!o->train.quiet) say(k == E->mode_at && k >= E->n ? "mode" : E->name[k], &m);
      if (k < E->n)
        for (long i = 0; i < N * K; i++) mean[i] += pr[k].probs[i] / E->n;
    }
    if (mean) {
      rt_metrics m;
      rt_metrics_of(mean, pr[0].labels, N, K, &m);
      cJSON *j = metrics_json("ensemble", NULL, &m);
      cJSON_AddNumberToObject(j, "members", E->n);
      char *line = cJSON_PrintUnformatted(j);
      fprintf(f, "%s\n", line ? line : "{}");
      free(line);
      cJSON_Delete(j);
      if (!o->train.quiet) {
        say("ensemble", &m);
        printf("(the mode is %s; each line of %s/log.jsonl holds a model's reliability bins)\n", E->name[E->mode_at],
               o->out);
      }
    } else {
      rc = err_set(e, "out of memory");
    }
    free(mean);
    fclose(f);
    snprintf(path, sizeof path, "%s/log.jsonl", o->out);
    if (rc == 0) rc = io_write_text(path, lines, e);
  }
  free(lines);
  for (int k = 0; k <= E->nmodels && k <= MAX_MEMBERS; k++) {
    free(pr[k].probs);
    free(pr[k].labels);
  }
  return rc;
}

int rt_ensemble_run(const rt_ensemble_opts *o, err_t *e) {
  if (o->members < 1 || o->members > MAX_MEMBERS)
    return err_set_code(e, ERR_USAGE, "--members %d is out of range (1 to %d)", o->members, MAX_MEMBERS);
  ensemble *E = calloc(1, sizeof *E);
  if (!E) return err_set(e, "out of memory");
  E->o = o;
  int rc = start(E, e) == 0 ? 0 : err_status(e);
  if (rc == 0 && !o->train.quiet) {
    printf("ensemble of %d networks (%s) from %s; the mode %s; outputs in %s/\n", E->n,
           strcmp(o->pick, "sample") == 0 ? "distinct draws from p(alpha | pi)"
           : strcmp(o->pick, "top") == 0  ? "the most probable"
                                          : "seeds of the mode",
           o->run, E->mode_at < E->n ? "is a member" : "is trained apart (mode/)", o->out);
  }
  for (int k = 0; k < E->nmodels && rc == 0; k++) rc = train(E, k, e);
  if (rc == 0) rc = evaluate(E, e) == 0 ? 0 : err_status(e);
  if (rc == ERR_INTERRUPTED && !o->train.quiet)
    printf("interrupted: continue the ensemble with parsec-run ensemble ... --resume --out %s\n", o->out);
  rt_dist_free(&E->d);
  sp_free(&E->sp);
  rt_rundir_release(&E->rd);
  free(E);
  return rc;
}
