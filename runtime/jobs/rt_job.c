#include "rt_job.h"
#include "io.h"

#include <cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* ---------- settings ---------- */

static int opt_set(const rt_field *f, const void *opts) {
  const char *o = (const char *)opts + f->opt;
  switch (f->kind) {
    case RT_FIELD_INT:
      return *(const int *)o >= 0;
    case RT_FIELD_NUM:
      return !isnan(*(const double *)o);
    case RT_FIELD_STR:
      return *(const char *const *)o != NULL;
  }
  return 0;
}

void rt_fields_apply(const rt_field *f, int n, void *st, const void *opts) {
  for (int i = 0; i < n; i++) {
    if (f[i].opt == RT_NO_OPTION || !opt_set(&f[i], opts)) continue;
    char *dst = (char *)st + f[i].at;
    const char *src = (const char *)opts + f[i].opt;
    switch (f[i].kind) {
      case RT_FIELD_INT:
        *(int *)dst = *(const int *)src;
        break;
      case RT_FIELD_NUM:
        *(double *)dst = *(const double *)src;
        break;
      case RT_FIELD_STR:
        snprintf(dst, RT_FIELD_STR_MAX, "%s", *(const char *const *)src);
        break;
    }
  }
}

cJSON *rt_fields_json(const rt_field *f, int n, const void *st) {
  cJSON *j = cJSON_CreateObject();
  for (int i = 0; i < n; i++) {
    const char *v = (const char *)st + f[i].at;
    switch (f[i].kind) {
      case RT_FIELD_INT:
        cJSON_AddNumberToObject(j, f[i].key, *(const int *)v);
        break;
      case RT_FIELD_NUM:
        cJSON_AddNumberToObject(j, f[i].key, *(const double *)v);
        break;
      case RT_FIELD_STR:
        cJSON_AddStringToObject(j, f[i].key, v);
        break;
    }
  }
  return j;
}

int rt_fields_read(const rt_field *f, int n, void *st, const cJSON *j, const char *path, err_t *e) {
  if (!cJSON_IsObject(j)) return err_set(e, "%s: the checkpoint holds no settings", path);
  for (int i = 0; i < n; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, f[i].key);
    char *dst = (char *)st + f[i].at;
    if (!v && f[i].optional) {
      memset(dst, 0, f[i].kind == RT_FIELD_INT ? sizeof(int) : f[i].kind == RT_FIELD_NUM ? sizeof(double) : 1);
      continue;
    }
    int ok = f[i].kind == RT_FIELD_STR ? cJSON_IsString(v) : cJSON_IsNumber(v);
    if (!ok) return err_set(e, "%s: the checkpoint's settings lack '%s'", path, f[i].key);
    if (f[i].kind == RT_FIELD_STR) {
      snprintf(dst, RT_FIELD_STR_MAX, "%s", v->valuestring);
      continue;
    }
    /* a checksum proves the file whole, not its numbers sane: each in its range */
    double x = v->valuedouble;
    if (!(x >= f[i].lo && x <= f[i].hi) || (f[i].kind == RT_FIELD_INT && x != floor(x)))
      return err_set(e, "%s: the checkpoint's setting '%s' is %g, not a %s in %g..%g", path, f[i].key, x,
                     f[i].kind == RT_FIELD_INT ? "whole number" : "number", f[i].lo, f[i].hi);
    if (f[i].kind == RT_FIELD_INT) *(int *)dst = (int)x;
    else *(double *)dst = x;
  }
  return 0;
}

static void flag_of(const rt_field *f, char *buf, size_t cap) {
  if (f->flag) {
    snprintf(buf, cap, "%s", f->flag);
    return;
  }
  snprintf(buf, cap, "--%s", f->key);
  for (char *c = buf; *c; c++)
    if (*c == '_') *c = '-';
}

static void value_of(const rt_field *f, const char *v, char *buf, size_t cap) {
  if (f->kind == RT_FIELD_INT) snprintf(buf, cap, "%d", *(const int *)v);
  else if (f->kind == RT_FIELD_NUM) { /* the shortest form that reads back as the same double */
    double x = *(const double *)v;
    for (int digits = 6; digits <= 17; digits++) {
      snprintf(buf, cap, "%.*g", digits, x);
      if (strtod(buf, NULL) == x) break;
    }
  } else snprintf(buf, cap, "'%s'", v);
}

int rt_fields_match(const rt_field *f, int n, const void *st, const void *opts, const char *may, const char *run,
                    err_t *e) {
  for (int i = 0; i < n; i++) {
    char key[64];
    snprintf(key, sizeof key, "%s,", f[i].key);
    if (f[i].opt == RT_NO_OPTION || !opt_set(&f[i], opts) || (may && strstr(may, key))) continue;
    const char *have = (const char *)st + f[i].at, *given = (const char *)opts + f[i].opt;
    int same = f[i].kind == RT_FIELD_INT   ? *(const int *)have == *(const int *)given
               : f[i].kind == RT_FIELD_NUM ? *(const double *)have == *(const double *)given
                                           : strcmp(have, *(const char *const *)given) == 0;
    if (same) continue;
    char flag[64], a[RT_FIELD_STR_MAX + 8], b[RT_FIELD_STR_MAX + 8];
    flag_of(&f[i], flag, sizeof flag);
    if (f[i].flag) /* an on/off option that differs was not given at the start */
      return err_set_code(e, ERR_USAGE,
                          "--resume: %s was started without %s: a resumed run keeps the settings it was started with; "
                          "drop %s", run, flag, flag);
    value_of(&f[i], have, a, sizeof a);
    if (f[i].kind == RT_FIELD_STR) snprintf(b, sizeof b, "'%s'", *(const char *const *)given);
    else value_of(&f[i], given, b, sizeof b);
    return err_set_code(e, ERR_USAGE,
                        "--resume: %s is %s in %s, and %s here: a resumed run keeps the settings it was started "
                        "with; drop %s or give the run's value",
                        flag, a, run, b, flag);
  }
  return 0;
}

/* ---------- signals ---------- */

static long long log_size(const char *dir) {
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/log.jsonl", dir);
  return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* One handler for every job: the first SIGINT or SIGTERM asks the job to
 * stop at its next step and checkpoint; a second ends the process at once. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  stop_signal = sig;
  signal(sig, SIG_DFL);
}

void rt_job_begin(rt_job *j, const char *cmd, const char *dir, int progress, int quiet, const char *unit) {
  memset(j, 0, sizeof *j);
  j->cmd = cmd;
  j->dir = dir;
  j->quiet = quiet;
  const char *hook = getenv("PARSEC_TEST_INTERRUPT_AFTER"); /* acts as a SIGINT after N steps */
  j->budget = hook ? strtol(hook, NULL, 10) : -1;
  j->log_bytes = log_size(dir);
  rt_progress_init(&j->prog, progress, quiet, unit);
  stop_signal = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

void rt_job_step(rt_job *j, int epoch, int epochs, int step, int steps, double sec_per_step, double loss, double rate) {
  rt_progress_step(&j->prog, epoch, epochs, step, steps, sec_per_step, loss, rate);
  if (j->budget > 0 && --j->budget == 0) stop_signal = SIGINT;
}

int rt_job_stopping(const rt_job *j) { return stop_signal != 0; }

void rt_job_end(rt_job *j) {
  rt_progress_clear(&j->prog);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

/* ---------- the log ---------- */

int rt_job_log(rt_job *j, cJSON *line, cJSON *memory, const rt_runner *r, err_t *e) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  cJSON *m = memory ? memory : cJSON_CreateObject();
  cJSON_AddNumberToObject(m, "max_rss_bytes", (double)ru.ru_maxrss * 1024.0);
  if (r->device_peak) cJSON_AddNumberToObject(m, "device_used_peak_bytes", (double)r->device_peak);
  cJSON_AddItemToObject(line, "memory", m);
  if (r->graph_launches) cJSON_AddNumberToObject(line, "graph_launches", (double)r->graph_launches);
  char *text = cJSON_PrintUnformatted(line);
  cJSON_Delete(line);
  char path[4200];
  snprintf(path, sizeof path, "%s/log.jsonl", j->dir);
  int rc = text ? io_append_line(path, text, e) : err_set(e, "out of memory");
  free(text);
  if (rc == 0) j->log_bytes = log_size(j->dir);
  return rc;
}

const char *rt_job_screen_note(rt_job *j, const rt_runner *r, char *buf, size_t cap) {
  if (r->graphs_off[0] && !j->graphs_said && !j->quiet) {
    rt_progress_clear(&j->prog);
    fprintf(stderr, "parsec-run %s: CUDA graphs off, running the steps one by one: %s\n", j->cmd, r->graphs_off);
    j->graphs_said = 1;
  }
  buf[0] = 0;
  if (r->device_peak) snprintf(buf, cap, "  GPU %.0f MiB in use", (double)r->device_peak / (1 << 20));
  return buf;
}
