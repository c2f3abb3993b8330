#include "rt_export.h"
#include "embed.h"
#include "pl_plan.h"
#include "rt_ckpt.h"
#include "rt_data.h"
#include "rt_onnx.h"
#include "rt_record.h"
#include "io.h"
#include "rt_safetensors.h"
#include "rt_rundir.h"
#include "sp_json.h"
#include "version.h"

#include <cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------- a trained network ---------- */

/* "1,2,3" -> up to MAX integers; the count */
static int int_list(const char *s, int *v, int max) {
  int n = 0;
  while (s && *s && n < max) {
    char *end;
    v[n++] = (int)strtol(s, &end, 10);
    s = *end == ',' ? end + 1 : NULL;
  }
  return n;
}

static int float_list(const char *s, float *v, int max) {
  int n = 0;
  while (s && *s && n < max) {
    char *end;
    v[n++] = strtof(s, &end);
    s = *end == ',' ? end + 1 : NULL;
  }
  return n;
}

int rt_trained_open(rt_trained *t, const char *run, const char *genotype, const char *weights, const char *space,
                    err_t *e) {
  memset(t, 0, sizeof *t);
  char wpath[4200], gpath[4200];
  if (run) {
    snprintf(wpath, sizeof wpath, "%s/weights.safetensors", run);
    snprintf(gpath, sizeof gpath, "%s/genotype.txt", run);
    if (rt_rundir_space(run, "train", "training", "train a network first: parsec-run train --run SEARCH_RUN", &t->sp,
                        e) != 0)
      return -1;
  } else {
    snprintf(wpath, sizeof wpath, "%s", weights);
    if (sp_open(&t->sp, space ? space : "darts", e) != 0) return -1;
  }
  if ((run ? rt_rundir_genotype(&t->sp, gpath, &t->g, e) : gt_resolve(&t->sp, genotype, &t->g, NULL, 0, e)) != 0)
    goto fail;
  /* the network as trained: cells, channels and reductions travel with the weights */
  t->net = t->sp.eval_net;
  t->net.auxiliary = 0;
  char *layers = rt_safetensors_meta(wpath, "layers", e),
       *chans = layers ? rt_safetensors_meta(wpath, "init_channels", e) : NULL;
  char *red = chans ? rt_safetensors_meta(wpath, "reductions", e) : NULL;
  char *mean = red ? rt_safetensors_meta(wpath, "input_mean", e) : NULL,
       *std = mean ? rt_safetensors_meta(wpath, "input_std", e) : NULL;
  int ok = std != NULL;
  if (ok) {
    t->net.cells = (int)strtol(layers, NULL, 10);
    t->net.channels = (int)strtol(chans, NULL, 10);
    t->net.nreductions = int_list(red, t->net.reductions, 16);
    t->nmean = float_list(mean, t->mean, 8);
    float_list(std, t->std, 8);
  }
  free(layers), free(chans), free(red), free(mean), free(std);
  if (!ok) goto fail;
  /* the input size it was trained at (--image-size); weights written before
     it was recorded were trained at the space's */
  err_t none = ERR_INIT;
  char *size = rt_safetensors_meta(wpath, "input_size", &none);
  if (size && strtol(size, NULL, 10) > 0 && strtol(size, NULL, 10) <= 4096) t->net.input_size = (int)strtol(size, NULL, 10);
  free(size);
  err_clear(&none);
  if (t->nmean != t->net.input_channels) {
    err_set(e, "%s: its input statistics are for %d channels, the network takes %d", wpath, t->nmean,
            t->net.input_channels);
    goto fail;
  }
  if (sp_validate_net(&t->sp, &t->net, "evaluation network", e) != 0) goto fail;
  if (nw_eval_layout(&t->lay, &t->sp, &t->net, &t->g, e) != 0) goto fail;
  t->params = calloc(t->lay.nparams + 1, sizeof *t->params);
  t->stats = calloc(t->lay.nstats + 1, sizeof *t->stats);
  if (!t->params || !t->stats) {
    err_set(e, "out of memory");
    goto fail;
  }
  if (rt_safetensors_read(wpath, &t->lay, t->params, t->stats, e) != 0) goto fail;
  return 0;
fail:
  rt_trained_free(t);
  return -1;
}

void rt_trained_free(rt_trained *t) {
  free(t->params);
  free(t->stats);
  nw_free(&t->lay);
  sp_free(&t->sp);
  memset(t, 0, sizeof *t);
}

/* ---------- the targets ---------- */

/* A growing text. */
typedef struct {
  char *s;
  size_t n, cap;
  int failed;
} text;

static void put(text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || t->failed) return;
  if (t->n + (size_t)n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->n + (size_t)n + 1) cap *= 2;
    char *s = realloc(t->s, cap);
    if (!s) {
      t->failed = 1;
      return;
    }
    t->s = s;
    t->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
  va_end(ap);
  t->n += (size_t)n;
}

/* What differs between the C and the CUDA export: one row each. */
typedef struct {
  const char *name;     /* --target */
  const char *label;    /* for messages */
  cg_target kernels;    /* the kernels' rendering */
  const char *source;   /* the forward pass's file */
  const char *tmpl;     /* its template */
  const char *makefile; /* the Makefile's template */
  const char *zero;     /* a memset of (pointer, count) */
  void (*launch)(text *o, const pl_step *s, const cg_spec *on);
} target;

static void launch_c(text *o, const pl_step *s, const cg_spec *on);
static void launch_cuda(text *o, const pl_step *s, const cg_spec *on);

static const target targets[] = {
    {"c", "C", CG_TARGET_C, "network.c", "templates/export/network.c.in", "templates/export/Makefile.c.in",
     "  memset(%s, 0, sizeof(float) * %s);\n", launch_c},
    {"cuda", "CUDA", CG_TARGET_CUDA, "network.cu", "templates/export/network.cu.in", "templates/export/Makefile.cu.in",
     "  CK(cudaMemset(%s, 0, sizeof(float) * %s));\n", launch_cuda},
    {"onnx", "ONNX", CG_TARGET_C, "model.onnx", NULL, NULL, NULL, NULL}, /* a model file, no sources */
};

/* ---------- the forward pass, step by step ---------- */

static int skipped(const pl_plan *p, const pl_step *s) {
  /* inference ends at the logits: the cross-entropy needs labels it has not */
  return s->kind == PS_KERNEL && strcmp(p->specs[s->spec].k->name, "xent") == 0;
}

/* the C expression of a reference; A: scaled arena, F: fixed region, P, S: weights */
static void ref(char *buf, size_t cap, pl_ref r) {
  switch (r.space) {
    case PR_ARENA:
      snprintf(buf, cap, "(A + N * %ldL)", r.off);
      break;
    case PR_FIXED:
      snprintf(buf, cap, "(F + %ldL)", r.off);
      break;
    case PR_PARAM:
      snprintf(buf, cap, "(P + %ldL)", r.off);
      break;
    case PR_STAT:
      snprintf(buf, cap, "(S + %ldL)", r.off);
      break;
    default:
      snprintf(buf, cap, "NULL");
      break;
  }
}

static void dim(char *buf, size_t cap, const pl_dim d) { snprintf(buf, cap, "(%ldL + %ldL * N)", d[0], d[1]); }

/* C: the arguments in locals and a call through the kernel's params array */
static void launch_c(text *o, const pl_step *s, const cg_spec *on) {
  char sym[128], a[128];
  cg_symbol(on, CG_F32, sym, sizeof sym);
  put(o, "  {\n");
  for (int j = 0; j < s->nargs; j++) {
    const pl_arg *g = &s->args[j];
    if (g->kind == PA_REF) {
      ref(a, sizeof a, g->ref);
      put(o, "    void *a%d = %s;\n", j, a);
    } else if (g->kind == PA_INT) {
      put(o, "    int a%d = %ld;\n", j, g->i);
    } else if (g->kind == PA_LONG) {
      put(o, "    long a%d = %ldL;\n", j, g->i);
    } else {
      put(o, "    float a%d = (float)%.9g;\n", j, g->kind == PA_FLOAT ? g->f : 0.0f);
    }
  }
  put(o, "    void *args[] = {&N");
  for (int j = 0; j < s->nargs; j++) put(o, ", &a%d", j);
  put(o, "};\n    %s(args);\n  }\n", sym);
}

/* CUDA: a launch of the kernel's grid (a block per work item for @block
   kernels, else a thread per item) */
static void launch_cuda(text *o, const pl_step *s, const cg_spec *on) {
  char sym[128], a[128];
  cg_symbol(on, CG_F32, sym, sizeof sym);
  cg_grid gr;
  err_t e = ERR_INIT;
  if (cg_spec_grid(on, &gr, &e) != 0) o->failed = 1;
  err_clear(&e);
  if (gr.block)
    put(o, "  %s<<<(unsigned)((%ldL * N + %ldL) * %ldL), %d>>>(N", sym, gr.g0n, gr.g0c, gr.g1, CG_BLOCK_THREADS);
  else
    put(o, "  %s<<<blocks(%ldL * N + %ldL, %ldL), 256>>>(N", sym, gr.g0n, gr.g0c, gr.g1);
  for (int j = 0; j < s->nargs; j++) {
    const pl_arg *g = &s->args[j];
    if (g->kind == PA_REF) {
      ref(a, sizeof a, g->ref);
      put(o, ", %s%s", strstr(on->k->arg_type[j], "int") ? "(int *)" : "", a);
    } else if (g->kind == PA_INT || g->kind == PA_LONG) {
      put(o, ", %ld", g->i);
    } else {
      put(o, ", (float)%.9g", g->kind == PA_FLOAT ? g->f : 0.0f);
    }
  }
  put(o, ");\n");
}

static void gemm_step(text *o, const pl_step *s) {
  char a[128], b[128], c[128], m[64], n[64], k[64], la[64], lb[64], lc[64];
  ref(a, sizeof a, s->a);
  ref(b, sizeof b, s->b);
  ref(c, sizeof c, s->c);
  dim(m, sizeof m, s->m);
  dim(n, sizeof n, s->n);
  dim(k, sizeof k, s->k);
  dim(la, sizeof la, s->lda);
  dim(lb, sizeof lb, s->ldb);
  dim(lc, sizeof lc, s->ldc);
  put(o,
      "  if (gemm_rm(net, %d, %d, %s, %s, %s, (float)%.9g, %s, %s, %s, %s, (float)%.9g, %s, %s)) return fail(err, "
      "errlen, \"gemm\");\n",
      s->ta, s->tb, m, n, k, s->alpha, a, la, b, lb, s->beta, c, lc);
}

static void emit_steps(text *o, const pl_plan *p, const target *tg) {
  for (int i = 0; i < p->nsteps; i++) {
    const pl_step *s = &p->steps[i];
    if (skipped(p, s)) continue;
    put(o, "  /* %s */\n", p->ops[s->op].what);
    if (s->kind == PS_ZERO) {
      char a[128], n[64];
      ref(a, sizeof a, s->a);
      dim(n, sizeof n, s->count);
      put(o, tg->zero, a, n);
    } else if (s->kind == PS_GEMM) {
      gemm_step(o, s);
    } else {
      const cg_spec on = cg_spec_on(&p->specs[s->spec], tg->kernels);
      tg->launch(o, s, &on);
    }
  }
}

/* ---------- filling the templates ---------- */

typedef rt_export_var var;

char *rt_export_fill(const char *path, const rt_export_var *vars, int n, err_t *e) {
  const em_file *f = em_find(path);
  if (!f) {
    err_set(e, "internal: %s is not embedded in this build", path);
    return NULL;
  }
  text o = {0};
  for (const char *p = f->data; *p;) {
    const char *at = strchr(p, '@');
    if (!at) {
      put(&o, "%s", p);
      break;
    }
    put(&o, "%.*s", (int)(at - p), p);
    int k = 0;
    for (; k < n; k++) {
      size_t l = strlen(vars[k].name);
      if (strncmp(at + 1, vars[k].name, l) == 0 && at[1 + l] == '@') break;
    }
    if (k == n) { /* not a placeholder: an @ of the code */
      put(&o, "@");
      p = at + 1;
      continue;
    }
    put(&o, "%s", vars[k].value);
    p = at + strlen(vars[k].name) + 2;
  }
  if (o.failed || !o.s) {
    free(o.s);
    err_set(e, "out of memory rendering %s", path);
    return NULL;
  }
  return o.s;
}

static void floats(char *buf, size_t cap, const float *v, int n) {
  size_t o = 0;
  buf[0] = 0;
  for (int i = 0; i < n && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%.9gf", i ? ", " : "", v[i]);
}

/* network.h, the forward pass and the Makefile of network T for target TG */
static int render(const rt_trained *t, const pl_plan *p, const target *tg, const char *kernels, const char *gtext,
                  char *out[3], err_t *e) {
  char num[10][64], mean[256], std[256];
  snprintf(num[0], 64, "%d", t->net.cells);
  snprintf(num[1], 64, "%d", t->net.channels);
  snprintf(num[2], 64, "%d", t->net.input_channels);
  snprintf(num[3], 64, "%d", t->net.input_size);
  snprintf(num[4], 64, "%d", t->net.classes);
  snprintf(num[5], 64, "%ld", p->arena_units);
  snprintf(num[6], 64, "%ld", p->fixed_elems);
  snprintf(num[7], 64, "%zu", t->lay.nparams);
  snprintf(num[8], 64, "%zu", t->lay.nstats);
  floats(mean, sizeof mean, t->mean, t->net.input_channels);
  floats(std, sizeof std, t->std, t->net.input_channels);
  char images[64], logits[64];
  snprintf(images, sizeof images, "%ld", p->images.off);
  snprintf(logits, sizeof logits, "%ld", p->logits.off);
  text steps = {0};
  emit_steps(&steps, p, tg);
  if (steps.failed) return err_set(e, "out of memory rendering the forward pass");
  var v[] = {{"VERSION", PARSEC_VERSION},
             {"GENOTYPE", gtext},
             {"CELLS", num[0]},
             {"CHANNELS", num[1]},
             {"IN_CHANNELS", num[2]},
             {"SIZE", num[3]},
             {"CLASSES", num[4]},
             {"ARENA_UNITS", num[5]},
             {"FIXED_ELEMS", num[6]},
             {"NPARAMS", num[7]},
             {"NSTATS", num[8]},
             {"MEAN", mean},
             {"STD", std},
             {"IMAGES_OFF", images},
             {"LOGITS_OFF", logits},
             {"KERNELS", kernels},
             {"STEPS", steps.s ? steps.s : ""},
             {"COMMON", ""}};
  int nv = (int)(sizeof v / sizeof v[0]);
  char *common = rt_export_fill("templates/export/common.inc", v, nv, e);
  v[nv - 1].value = common ? common : "";
  out[0] = common ? rt_export_fill("templates/export/network.h.in", v, nv, e) : NULL;
  out[1] = out[0] ? rt_export_fill(tg->tmpl, v, nv, e) : NULL;
  out[2] = out[1] ? rt_export_fill(tg->makefile, v, nv, e) : NULL;
  free(common);
  free(steps.s);
  return out[2] ? 0 : -1;
}

/* weights.bin: "PARSECW1", the two counts, the parameters and statistics */
static int write_weights(const char *path, const rt_trained *t, err_t *e) {
  uint64_t counts[2] = {t->lay.nparams, t->lay.nstats};
  io_part parts[4] = {
      {"PARSECW1", 8}, {counts, sizeof counts}, {t->params, t->lay.nparams * 4}, {t->stats, t->lay.nstats * 4}};
  return io_write_parts(path, parts, 4, 0, e);
}

static const target *find_target(const char *name, err_t *e) {
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
    if (strcmp(targets[i].name, name) == 0) return &targets[i];
  err_set_code(e, ERR_USAGE, "--target takes c, cuda or onnx, not '%s'", name);
  return NULL;
}

/* The kernels' definitions made static: several exported networks then
 * link into one program (an ensemble) though they share kernels. */
static char *internal_linkage(char *k, err_t *e) {
  static const char *const from[3] = {"\nvoid ", "\nextern \"C\" __global__ void ", "\n__device__ acc_t "};
  static const char *const to[3] = {"\nstatic void ", "\nstatic __global__ void ",
                                    "\nstatic __device__ __attribute__((unused)) acc_t "};
  text o = {0};
  for (const char *p = k; *p;) {
    int w = -1;
    const char *at = NULL;
    for (int i = 0; i < 3; i++) {
      const char *f = strstr(p, from[i]);
      if (f && (!at || f < at)) at = f, w = i;
    }
    if (!at) {
      put(&o, "%s", p);
      break;
    }
    put(&o, "%.*s%s", (int)(at - p), p, to[w]);
    p = at + strlen(from[w]);
  }
  free(k);
  if (o.failed || !o.s) {
    free(o.s);
    err_set(e, "out of memory");
    return NULL;
  }
  return o.s;
}

/* The kernels of plan P (not the cross-entropy: inference has no labels),
 * rendered for TG; INTERNAL: with internal linkage. */
static char *render_kernels(const pl_plan *p, const target *tg, int internal, err_t *e) {
  cg_spec *specs = malloc(sizeof *specs * (size_t)(p->nspecs + 1));
  if (!specs) {
    err_set(e, "out of memory");
    return NULL;
  }
  int ns = 0;
  for (int i = 0; i < p->nspecs; i++)
    if (strcmp(p->specs[i].k->name, "xent") != 0) specs[ns++] = p->specs[i];
  char *k = cg_render(specs, ns, tg->kernels, CG_F32, e);
  free(specs);
  return k && internal ? internal_linkage(k, e) : k;
}

static const char *const written[] = {"network.h",   "network.c",  "network.cu", "Makefile",  "predict.c",
                                      "weights.bin", "model.onnx", "cells.dot",  "cells.svg", "ensemble.c"};

/* The export's directory, made before any work: a location that cannot be
 * one fails at once, and an existing directory is never written into. */
int rt_export_make_dir(const char *dir, err_t *e) {
  struct stat st;
  if (stat(dir, &st) == 0)
    return err_set_code(e, ERR_USAGE, "%s already exists: export into a new directory (nothing was overwritten)", dir);
  return io_mkdirs(dir, e) ? err_prefix(e, "-o %s cannot be made", dir) : 0;
}

/* What a failed export wrote goes again, and its directory. */
void rt_export_unmake_dir(const char *dir) {
  char path[4200];
  for (size_t i = 0; i < sizeof written / sizeof written[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, written[i]);
    unlink(path);
  }
  rmdir(dir);
}

/* Every file of the export into its new directory DIR. */
static int write_all(const char *dir, const rt_trained *t, const target *tg, char *const files[3], err_t *e) {
  const em_file *pred = em_find("templates/export/predict.c");
  if (!pred) return err_set(e, "internal: the predict program is not embedded in this build");
  const char *names[4] = {"network.h", tg->source, "Makefile", "predict.c"};
  const char *texts[4] = {files[0], files[1], files[2], pred->data};
  char path[4200];
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (io_write_text(path, texts[i], e) != 0) return -1;
  }
  snprintf(path, sizeof path, "%s/weights.bin", dir);
  if (write_weights(path, t, e) != 0) return -1;
  return rt_rundir_write_cells(dir, &t->sp, &t->g, "exported genotype", 0, NULL, e);
}

/* DIR/model.onnx and the cells; the class names when the training run's
 * record names a data set that has them. */
static int export_onnx(const rt_trained *t, const char *run, const char *dir, err_t *e) {
  cJSON *config = run ? rt_record_config(run, e) : NULL;
  err_clear(e); /* a run from before the record: no class names */
  const cJSON *spec = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(config, "data"), "spec");
  char *gtext = gt_to_text(&t->sp, &t->g), path[4200];
  char cells[16], chans[16];
  snprintf(cells, sizeof cells, "%d", t->net.cells);
  snprintf(chans, sizeof chans, "%d", t->net.channels);
  const char *meta[] = {"space",          t->sp.name,    "layers", cells,
                        "init_channels",  chans,         "data",   cJSON_IsString(spec) ? spec->valuestring : "",
                        "parsec_version", PARSEC_VERSION};
  rt_onnx_model m = {
      &t->sp,  &t->net,   &t->g,
      &t->lay, t->params, t->stats,
      t->mean, t->std,    rt_data_class_names(cJSON_IsString(spec) ? spec->valuestring : NULL, t->net.classes),
      meta,    10};
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  int rc = gtext ? rt_onnx_write(path, &m, e) : err_set(e, "out of memory");
  if (rc == 0) rc = rt_rundir_write_cells(dir, &t->sp, &t->g, "exported genotype", 0, NULL, e);
  if (rc == 0)
    printf(
        "exported %s (%d cells, C %d, %zu parameters) as ONNX (opset 17) to %s/model.onnx, with cells.dot\n"
        "input 'images': float32 [batch, %d, %d, %d], pixels / 255; output 'logits' [batch, %d]\n",
        t->sp.name, t->net.cells, t->net.channels, nw_param_count(&t->lay), dir, t->net.input_channels,
        t->net.input_size, t->net.input_size, t->net.classes);
  free(gtext);
  cJSON_Delete(config);
  return rc;
}

int rt_export_check_target(const char *name, err_t *e) { return find_target(name, e) ? 0 : -1; }

int rt_export_sources(const rt_trained *t, const char *target_name, const char *dir, int internal, err_t *e) {
  const target *tg = find_target(target_name, e);
  if (!tg) return -1;
  pl_plan p = {0};
  char *kernels = NULL, *gtext = NULL, *files[3] = {NULL, NULL, NULL};
  int rc = pl_build_eval(&p, &t->sp, &t->net, &t->lay, &t->g, PL_EVAL, 0, 0, e);
  if (rc == 0) {
    kernels = render_kernels(&p, tg, internal, e);
    gtext = kernels ? gt_to_text(&t->sp, &t->g) : NULL;
    rc = gtext ? render(t, &p, tg, kernels, gtext, files, e) : -1;
  }
  if (rc == 0) rc = write_all(dir, t, tg, files, e);
  for (int i = 0; i < 3; i++) free(files[i]);
  free(kernels);
  free(gtext);
  pl_free(&p);
  return rc;
}

int rt_export_network(const rt_export_opts *o, err_t *e) {
  const target *tg = find_target(o->target, e);
  if (!tg) return -1;
  if (rt_export_make_dir(o->out, e) != 0) return -1;
  rt_trained t;
  if (rt_trained_open(&t, o->run, o->genotype, o->weights, o->space, e) != 0) {
    rt_export_unmake_dir(o->out);
    return -1;
  }
  int rc = !tg->tmpl ? export_onnx(&t, o->run, o->out, e) : rt_export_sources(&t, o->target, o->out, 0, e);
  if (rc == 0 && tg->tmpl)
    printf(
        "exported %s (%d cells, C %d, %zu parameters) for %s to %s/: %s, network.h, weights.bin, "
        "predict.c, Makefile, cells.dot\nbuild with: make -C %s\nthen: %s/predict %s/weights.bin IMAGES [LABELS]\n",
        t.sp.name, t.net.cells, t.net.channels, nw_param_count(&t.lay), tg->label, o->out, tg->source, o->out, o->out,
        o->out);
  if (rc != 0) rt_export_unmake_dir(o->out);
  rt_trained_free(&t);
  return rc;
}
