/* Compares the logits of an exported network (predict --logits OUT.npy) with
 * parsec's own on the same images, within 1e-4 + 1e-4 * |logit|:
 *   export_check TRAIN_RUN DATA LIMIT LOGITS.npy
 * DATA as for parsec-run (the test split of a named set). */
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

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: export_check TRAIN_RUN DATA LIMIT LOGITS.npy\n");
    return 2;
  }
  err_t e = ERR_INIT;
  rt_trained t;
  rt_backend *b;
  rt_model m;
  rt_dataset d;
  long limit = strtol(argv[3], NULL, 10);
  if (rt_trained_open(&t, argv[1], NULL, NULL, NULL, &e) || rt_cpu_open(&b, CG_F32, 0, &e) ||
      rt_model_init(&m, b, &t.lay, 0, &e) || rt_data_open(&d, argv[2], RT_SPLIT_TEST, &e)) {
    fprintf(stderr, "export_check: %s\n", err_msg(&e));
    return 2;
  }
  memcpy(m.params, t.params, t.lay.nparams * 4);
  memcpy(m.stats, t.stats, t.lay.nstats * 4);
  rt_data_limit(&d, (int)limit);
  pl_plan p;
  rt_runner r;
  int N = d.n, K = t.net.classes;
  if (pl_build_eval(&p, &t.sp, &t.net, &t.lay, &t.g, PL_EVAL, 0, 0, &e) ||
      rt_runner_init(&r, b, &m, N, (long)d.c * d.h * d.w, 1, &e)) {
    fprintf(stderr, "export_check: %s\n", err_msg(&e));
    return 2;
  }
  int *idx = malloc(sizeof *idx * (size_t)N);
  for (int i = 0; i < N; i++) idx[i] = i;
  rt_data_batch(&d, idx, N, t.mean, t.std, NULL, NULL, r.himg, 4, r.hlab);
  rt_result res;
  if (rt_runner_run(&r, &p, N, 0, 0, &res, &e)) {
    fprintf(stderr, "export_check: %s\n", err_msg(&e));
    return 2;
  }
  rt_bind bind = rt_model_bind(&m, r.arena);
  const float *ours = rt_ref_ptr(b, &p, &bind, p.logits, N); /* [K, N] */
  float *theirs = read_npy(argv[4], (long)N * K);            /* [N, K] */
  if (!theirs) {
    fprintf(stderr, "export_check: cannot read %d x %d logits from %s\n", N, K, argv[4]);
    return 2;
  }
  double worst = 0;
  long bad = 0;
  for (int i = 0; i < N; i++)
    for (int k = 0; k < K; k++) {
      double a = ours[(long)k * N + i], x = theirs[(long)i * K + k], err = fabs(a - x);
      if (err > 1e-4 + 1e-4 * fabs(a)) bad++;
      if (err > worst) worst = err;
    }
  printf("%d images x %d logits: largest difference %.3g, %ld beyond 1e-4 + 1e-4 |logit|\n", N, K, worst, bad);
  free(theirs);
  free(idx);
  pl_free(&p);
  rt_runner_free(&r);
  rt_data_free(&d);
  rt_model_free(&m);
  rt_backend_close(b);
  rt_trained_free(&t);
  return bad ? 1 : 0;
}
