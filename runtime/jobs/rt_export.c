#include "rt_export.h"
#include "embed.h"
#include "pl_plan.h"
#include "rt_ckpt.h"
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
    if (rt_rundir_space(run, "train", "training", "train a network first: parsec-run train --run SEARCH_RUN", &t->sp, e) != 0)
      return -1;
  } else {
    snprintf(wpath, sizeof wpath, "%s", weights);
    snprintf(gpath, sizeof gpath, "%s", genotype);
    if (sp_open(&t->sp, space ? space : "darts", e) != 0) return -1;
  }
  if (rt_rundir_genotype(&t->sp, gpath, &t->g, e) != 0) goto fail;
  /* the network as trained: cells, channels and reductions travel with the weights */
  t->net = t->sp.eval_net;
  t->net.auxiliary = 0;
  char *layers = rt_safetensors_meta(wpath, "layers", e), *chans = layers ? rt_safetensors_meta(wpath, "init_channels", e) : NULL;
  char *red = chans ? rt_safetensors_meta(wpath, "reductions", e) : NULL;
  char *mean = red ? rt_safetensors_meta(wpath, "input_mean", e) : NULL, *std = mean ? rt_safetensors_meta(wpath, "input_std", e) : NULL;
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

/* ---------- code generation ---------- */

typedef struct {
  FILE *f;
  int failed;
} out;

static void put(out *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (vfprintf(o->f, fmt, ap) < 0) o->failed = 1;
  va_end(ap);
}

static int skipped(const pl_plan *p, const pl_step *s) {
  /* inference ends at the logits: the cross-entropy needs labels it has not */
  return s->kind == PS_KERNEL && strcmp(p->specs[s->spec].k->name, "xent") == 0;
}

/* the C expression of a reference; A: scaled arena, F: fixed region, P, S: weights */
static void ref(char *buf, size_t cap, pl_ref r) {
  switch (r.space) {
  case PR_ARENA: snprintf(buf, cap, "(A + N * %ldL)", r.off); break;
  case PR_FIXED: snprintf(buf, cap, "(F + %ldL)", r.off); break;
  case PR_PARAM: snprintf(buf, cap, "(P + %ldL)", r.off); break;
  case PR_STAT: snprintf(buf, cap, "(S + %ldL)", r.off); break;
  default: snprintf(buf, cap, "NULL"); break;
  }
}

static void dim(char *buf, size_t cap, const pl_dim d) { snprintf(buf, cap, "(%ldL + %ldL * N)", d[0], d[1]); }

static void emit_steps(out *o, const pl_plan *p, int cuda) {
  for (int i = 0; i < p->nsteps; i++) {
    const pl_step *s = &p->steps[i];
    if (skipped(p, s)) continue;
    char a[128], b[128], c[128], m[64], n[64], k[64], la[64], lb[64], lc[64];
    put(o, "  /* %s */\n", p->ops[s->op].what);
    if (s->kind == PS_ZERO) {
      ref(a, sizeof a, s->a);
      dim(n, sizeof n, s->count);
      if (cuda) put(o, "  CK(cudaMemset(%s, 0, sizeof(float) * %s));\n", a, n);
      else put(o, "  memset(%s, 0, sizeof(float) * %s);\n", a, n);
      continue;
    }
    if (s->kind == PS_GEMM) {
      ref(a, sizeof a, s->a);
      ref(b, sizeof b, s->b);
      ref(c, sizeof c, s->c);
      dim(m, sizeof m, s->m);
      dim(n, sizeof n, s->n);
      dim(k, sizeof k, s->k);
      dim(la, sizeof la, s->lda);
      dim(lb, sizeof lb, s->ldb);
      dim(lc, sizeof lc, s->ldc);
      put(o, "  if (gemm_rm(net, %d, %d, %s, %s, %s, (float)%.9g, %s, %s, %s, %s, (float)%.9g, %s, %s)) return fail(err, errlen, \"gemm\");\n",
          s->ta, s->tb, m, n, k, s->alpha, a, la, b, lb, s->beta, c, lc);
      continue;
    }
    const cg_spec on = cg_spec_on(&p->specs[s->spec], cuda ? CG_TARGET_CUDA : CG_TARGET_C), *sp = &on;
    char sym[128];
    cg_symbol(sp, CG_F32, sym, sizeof sym);
    if (!cuda) {
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
    } else {
      cg_grid gr;
      err_t e = ERR_INIT;
      if (cg_spec_grid(sp, &gr, &e) != 0) o->failed = 1;
      err_clear(&e);
      if (gr.block) /* one block per work item */
        put(o, "  %s<<<(unsigned)((%ldL * N + %ldL) * %ldL), %d>>>(N", sym, gr.g0n, gr.g0c, gr.g1, CG_BLOCK_THREADS);
      else
        put(o, "  %s<<<blocks(%ldL * N + %ldL, %ldL), 256>>>(N", sym, gr.g0n, gr.g0c, gr.g1);
      for (int j = 0; j < s->nargs; j++) {
        const pl_arg *g = &s->args[j];
        if (g->kind == PA_REF) {
          ref(a, sizeof a, g->ref);
          put(o, ", %s%s", strstr(sp->k->arg_type[j], "int") ? "(int *)" : "", a);
        } else if (g->kind == PA_INT || g->kind == PA_LONG) {
          put(o, ", %ld", g->i);
        } else {
          put(o, ", (float)%.9g", g->kind == PA_FLOAT ? g->f : 0.0f);
        }
      }
      put(o, ");\n");
    }
  }
}

/* the parts of network.c and network.cu that are the same */
static void emit_common(out *o, const rt_trained *t, const pl_plan *p) {
  int C = t->net.input_channels;
  put(o, "#define ARENA_UNITS %ldL /* per sample */\n#define FIXED_ELEMS %ldL\n#define NPARAMS %zuL\n#define NSTATS %zuL\n",
      p->arena_units, p->fixed_elems, t->lay.nparams, t->lay.nstats);
  put(o, "static const float input_mean[%d] = {", C);
  for (int c = 0; c < C; c++) put(o, "%s%.9gf", c ? ", " : "", t->mean[c]);
  put(o, "};\nstatic const float input_std[%d] = {", C);
  for (int c = 0; c < C; c++) put(o, "%s%.9gf", c ? ", " : "", t->std[c]);
  put(o, "};\n\n");
  put(o, "static int fail(char *err, size_t errlen, const char *what) {\n"
         "  if (err) snprintf(err, errlen, \"%%s failed\", what);\n  return -1;\n}\n\n");
  put(o, "void parsec_net_normalise(const unsigned char *pixels, int n, float *out) {\n"
         "  const long hw = (long)PARSEC_NET_SIZE * PARSEC_NET_SIZE;\n"
         "  for (long i = 0; i < n; i++)\n"
         "    for (int c = 0; c < PARSEC_NET_CHANNELS; c++)\n"
         "      for (long k = 0; k < hw; k++) {\n"
         "        const long at = (i * PARSEC_NET_CHANNELS + c) * hw + k;\n"
         "        out[at] = (pixels[at] / 255.0f - input_mean[c]) / input_std[c];\n"
         "      }\n}\n\n");
  put(o, "/* weights.bin: \"PARSECW1\", the counts of parameters and statistics (two\n"
         "   little-endian 64-bit integers), then both as float32 */\n"
         "static int read_weights(const char *path, float *params, float *stats, char *err, size_t errlen) {\n"
         "  FILE *f = fopen(path, \"rb\");\n"
         "  char magic[8];\n  uint64_t counts[2];\n"
         "  if (!f) { snprintf(err, errlen, \"cannot open %%s\", path); return -1; }\n"
         "  int ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, \"PARSECW1\", 8) == 0 && fread(counts, 8, 2, f) == 2 &&\n"
         "           counts[0] == (uint64_t)NPARAMS && counts[1] == (uint64_t)NSTATS &&\n"
         "           fread(params, 4, NPARAMS, f) == (size_t)NPARAMS && fread(stats, 4, NSTATS, f) == (size_t)NSTATS;\n"
         "  fclose(f);\n"
         "  if (!ok) snprintf(err, errlen, \"%%s: not the weights of this network (or truncated)\", path);\n"
         "  return ok ? 0 : -1;\n}\n\n");
}

static void emit_header(out *o, const rt_trained *t, const char *gtext) {
  put(o, "/* The network exported by parsec-run export (parsec %s).\n * %s\n * %d cells, C %d, input %dx%dx%d, %d "
         "classes. */\n#ifndef PARSEC_NETWORK_H\n#define PARSEC_NETWORK_H\n#include <stddef.h>\n\n",
      PARSEC_VERSION, gtext, t->net.cells, t->net.channels, t->net.input_channels, t->net.input_size,
      t->net.input_size, t->net.classes);
  put(o, "#define PARSEC_NET_CHANNELS %d\n#define PARSEC_NET_SIZE %d\n#define PARSEC_NET_CLASSES %d\n\n",
      t->net.input_channels, t->net.input_size, t->net.classes);
  put(o, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
         "typedef struct parsec_net parsec_net;\n\n"
         "/* Loads weights.bin; NULL with a message in ERR on failure. */\n"
         "parsec_net *parsec_net_load(const char *weights_path, char *err, size_t errlen);\n"
         "void parsec_net_free(parsec_net *net);\n"
         "/* uint8 pixels [n, C, H, W] to the normalised floats the network takes */\n"
         "void parsec_net_normalise(const unsigned char *pixels, int n, float *out);\n"
         "/* logits [n, K] of normalised images [n, C, H, W]; 0, or -1 with ERR */\n"
         "int parsec_net_forward(parsec_net *net, const float *images, int n, float *logits, char *err, size_t errlen);\n\n"
         "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static void emit_c(out *o, const rt_trained *t, const pl_plan *p, const char *kernels, const char *gtext) {
  put(o, "/* The forward pass of one network, generated by parsec-run export: the\n * kernels specialised for its shapes, "
         "then each layer call in order.\n * %s */\n#include \"network.h\"\n\n#include <stdint.h>\n#include "
         "<stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n",
      gtext);
  put(o, "%s\n", kernels);
  emit_common(o, t, p);
  put(o, "struct parsec_net {\n  float *params, *stats, *arena;\n  size_t cap;\n};\n\n");
  put(o, "/* row-major C = alpha op(A) op(B) + beta C: plain loops, rows in parallel */\n"
         "static int gemm_rm(parsec_net *net, int ta, int tb, long m, long n, long k, float alpha, const float *A, long lda,\n"
         "                   const float *B, long ldb, float beta, float *C, long ldc) {\n"
         "  (void)net;\n"
         "  #pragma omp parallel for schedule(static)\n"
         "  for (long i = 0; i < m; i++) {\n"
         "    float *c = C + i * ldc;\n"
         "    for (long j = 0; j < n; j++) c[j] = beta == 0 ? 0 : beta * c[j];\n"
         "    if (!tb) {\n"
         "      for (long l = 0; l < k; l++) {\n"
         "        const float a = alpha * (ta ? A[l * lda + i] : A[i * lda + l]);\n"
         "        const float *b = B + l * ldb;\n"
         "        for (long j = 0; j < n; j++) c[j] += a * b[j];\n"
         "      }\n"
         "    } else {\n"
         "      for (long j = 0; j < n; j++) {\n"
         "        float s = 0;\n"
         "        for (long l = 0; l < k; l++) s += (ta ? A[l * lda + i] : A[i * lda + l]) * B[j * ldb + l];\n"
         "        c[j] += alpha * s;\n"
         "      }\n"
         "    }\n"
         "  }\n"
         "  return 0;\n}\n\n");
  put(o, "parsec_net *parsec_net_load(const char *path, char *err, size_t errlen) {\n"
         "  parsec_net *net = calloc(1, sizeof *net);\n"
         "  if (net) net->params = malloc(4 * (NPARAMS + 1)), net->stats = malloc(4 * (NSTATS + 1));\n"
         "  if (!net || !net->params || !net->stats) { snprintf(err, errlen, \"out of memory\"); parsec_net_free(net); return NULL; }\n"
         "  if (read_weights(path, net->params, net->stats, err, errlen) != 0) { parsec_net_free(net); return NULL; }\n"
         "  return net;\n}\n\n"
         "void parsec_net_free(parsec_net *net) {\n"
         "  if (!net) return;\n  free(net->params);\n  free(net->stats);\n  free(net->arena);\n  free(net);\n}\n\n");
  put(o, "int parsec_net_forward(parsec_net *net, const float *images, int n, float *logits, char *err, size_t errlen) {\n"
         "  long N = n;\n"
         "  const size_t need = (size_t)ARENA_UNITS * N + FIXED_ELEMS;\n"
         "  if (need > net->cap) {\n"
         "    free(net->arena);\n"
         "    net->arena = malloc(need * sizeof(float));\n"
         "    net->cap = net->arena ? need : 0;\n"
         "    if (!net->arena) return fail(err, errlen, \"allocating the arena\");\n"
         "  }\n"
         "  float *A = net->arena, *F = A + ARENA_UNITS * N, *S = net->stats, *P = net->params;\n"
         "  (void)F; (void)S; (void)P;\n"
         "  const long hw = (long)PARSEC_NET_SIZE * PARSEC_NET_SIZE;\n"
         "  float *img = A + N * %ldL; /* the layout is channel-major: [C, N, H, W] */\n"
         "  for (long i = 0; i < N; i++)\n"
         "    for (int c = 0; c < PARSEC_NET_CHANNELS; c++)\n"
         "      memcpy(img + (c * N + i) * hw, images + (i * PARSEC_NET_CHANNELS + c) * hw, sizeof(float) * hw);\n",
      p->images.off);
  emit_steps(o, p, 0);
  put(o, "  const float *lg = A + N * %ldL; /* [K, N] */\n"
         "  for (long i = 0; i < N; i++)\n"
         "    for (int k = 0; k < PARSEC_NET_CLASSES; k++) logits[i * PARSEC_NET_CLASSES + k] = lg[k * N + i];\n"
         "  return 0;\n}\n",
      p->logits.off);
}

static void emit_cuda(out *o, const rt_trained *t, const pl_plan *p, const char *kernels, const char *gtext) {
  put(o, "/* The forward pass of one network on a GPU, generated by parsec-run export:\n * the kernels specialised for its "
         "shapes, then each layer call in order;\n * GEMMs through cuBLAS.\n * %s */\n#include \"network.h\"\n\n"
         "#include <cublas_v2.h>\n#include <cuda_runtime.h>\n#include <stdint.h>\n#include <stdio.h>\n#include "
         "<stdlib.h>\n#include <string.h>\n\n",
      gtext);
  put(o, "%s\n", kernels);
  emit_common(o, t, p);
  put(o, "struct parsec_net {\n  float *params, *stats, *arena, *host;\n  size_t cap;\n  cublasHandle_t blas;\n};\n\n"
         "static unsigned blocks(long outer, long inner) { return (unsigned)((outer * inner + 255) / 256); }\n"
         "#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { snprintf(err, errlen, \"%%s: %%s\", #x, cudaGetErrorString(e_)); return -1; } } while (0)\n\n"
         "/* row-major C = op(A) op(B): column-major C^T = op(B)^T op(A)^T */\n"
         "static int gemm_rm(parsec_net *net, int ta, int tb, long m, long n, long k, float alpha, const float *A, long lda,\n"
         "                   const float *B, long ldb, float beta, float *C, long ldc) {\n"
         "  return cublasSgemm(net->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m,\n"
         "                     (int)k, &alpha, B, (int)ldb, A, (int)lda, &beta, C, (int)ldc) != CUBLAS_STATUS_SUCCESS;\n}\n\n");
  put(o, "parsec_net *parsec_net_load(const char *path, char *err, size_t errlen) {\n"
         "  parsec_net *net = (parsec_net *)calloc(1, sizeof *net);\n"
         "  float *hp = (float *)malloc(4 * (NPARAMS + 1)), *hs = (float *)malloc(4 * (NSTATS + 1));\n"
         "  int ok = net && hp && hs && read_weights(path, hp, hs, err, errlen) == 0;\n"
         "  if (ok) ok = cudaMalloc((void **)&net->params, 4 * (NPARAMS + 1)) == cudaSuccess &&\n"
         "               cudaMalloc((void **)&net->stats, 4 * (NSTATS + 1)) == cudaSuccess &&\n"
         "               cudaMemcpy(net->params, hp, 4 * NPARAMS, cudaMemcpyHostToDevice) == cudaSuccess &&\n"
         "               cudaMemcpy(net->stats, hs, 4 * NSTATS, cudaMemcpyHostToDevice) == cudaSuccess &&\n"
         "               cublasCreate(&net->blas) == CUBLAS_STATUS_SUCCESS;\n"
         "  if (!ok && err[0] == 0) snprintf(err, errlen, \"cannot set the network up on the GPU\");\n"
         "  free(hp);\n  free(hs);\n"
         "  if (!ok) { parsec_net_free(net); return NULL; }\n"
         "  return net;\n}\n\n"
         "void parsec_net_free(parsec_net *net) {\n"
         "  if (!net) return;\n  cudaFree(net->params);\n  cudaFree(net->stats);\n  cudaFree(net->arena);\n"
         "  if (net->blas) cublasDestroy(net->blas);\n  free(net->host);\n  free(net);\n}\n\n");
  put(o, "int parsec_net_forward(parsec_net *net, const float *images, int n, float *logits, char *err, size_t errlen) {\n"
         "  long N = n;\n"
         "  const size_t need = (size_t)ARENA_UNITS * N + FIXED_ELEMS;\n"
         "  if (need > net->cap) {\n"
         "    cudaFree(net->arena);\n    free(net->host);\n"
         "    CK(cudaMalloc((void **)&net->arena, need * sizeof(float)));\n"
         "    net->host = (float *)malloc(sizeof(float) * (size_t)N * (PARSEC_NET_CHANNELS * PARSEC_NET_SIZE * PARSEC_NET_SIZE + PARSEC_NET_CLASSES));\n"
         "    net->cap = need;\n"
         "  }\n"
         "  float *A = net->arena, *F = A + ARENA_UNITS * N, *S = net->stats, *P = net->params;\n"
         "  (void)F; (void)S; (void)P;\n"
         "  const long hw = (long)PARSEC_NET_SIZE * PARSEC_NET_SIZE;\n"
         "  for (long i = 0; i < N; i++) /* channel-major on the device: [C, N, H, W] */\n"
         "    for (int c = 0; c < PARSEC_NET_CHANNELS; c++)\n"
         "      memcpy(net->host + (c * N + i) * hw, images + (i * PARSEC_NET_CHANNELS + c) * hw, sizeof(float) * hw);\n"
         "  CK(cudaMemcpy(A + N * %ldL, net->host, sizeof(float) * N * PARSEC_NET_CHANNELS * hw, cudaMemcpyHostToDevice));\n",
      p->images.off);
  emit_steps(o, p, 1);
  put(o, "  CK(cudaGetLastError());\n"
         "  CK(cudaMemcpy(net->host, A + N * %ldL, sizeof(float) * N * PARSEC_NET_CLASSES, cudaMemcpyDeviceToHost));\n"
         "  for (long i = 0; i < N; i++)\n"
         "    for (int k = 0; k < PARSEC_NET_CLASSES; k++) logits[i * PARSEC_NET_CLASSES + k] = net->host[k * N + i];\n"
         "  return 0;\n}\n",
      p->logits.off);
}

static int write_weights(const char *path, const rt_trained *t, err_t *e) {
  FILE *f = fopen(path, "wb");
  if (!f) return err_set(e, "%s: cannot write: %s", path, strerror(errno));
  uint64_t counts[2] = {t->lay.nparams, t->lay.nstats};
  int ok = fwrite("PARSECW1", 1, 8, f) == 8 && fwrite(counts, 8, 2, f) == 2 &&
           fwrite(t->params, 4, t->lay.nparams, f) == t->lay.nparams && fwrite(t->stats, 4, t->lay.nstats, f) == t->lay.nstats;
  ok = fclose(f) == 0 && ok;
  return ok ? 0 : err_set(e, "%s: cannot write", path);
}

int rt_export_run(const rt_export_opts *o, err_t *e) {
  int cuda = strcmp(o->target, "cuda") == 0;
  if (!cuda && strcmp(o->target, "c") != 0) return err_set(e, "--target takes c or cuda, not '%s'", o->target);
  struct stat st;
  if (stat(o->out, &st) == 0)
    return err_set(e, "%s already exists: export into a new directory (nothing was overwritten)", o->out);
  rt_trained t;
  if (rt_trained_open(&t, o->run, o->genotype, o->weights, o->space, e) != 0) return -1;
  pl_plan p;
  int rc = pl_build_eval(&p, &t.sp, &t.net, &t.lay, &t.g, PL_EVAL, 0, 0, e);
  cg_spec *specs = NULL;
  int ns = 0;
  char *kernels = NULL, *gtext = NULL;
  if (rc == 0) {
    specs = malloc(sizeof *specs * (size_t)(p.nspecs + 1));
    for (int i = 0; i < p.nspecs && specs; i++)
      if (strcmp(p.specs[i].k->name, "xent") != 0) specs[ns++] = p.specs[i];
    kernels = specs ? cg_render(specs, ns, cuda ? CG_TARGET_CUDA : CG_TARGET_C, CG_F32, e) : NULL;
    gtext = gt_to_text(&t.sp, &t.g);
    rc = kernels && gtext ? 0 : -1;
  }
  if (rc == 0) rc = io_mkdirs(o->out, e);
  char path[4200];
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/%s", o->out, cuda ? "network.cu" : "network.c");
    out w = {fopen(path, "w"), 0};
    if (!w.f) rc = err_set(e, "%s: cannot write: %s", path, strerror(errno));
    else {
      if (cuda) emit_cuda(&w, &t, &p, kernels, gtext);
      else emit_c(&w, &t, &p, kernels, gtext);
      if (fclose(w.f) != 0 || w.failed) rc = err_set(e, "%s: cannot write", path);
    }
  }
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/network.h", o->out);
    out w = {fopen(path, "w"), 0};
    if (!w.f) rc = err_set(e, "%s: cannot write", path);
    else {
      emit_header(&w, &t, gtext);
      if (fclose(w.f) != 0 || w.failed) rc = err_set(e, "%s: cannot write", path);
    }
  }
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/weights.bin", o->out);
    rc = write_weights(path, &t, e);
  }
  const em_file *pred = em_find("templates/export/predict.c");
  if (rc == 0 && !pred) rc = err_set(e, "internal: the predict program is not embedded in this build");
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/predict.c", o->out);
    rc = io_write_text(path, pred->data, e);
  }
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/Makefile", o->out);
    const char *mk = cuda ? "# Builds predict: the CUDA toolkit (nvcc, cuBLAS) and zlib.\n"
                            "NVCC ?= nvcc\nARCH ?= native\n\n"
                            "predict: predict.c network.cu network.h\n"
                            "\t$(NVCC) -O3 -arch=$(ARCH) -o predict predict.c network.cu -lcublas -lz\n\n"
                            "clean:\n\trm -f predict\n"
                          : "# Builds predict: a C compiler, libm and zlib (OpenMP when the compiler has it).\n"
                            "CC ?= cc\nCFLAGS ?= -O3 -march=native -fopenmp\n\n"
                            "predict: predict.c network.c network.h\n"
                            "\t$(CC) $(CFLAGS) -o predict predict.c network.c -lm -lz\n\n"
                            "clean:\n\trm -f predict\n";
    rc = io_write_text(path, mk, e);
  }
  if (rc == 0) rc = rt_rundir_write_cells(o->out, &t.sp, &t.g, "exported genotype", 0, NULL, e);
  if (rc == 0) {
    printf("exported %s (%d cells, C %d, %zu parameters) for %s to %s/: network.%s, network.h, weights.bin, "
           "predict.c, Makefile, cells.dot\nbuild with: make -C %s\nthen: %s/predict %s/weights.bin IMAGES [LABELS]\n",
           t.sp.name, t.net.cells, t.net.channels, nw_param_count(&t.lay), cuda ? "CUDA" : "C", o->out,
           cuda ? "cu" : "c", o->out, o->out, o->out);
  }
  free(specs);
  free(kernels);
  free(gtext);
  pl_free(&p);
  rt_trained_free(&t);
  return rc;
}
