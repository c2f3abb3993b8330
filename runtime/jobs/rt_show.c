#include "rt_show.h"
#include "io.h"
#include "plot.h"
#include "rt_record.h"
#include "rt_rundir.h"
#include "sp_json.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A run as its record gives it. */
typedef struct {
  const char *dir;
  cJSON *config; /* NULL for a run from before the record */
  char kind[16]; /* search, transfer, train */
  sp_space sp;
  cJSON **log; /* log.jsonl, a line per finished epoch */
  int nlog;
} shown;

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : "";
}

static int exists(const char *dir, const char *name) {
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &st) == 0;
}

/* DIR/NAME's JSON lines (*n of them; a missing file has none). */
static int read_lines(const char *dir, const char *name, cJSON ***out, int *n, err_t *e) {
  *out = NULL;
  *n = 0;
  if (!exists(dir, name)) return 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *text = io_read_file(path, NULL, IO_TEXT_MAX, NULL, e);
  if (!text) return -1;
  int cap = 0, lineno = 0, rc = 0;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
    lineno++;
    cJSON *j = cJSON_Parse(line);
    if (!cJSON_IsObject(j)) {
      cJSON_Delete(j);
      rc = err_set(e, "%s:%d: not a JSON object", path, lineno);
      break;
    }
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      cJSON **grown = realloc(*out, sizeof **out * (size_t)cap);
      if (!grown) {
        cJSON_Delete(j);
        rc = err_set(e, "out of memory");
        break;
      }
      *out = grown;
    }
    (*out)[(*n)++] = j;
  }
  free(text);
  return rc;
}

static void free_lines(cJSON **l, int n) {
  for (int i = 0; i < n; i++) cJSON_Delete(l[i]);
  free(l);
}

/* The record, or for an older run its checkpoint: the kind and the space. */
static int open_run(shown *s, const char *dir, err_t *e) {
  memset(s, 0, sizeof *s);
  s->dir = dir;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return err_set(e, "%s: no such run directory", dir);
  if (exists(dir, RT_RECORD_CONFIG)) {
    if (!(s->config = rt_record_config(dir, e))) return -1;
    snprintf(s->kind, sizeof s->kind, "%s", str(s->config, "kind"));
    const cJSON *ir = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s->config, "space"), "ir");
    char *text = cJSON_PrintUnformatted(ir);
    int rc = text ? sp_from_json(&s->sp, text, "config.json", e) : err_set(e, "%s/config.json has no space", dir);
    free(text);
    if (rc) return -1;
  } else if (rt_rundir_space(dir, "search", "search", NULL, &s->sp, e) == 0) {
    snprintf(s->kind, sizeof s->kind, "search");
  } else if ((err_clear(e), rt_rundir_space(dir, "train", "training", NULL, &s->sp, e)) == 0) {
    snprintf(s->kind, sizeof s->kind, "train");
  } else {
    err_clear(e);
    return err_set(e, "%s is not a parsec run: it has no config.json (and no checkpoint.bin to read one from)", dir);
  }
  return read_lines(dir, "log.jsonl", &s->log, &s->nlog, e);
}

static void close_run(shown *s) {
  cJSON_Delete(s->config);
  free_lines(s->log, s->nlog);
  sp_free(&s->sp);
}

static void say_header(FILE *f, const shown *s) {
  fprintf(f, "run %s: %s in the space '%s'", s->dir, s->kind, s->sp.name);
  if (s->config) {
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(s->config, "data");
    fprintf(f, " on %s\nparsec %s, started %s on %s\ndevice: %s\ncommand:", str(data, "spec"),
            str(s->config, "parsec_version"), str(s->config, "started"), str(s->config, "host"),
            str(s->config, "device"));
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(s->config, "command_line"))
        fprintf(f, " %s", cJSON_IsString(a) ? a->valuestring : "?");
    int resumes = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s->config, "resumes"));
    if (resumes) fprintf(f, "\nresumed %d time%s", resumes, resumes == 1 ? "" : "s");
  }
  if (strcmp(s->kind, "ensemble") == 0)
    fprintf(f, "\n%d models evaluated\n", s->nlog);
  else
    fprintf(f, "\n%d epoch%s finished\n", s->nlog, s->nlog == 1 ? "" : "s");
}

/* ---------- a search ---------- */

static void search_table(FILE *f, const shown *s) {
  fprintf(f, "\nepoch  entropy  mode acc (search split)  weighted train loss  train acc  seconds  children/s\n");
  for (int i = 0; i < s->nlog; i++) {
    const cJSON *j = s->log[i];
    fprintf(f, "%5.0f  %7.3f  %22.2f%%  %19.4f  %8.2f%%  %7.1f  %10.2f%s\n", num(j, "epoch"), num(j, "entropy"),
            100 * num(j, "mode_search_acc"), num(j, "train_loss"), 100 * num(j, "train_acc"), num(j, "seconds"),
            num(j, "children_per_s"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "warmup")) ? "  (warm-up)" : "");
  }
}

typedef struct {
  double p;
  int k;
} choice;

static int by_p(const void *a, const void *b) {
  const choice *x = a, *y = b;
  return (x->p < y->p) - (x->p > y->p);
}

/* The TOP choices of every categorical in P (a history line's "p"). */
static void alternatives(FILE *f, const shown *s, const cJSON *p, int top) {
  const sp_space *sp = &s->sp;
  fprintf(f, "\nmost probable choices per node input, op(input) p:\n");
  int c = 0;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < sp->nodes; n++)
      for (int i = 0; i < sp->inputs; i++, c++) {
        const cJSON *cat = cJSON_GetArrayItem(p, c);
        int m = cJSON_GetArraySize(cat);
        choice *v = calloc((size_t)m + 1, sizeof *v);
        if (!v) return;
        for (int k = 0; k < m; k++) v[k] = (choice){cJSON_GetArrayItem(cat, k)->valuedouble, k};
        qsort(v, (size_t)m, sizeof *v, by_p);
        fprintf(f, "  %-6s node %d input %d:", t ? "reduce" : "normal", n, i);
        for (int k = 0; k < m && k < top; k++)
          fprintf(f, "  %s(%d) %.3f", sp->prims[v[k].k % sp->nprims].darts_name, v[k].k / sp->nprims, v[k].p);
        fprintf(f, "\n");
        free(v);
      }
}

/* The history's last line, or, for a run from before the history, a line
 * made from distribution.json. */
static cJSON *last_pi(const shown *s, cJSON **hist, int nhist, err_t *e) {
  if (nhist) return cJSON_Duplicate(hist[nhist - 1], 1);
  char path[4200];
  snprintf(path, sizeof path, "%s/distribution.json", s->dir);
  char *text = io_read_file(path, NULL, IO_TEXT_MAX, NULL, e);
  cJSON *d = text ? cJSON_Parse(text) : NULL, *line = cJSON_CreateObject(), *p = cJSON_AddArrayToObject(line, "p");
  free(text);
  const cJSON *c, *x;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "categoricals")) {
    cJSON *row = cJSON_CreateArray();
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(c, "choices"))
        cJSON_AddItemToArray(row, cJSON_CreateNumber(num(x, "p")));
    cJSON_AddItemToArray(p, row);
  }
  cJSON_Delete(d);
  if (cJSON_GetArraySize(p) != 2 * s->sp.nodes * s->sp.inputs) {
    cJSON_Delete(line);
    err_clear(e);
    return NULL;
  }
  return line;
}

/* ---------- pictures ---------- */

static int write_svg(const char *out, const char *name, char *svg, err_t *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", out, name);
  int rc = svg ? io_write_text(path, svg, e) : err_set(e, "out of memory drawing %s", name);
  free(svg);
  return rc;
}

/* KEY of every log line, as a series. */
static double *column(const shown *s, const char *key) {
  double *v = malloc(sizeof *v * (size_t)(s->nlog + 1));
  for (int i = 0; v && i < s->nlog; i++) v[i] = num(s->log[i], key);
  return v;
}

static int draw_search(const shown *s, const char *out, err_t *e) {
  double *x = column(s, "epoch"), *ent = column(s, "entropy"), *acc = column(s, "mode_search_acc");
  double *loss = column(s, "train_loss");
  int rc = x && ent && acc && loss ? 0 : err_set(e, "out of memory");
  for (int i = 0; rc == 0 && i < s->nlog; i++) acc[i] *= 100;
  plot_chart c[3] = {
      {"entropy of p(alpha | pi)", "epoch", "entropy (nats)", x, s->nlog, {{"entropy", ent, "#c0392b"}}, 1},
      {"accuracy of the mode", "epoch", "search-split accuracy (%)", x, s->nlog, {{"mode", acc, "#2471a3"}}, 1},
      {"importance-weighted train loss", "epoch", "loss", x, s->nlog, {{"loss", loss, "#1e8449"}}, 1}};
  char title[512];
  snprintf(title, sizeof title, "%s: %s of the space '%s'", s->dir, s->kind, s->sp.name);
  if (rc == 0) rc = write_svg(out, "curves.svg", plot_lines(title, c, 3), e);
  free(x);
  free(ent);
  free(acc);
  free(loss);
  return rc;
}

/* pi per node and op over the epochs: the share of the node's inputs that
 * take the op (summed over the predecessors, averaged over the slots). */
static int draw_pi(const shown *s, cJSON **hist, int nhist, const char *out, err_t *e) {
  const sp_space *sp = &s->sp;
  int rows = 2 * sp->nodes * sp->nprims;
  double *v = calloc((size_t)rows * (size_t)nhist + 1, sizeof *v), *x = calloc((size_t)nhist + 1, sizeof *x);
  const char **group = calloc((size_t)rows, sizeof *group), **row = calloc((size_t)rows, sizeof *row);
  char groups[2 * GT_MAXNODES][32];
  int rc = v && x && group && row ? 0 : err_set(e, "out of memory");
  for (int t = 0; rc == 0 && t < 2; t++)
    for (int n = 0; n < sp->nodes; n++) {
      snprintf(groups[t * sp->nodes + n], sizeof groups[0], "%s node %d", t ? "reduce" : "normal", n);
      for (int p = 0; p < sp->nprims; p++) {
        int r = (t * sp->nodes + n) * sp->nprims + p;
        group[r] = groups[t * sp->nodes + n];
        row[r] = sp->prims[p].darts_name;
      }
    }
  for (int h = 0; rc == 0 && h < nhist; h++) {
    x[h] = num(hist[h], "epoch");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(hist[h], "p");
    int c = 0;
    for (int t = 0; t < 2; t++)
      for (int n = 0; n < sp->nodes; n++)
        for (int i = 0; i < sp->inputs; i++, c++) {
          const cJSON *cat = cJSON_GetArrayItem(p, c);
          int k = 0;
          const cJSON *q;
          cJSON_ArrayForEach(q, cat) {
            int r = (t * sp->nodes + n) * sp->nprims + k % sp->nprims;
            if (cJSON_IsNumber(q)) v[(size_t)r * nhist + h] += q->valuedouble / sp->inputs;
            k++;
          }
        }
  }
  char title[512];
  snprintf(title, sizeof title, "pi over the epochs: %s", s->dir);
  plot_heat hm = {title, "epoch", "share of the node's inputs", x, nhist, group, row, rows, v};
  if (rc == 0) rc = write_svg(out, "pi.svg", plot_heatmap(&hm), e);
  free(v);
  free(x);
  free(group);
  free(row);
  return rc;
}

static int draw_train(const shown *s, const char *out, err_t *e) {
  double *x = column(s, "epoch"), *tl = column(s, "train_loss"), *vl = column(s, "test_loss");
  double *ta = column(s, "train_acc"), *va = column(s, "test_acc");
  int rc = x && tl && vl && ta && va ? 0 : err_set(e, "out of memory");
  for (int i = 0; rc == 0 && i < s->nlog; i++) ta[i] *= 100, va[i] *= 100;
  plot_chart c[2] = {
      {"loss", "epoch", "cross-entropy", x, s->nlog, {{"train", tl, "#c0392b"}, {"test", vl, "#2471a3"}}, 2},
      {"accuracy", "epoch", "accuracy (%)", x, s->nlog, {{"train", ta, "#c0392b"}, {"test", va, "#2471a3"}}, 2}};
  char title[512];
  snprintf(title, sizeof title, "%s: training in the space '%s'", s->dir, s->sp.name);
  if (rc == 0) rc = write_svg(out, "curves.svg", plot_lines(title, c, 2), e);
  free(x);
  free(tl);
  free(vl);
  free(ta);
  free(va);
  return rc;
}

/* The cells of RUN/genotype.txt (a search's mode, a training's genotype). */
static int draw_cells(FILE *f, const shown *s, const char *out, const gt_genotype *g, err_t *e) {
  int svg = 0;
  char title[512];
  snprintf(title, sizeof title, "%s of %s", strcmp(s->kind, "train") ? "mode" : "genotype", s->dir);
  if (rt_rundir_write_cells(out, &s->sp, g, title, 0, &svg, e) != 0) return -1;
  fprintf(f, "cells drawn in %s/cells.dot%s\n", out, svg ? " and cells.svg" : " (install Graphviz for cells.svg)");
  return 0;
}

/* ---------- an ensemble ---------- */

/* The reliability diagram: accuracy against confidence per bin, for the
 * ensemble and the mode (and the diagonal a calibrated model follows). */
static int draw_reliability(const shown *s, const char *out, err_t *e) {
  enum { BINS = 15 };
  double x[BINS], diag[BINS], y[3][BINS];
  const char *label[3] = {"ensemble", "mode", "calibrated"};
  const char *colour[3] = {"#c0392b", "#2471a3", "#999999"};
  for (int b = 0; b < BINS; b++) x[b] = diag[b] = 100 * (b + 0.5) / BINS, y[0][b] = y[1][b] = NAN;
  for (int i = 0; i < s->nlog; i++) {
    const cJSON *j = s->log[i];
    int which = strcmp(str(j, "model"), "ensemble") == 0                       ? 0
                : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "is_mode")) ? 1
                                                                               : -1;
    if (which < 0) continue;
    const cJSON *bin;
    int b = 0;
    cJSON_ArrayForEach(bin, cJSON_GetObjectItemCaseSensitive(j, "reliability")) {
      if (b < BINS && cJSON_GetArrayItem(bin, 2) && cJSON_GetArrayItem(bin, 2)->valuedouble > 0)
        y[which][b] = 100 * cJSON_GetArrayItem(bin, 1)->valuedouble;
      b++;
    }
  }
  plot_chart c = {"reliability", "confidence (%)", "accuracy (%)", x, BINS, {{0}}, 3};
  for (int k = 0; k < 3; k++) c.series[k] = (plot_series){label[k], k == 2 ? diag : y[k], colour[k]};
  char title[512];
  snprintf(title, sizeof title, "%s: the ensemble's calibration against the mode's", s->dir);
  return write_svg(out, "reliability.svg", plot_lines(title, &c, 1), e);
}

static int show_ensemble(FILE *f, const shown *s, const char *out, err_t *e) {
  fprintf(f, "\nmodel      accuracy      NLL      ECE    Brier\n");
  for (int i = 0; i < s->nlog; i++) {
    const cJSON *j = s->log[i];
    fprintf(f, "%-10s %8.2f%% %8.4f %8.4f %8.4f%s\n", str(j, "model"), 100 * num(j, "accuracy"), num(j, "nll"),
            num(j, "ece"), num(j, "brier"),
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "is_mode")) ? "  (the mode)" : "");
  }
  if (!out || s->nlog == 0) return 0;
  if (draw_reliability(s, out, e) != 0) return -1;
  fprintf(f, "reliability diagram drawn in %s/reliability.svg\n", out);
  return 0;
}

/* ---------- the whole ---------- */

static int show_search(FILE *f, const shown *s, const char *out, int top, err_t *e) {
  cJSON **hist;
  int nhist;
  if (read_lines(s->dir, RT_RECORD_HISTORY, &hist, &nhist, e) != 0) return -1;
  search_table(f, s);
  cJSON *pi = last_pi(s, hist, nhist, e);
  if (pi) alternatives(f, s, cJSON_GetObjectItemCaseSensitive(pi, "p"), top);
  cJSON_Delete(pi);
  int rc = 0;
  if (out && s->nlog > 0) {
    rc = draw_search(s, out, e);
    if (rc == 0) fprintf(f, "\ncurves drawn in %s/curves.svg\n", out);
    if (rc == 0 && nhist > 0) rc = draw_pi(s, hist, nhist, out, e);
    if (rc == 0 && nhist > 0) fprintf(f, "pi per node and op over the epochs drawn in %s/pi.svg\n", out);
  }
  free_lines(hist, nhist);
  return rc;
}

static void show_train(FILE *f, const shown *s) {
  fprintf(f, "\nepoch       lr  train loss  train acc  test loss  test acc  seconds\n");
  for (int i = 0; i < s->nlog; i++) {
    const cJSON *j = s->log[i];
    fprintf(f, "%5.0f  %7.5f  %10.4f  %8.2f%%  %9.4f  %7.2f%%  %7.1f\n", num(j, "epoch"), num(j, "lr"),
            num(j, "train_loss"), 100 * num(j, "train_acc"), num(j, "test_loss"), 100 * num(j, "test_acc"),
            num(j, "seconds"));
  }
  if (s->nlog && isfinite(num(s->log[s->nlog - 1], "test_acc")))
    fprintf(f, "test error after epoch %.0f: %.2f%%\n", num(s->log[s->nlog - 1], "epoch"),
            100 * (1 - num(s->log[s->nlog - 1], "test_acc")));
}

int rt_show_run(FILE *f, const char *run, const char *out, int top, err_t *e) {
  shown s;
  int rc = open_run(&s, run, e);
  if (rc == 0 && out) rc = io_mkdirs(out, e);
  gt_genotype g;
  char path[4200];
  snprintf(path, sizeof path, "%s/genotype.txt", run);
  int have_g = rc == 0 && exists(run, "genotype.txt") && rt_rundir_genotype(&s.sp, path, &g, e) == 0;
  if (rc == 0 && !have_g) err_clear(e);
  if (rc == 0) {
    say_header(f, &s);
    if (have_g) {
      char *text = gt_to_text(&s.sp, &g);
      fprintf(f, "%s: %s\n", strcmp(s.kind, "train") ? "mode" : "genotype", text ? text : "?");
      free(text);
    }
    if (strcmp(s.kind, "ensemble") == 0) {
      rc = show_ensemble(f, &s, out, e);
    } else if (strcmp(s.kind, "train") == 0) {
      show_train(f, &s);
      if (out && s.nlog > 0) rc = draw_train(&s, out, e);
      if (rc == 0 && out && s.nlog > 0) fprintf(f, "\ncurves drawn in %s/curves.svg\n", out);
    } else {
      rc = show_search(f, &s, out, top, e);
    }
  }
  if (rc == 0 && out && have_g) rc = draw_cells(f, &s, out, &g, e);
  close_run(&s);
  return rc;
}
