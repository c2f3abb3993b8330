/* parsec-run export's entry, and exporting an ensemble run (parsec-run ensemble): ONNX, one graph that
 * averages the members' softmax; C or CUDA, each member's own sources in
 * DIR/member-K/ (kernels with internal linkage, the API renamed mK_* by the
 * Makefile) and ensemble.c, which averages their softmax behind the same
 * API as one network, so that predict.c serves both. */
#include "embed.h"
#include "io.h"
#include "rt_data.h"
#include "rt_export.h"
#include "rt_onnx.h"
#include "rt_record.h"
#include "version.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MEMBERS 64

typedef struct {
  rt_trained t[MAX_MEMBERS];
  int n;
  const char *classes_spec; /* the data the members were trained on */
} members;

/* RUN/member-K for each member its record lists. */
static int open_members(const char *run, const cJSON *config, members *ms, err_t *e) {
  ms->n = 0;
  const cJSON *model;
  cJSON_ArrayForEach(model, cJSON_GetObjectItemCaseSensitive(config, "models")) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(model, "name");
    if (!cJSON_IsString(name) || strncmp(name->valuestring, "member-", 7) != 0 || ms->n == MAX_MEMBERS) continue;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", run, name->valuestring);
    if (rt_trained_open(&ms->t[ms->n], dir, NULL, NULL, NULL, e) != 0) return err_prefix(e, "%s", dir);
    ms->n++;
  }
  const cJSON *spec = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(config, "data"), "spec");
  ms->classes_spec = cJSON_IsString(spec) ? spec->valuestring : NULL;
  return ms->n ? 0 : err_set(e, "%s lists no trained members", run);
}

static int as_onnx(const rt_export_opts *o, members *ms, err_t *e) {
  rt_onnx_model m[MAX_MEMBERS];
  for (int k = 0; k < ms->n; k++) {
    rt_trained *t = &ms->t[k];
    m[k] = (rt_onnx_model){&t->sp, &t->net, &t->g, &t->lay, t->params, t->stats, t->mean, t->std, NULL, NULL, 0};
  }
  m[0].classes = rt_data_class_names(ms->classes_spec, ms->t[0].net.classes);
  char path[4200];
  snprintf(path, sizeof path, "%s/model.onnx", o->out);
  if (rt_onnx_write_ensemble(path, m, ms->n, e) != 0) return -1;
  printf(
      "exported the ensemble of %d members in %s as ONNX (opset 17) to %s: input 'images' float32 [batch, %d, %d, "
      "%d], pixels / 255; output 'probabilities' [batch, %d], the mean of the members' softmax\n",
      ms->n, o->run, path, ms->t[0].net.input_channels, ms->t[0].net.input_size, ms->t[0].net.input_size,
      ms->t[0].net.classes);
  return 0;
}

/* ensemble.c's declarations of each member's renamed API and its table. */
static void member_code(int n, char *decls, size_t dcap, char *table, size_t tcap) {
  size_t d = 0, t = 0;
  for (int k = 1; k <= n; k++) {
    d += (size_t)snprintf(decls + d, dcap - d,
                          "struct m%d_net;\n"
                          "struct m%d_net *m%d_load(const char *path, char *err, size_t errlen);\n"
                          "void m%d_free(struct m%d_net *net);\n"
                          "void m%d_normalise(const unsigned char *pixels, int n, float *out);\n"
                          "int m%d_forward(struct m%d_net *net, const float *x, int n, float *logits, char *err, "
                          "size_t errlen);\n"
                          "static void *load_%d(const char *p, char *e, size_t l) { return m%d_load(p, e, l); }\n"
                          "static void release_%d(void *net) { m%d_free(net); }\n"
                          "static int forward_%d(void *net, const float *x, int n, float *lg, char *e, size_t l) {\n"
                          "  return m%d_forward(net, x, n, lg, e, l);\n}\n",
                          k, k, k, k, k, k, k, k, k, k, k, k, k, k);
    t += (size_t)snprintf(table + t, tcap - t, "%s{load_%d, release_%d, m%d_normalise, forward_%d}", k > 1 ? ", " : "",
                          k, k, k, k);
  }
}

static int as_sources(const rt_export_opts *o, members *ms, err_t *e) {
  const rt_trained *t0 = &ms->t[0];
  for (int k = 0; k < ms->n; k++) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/member-%d", o->out, k + 1);
    if (io_mkdirs(dir, e) != 0 || rt_export_sources(&ms->t[k], o->target, dir, 1, e) != 0) return -1;
    if (ms->t[k].net.classes != t0->net.classes || ms->t[k].net.input_size != t0->net.input_size ||
        ms->t[k].net.input_channels != t0->net.input_channels)
      return err_set(e, "member %d takes other images or classes than member 1", k + 1);
  }
  char num[4][32], *decls = malloc(4096 * (size_t)ms->n + 1), *table = malloc(128 * (size_t)ms->n + 1);
  if (!decls || !table) {
    free(decls), free(table);
    return err_set(e, "out of memory");
  }
  member_code(ms->n, decls, 4096 * (size_t)ms->n + 1, table, 128 * (size_t)ms->n + 1);
  snprintf(num[0], 32, "%d", ms->n);
  snprintf(num[1], 32, "%d", t0->net.classes);
  snprintf(num[2], 32, "%d", t0->net.input_channels);
  snprintf(num[3], 32, "%d", t0->net.input_size);
  const rt_export_var vars[] = {{"VERSION", PARSEC_VERSION},
                                {"MEMBERS", num[0]},
                                {"CLASSES", num[1]},
                                {"IN_CHANNELS", num[2]},
                                {"SIZE", num[3]},
                                {"DECLS", decls},
                                {"TABLE", table}};
  char *h = rt_export_fill("templates/export/ensemble.h.in", vars, 7, e),
       *c = h ? rt_export_fill("templates/export/ensemble.c.in", vars, 7, e) : NULL;
  char objs[MAX_MEMBERS * 16] = "";
  for (int k = 1, q = 0; k <= ms->n; k++)
    q += snprintf(objs + q, sizeof objs - q, "%smember-%d.o", k > 1 ? " " : "", k);
  const rt_export_var mvars[] = {{"OBJS", objs}};
  char *mk = c ? rt_export_fill(strcmp(o->target, "cuda") ? "templates/export/Makefile.ensemble.c.in"
                                                          : "templates/export/Makefile.ensemble.cu.in",
                                mvars, 1, e)
               : NULL;
  const em_file *pred = em_find("templates/export/predict.c");
  int rc = h && c && mk && pred ? 0 : err_set(e, "out of memory rendering the ensemble");
  const char *names[4] = {"network.h", "ensemble.c", "Makefile", "predict.c"};
  const char *texts[4] = {h, c, mk, pred ? pred->data : ""};
  for (int i = 0; i < 4 && rc == 0; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", o->out, names[i]);
    rc = io_write_text(path, texts[i], e);
  }
  if (rc == 0)
    printf(
        "exported the ensemble of %d members in %s for %s to %s/: member-K/ (each member's sources and weights), "
        "ensemble.c, network.h, predict.c, Makefile\nbuild with: make -C %s\nthen: %s/predict %s IMAGES [LABELS] "
        "(--logits: the log of the mean softmax)\n",
        ms->n, o->run, strcmp(o->target, "cuda") ? "C" : "CUDA", o->out, o->out, o->out, o->out);
  free(decls), free(table), free(h), free(c), free(mk);
  return rc;
}

/* An ensemble run (CONFIG: its record): ONNX, one graph; C or CUDA, each
 * member's sources and a program averaging their softmax. */
static int export_ensemble(const rt_export_opts *o, const cJSON *config, err_t *e) {
  members *ms = calloc(1, sizeof *ms);
  if (!ms) return err_set(e, "out of memory");
  int rc = open_members(o->run, config, ms, e);
  if (rc == 0) rc = rt_export_make_dir(o->out, e);
  int made = rc == 0;
  if (rc == 0) rc = strcmp(o->target, "onnx") == 0 ? as_onnx(o, ms, e) : as_sources(o, ms, e);
  if (rc != 0 && made) { /* what a failed export wrote goes */
    for (int k = 0; k < ms->n; k++) {
      char dir[4200];
      snprintf(dir, sizeof dir, "%s/member-%d", o->out, k + 1);
      rt_export_unmake_dir(dir);
    }
    rt_export_unmake_dir(o->out);
  }
  for (int k = 0; k < ms->n; k++) rt_trained_free(&ms->t[k]);
  free(ms);
  return rc;
}

int rt_export_run(const rt_export_opts *o, err_t *e) {
  if (rt_export_check_target(o->target, e) != 0) return -1;
  char cpath[4200];
  snprintf(cpath, sizeof cpath, "%s/config.json", o->run ? o->run : "");
  cJSON *config = o->run && access(cpath, F_OK) == 0 ? rt_record_config(o->run, e) : NULL;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(config, "kind");
  int rc = cJSON_IsString(kind) && strcmp(kind->valuestring, "ensemble") == 0 ? export_ensemble(o, config, e) : 1;
  cJSON_Delete(config);
  if (rc != 1) return rc;
  err_clear(e); /* no record, or not an ensemble's: one network */
  return rt_export_network(o, e);
}
