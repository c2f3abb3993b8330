#include "rt_sample.h"
#include "rng.h"
#include "rt_dist.h"
#include "rt_rundir.h"
#include "sp_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The distribution to draw from: the run's, or uniform over SP's categoricals. */
static int open_dist(const rt_sample_opts *o, sp_space *sp, rt_dist *d, err_t *e) {
  if (o->run) {
    if (rt_rundir_space(o->run, "search", "search", NULL, sp, e) != 0) return -1;
  } else if (sp_open(sp, o->space ? o->space : "small", e) != 0) {
    return -1;
  }
  if (rt_dist_init(d, sp, NULL, 0.5, 0.999, e) != 0) return -1;
  if (!o->run) return 0; /* logits 0: every categorical uniform */
  char path[4200];
  snprintf(path, sizeof path, "%s/distribution.json", o->run);
  return rt_dist_load_json(d, path, e);
}

static int seen_before(char *const *texts, int n, const char *t) {
  for (int i = 0; i < n; i++)
    if (strcmp(texts[i], t) == 0) return 1;
  return 0;
}

int rt_sample_run(FILE *out, const rt_sample_opts *o, err_t *e) {
  sp_space sp = {0};
  rt_dist d = {0};
  char **texts = calloc((size_t)o->count + 1, sizeof *texts);
  int rc = texts ? open_dist(o, &sp, &d, e) : err_set(e, "out of memory");
  rng_t rng;
  rng_seed(&rng, (uint64_t)o->seed * 7 + 31);
  int n = 0;
  /* distinct draws give up after many repeats: a concentrated pi may hold
     fewer distinct architectures than asked for */
  for (long tries = 0; rc == 0 && n < o->count; tries++) {
    if (tries > 1000L * o->count + 1000)
      rc = err_set(e, "only %d distinct architectures in %ld draws from %s: ask for fewer, or drop --distinct", n, tries,
                   o->run ? o->run : "the space");
    gt_genotype g;
    rt_dist_sample(&d, &rng, &g);
    char *t = rc == 0 ? gt_to_text(&sp, &g) : NULL;
    if (rc == 0 && !t) rc = err_set(e, "out of memory");
    if (rc == 0 && o->distinct && seen_before(texts, n, t)) {
      free(t);
      continue;
    }
    if (rc == 0) texts[n++] = t;
  }
  for (int i = 0; i < n; i++) {
    if (rc == 0) fprintf(out, "%s\n", texts[i]);
    free(texts[i]);
  }
  free(texts);
  rt_dist_free(&d);
  sp_free(&sp);
  return rc;
}
