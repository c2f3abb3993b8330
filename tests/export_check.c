/* Compares the output of an exported network (predict --logits OUT.npy)
 * with parsec's own on the same images, within 1e-4 + 1e-4 * |x|:
 *   export_check RUN DATA LIMIT OUT.npy
 * RUN: a training run (OUT holds its logits), or an ensemble run (OUT holds
 * the log of the mean of its members' softmax, parsec's members' forward
 * passes giving the reference).  DATA as for parsec-run (the test split of
 * a named set, or npy:IMAGES,LABELS). */
#include "rt_cpu.h"
#include "rt_data.h"
#include "rt_export.h"
#include "rt_runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_npy(const char *path, long n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char h[10];
  if (fread(h, 1, 10, f) != 10) return NULL;
  long hl = h[8] | h[9] << 8;
  fseek(f, 10 + hl, SEEK_SET);
  float *v = malloc(sizeof *v * (size_t)n);
  size_t got = fread(v, sizeof *v, (size_t)n, f);
  fclose(f);
  return (long)got == n ? v : NULL;
}

static void die(const char *what, const err_t *e) {
  fprintf(stderr, "export_check: %s%s%s\n", what, e ? ": " : "", e ? err_msg(e) : "");
  exit(2);
}

/* parsec's logits [K, N] of the trained network in DIR on the first LIMIT
 * images of DATA; *N, *K: their shape. */
static float *logits_of(const char *dir, const char *data, long limit, int *N, int *K) {
  err_t e = ERR_INIT;
  rt_trained t;
  rt_backend *b;
  rt_model m;
  rt_dataset d;
  int npy = strncmp(data, "npy:", 4) == 0;
  if (rt_trained_open(&t, dir, NULL, NULL, NULL, &e) || rt_cpu_open(&b, CG_F32, 0, &e) ||
      rt_model_init(&m, b, &t.lay, 0, &e) || rt_data_open(&d, data, npy ? RT_SPLIT_TRAIN : RT_SPLIT_TEST, &e))
    die(dir, &e);
  memcpy(m.params, t.params, t.lay.nparams * 4);
  memcpy(m.stats, t.stats, t.lay.nstats * 4);
  rt_data_limit(&d, (int)limit);
  pl_plan p;
  rt_runner r;
  *N = d.n, *K = t.net.classes;
  if (pl_build_eval(&p, &t.sp, &t.net, &t.lay, &t.g, PL_EVAL, 0, 0, &e) ||
      rt_runner_init(&r, b, &m, *N, (long)d.c * d.h * d.w, 1, &e))
    die(dir, &e);
  int *idx = malloc(sizeof *idx * (size_t)*N);
  for (int i = 0; i < *N; i++) idx[i] = i;
  rt_data_batch(&d, idx, *N, t.mean, t.std, NULL, NULL, r.himg, 4, r.hlab);
  rt_result res;
  if (rt_runner_run(&r, &p, *N, 0, 0, &res, &e)) die(dir, &e);
  rt_bind bind = rt_model_bind(&m, r.arena);
  float *out = malloc(sizeof *out * (size_t)*N * *K);
  memcpy(out, rt_ref_ptr(b, &p, &bind, p.logits, *N), sizeof *out * (size_t)*N * *K);
  free(idx);
  pl_free(&p);
  rt_runner_free(&r);
  rt_data_free(&d);
  rt_model_free(&m);
  rt_backend_close(b);
  rt_trained_free(&t);
  return out;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: export_check RUN DATA LIMIT OUT.npy\n");
    return 2;
  }
  long limit = strtol(argv[3], NULL, 10);
  char member[4200];
  snprintf(member, sizeof member, "%s/member-1/weights.safetensors", argv[1]);
  FILE *probe = fopen(member, "rb");
  int ensemble = probe != NULL, N = 0, K = 0, members = 0;
  if (probe) fclose(probe);
  double *want = NULL;
  for (int k = 1; k <= (ensemble ? 64 : 1); k++) {
    snprintf(member, sizeof member, "%s/member-%d/weights.safetensors", argv[1], k);
    if (ensemble && !(probe = fopen(member, "rb"))) break;
    if (ensemble) fclose(probe);
    snprintf(member, sizeof member, ensemble ? "%s/member-%d" : "%s", argv[1], k);
    float *lg = logits_of(member, argv[2], limit, &N, &K); /* [K, N] */
    if (!want) want = calloc((size_t)N * K, sizeof *want);
    for (int i = 0; i < N; i++) {
      double mx = -INFINITY, s = 0;
      for (int c = 0; c < K; c++) mx = fmax(mx, lg[(long)c * N + i]);
      for (int c = 0; c < K; c++) s += exp(lg[(long)c * N + i] - mx);
      for (int c = 0; c < K; c++)
        want[(long)i * K + c] += ensemble ? exp(lg[(long)c * N + i] - mx) / s : lg[(long)c * N + i];
    }
    free(lg);
    members++;
  }
  float *theirs = read_npy(argv[4], (long)N * K); /* [N, K] */
  if (!theirs) {
    fprintf(stderr, "export_check: cannot read %d x %d values from %s\n", N, K, argv[4]);
    return 2;
  }
  double worst = 0;
  long bad = 0;
  for (long i = 0; i < (long)N * K; i++) {
    double a = ensemble ? log(want[i] / members) : want[i], err = fabs(a - theirs[i]);
    if (err > 1e-4 + 1e-4 * fabs(a)) bad++;
    if (err > worst) worst = err;
  }
  printf("%d images x %d %s: largest difference %.3g, %ld beyond 1e-4 + 1e-4 |x|\n", N, K,
         ensemble ? "log mean probabilities" : "logits", worst, bad);
  free(theirs);
  free(want);
  return bad ? 1 : 0;
}
