/* What every long job (a search, a training) does the same way, written
 * once: its settings, resolved from the recipe and the command line and
 * saved into and restored from its checkpoint through one field table; the
 * signals that interrupt it (SIGINT, SIGTERM: the job checkpoints and exits
 * with ERR_INTERRUPTED, 130) and the test hook that acts as one
 * (PARSEC_TEST_INTERRUPT_AFTER=N: after N steps); its progress line; and its
 * log, a JSON line per epoch whose memory part is the same for every job. */
#ifndef PARSEC_RT_JOB_H
#define PARSEC_RT_JOB_H
#include "rt_progress.h"
#include "rt_runner.h"

#include <stddef.h>

struct cJSON;

/* ---------- settings ---------- */

typedef enum { RT_FIELD_INT, RT_FIELD_NUM, RT_FIELD_STR } rt_field_kind;

/* One setting: its name in the checkpoint, its kind (int, double, or a
 * char[RT_FIELD_STR_MAX]), where it lives in the job's settings, and where
 * the command line's value lives in the job's options (an int, unset when
 * negative; a double, unset when NaN; a const char *, unset when NULL), or
 * RT_NO_OPTION. */
typedef struct {
  const char *key;
  rt_field_kind kind;
  size_t at;
  long opt;
  int optional;     /* absent from checkpoints written before it existed: 0 */
  double lo, hi;    /* the range a checkpoint's value must lie in */
  const char *flag; /* an on/off option's name ("--no-auxiliary"); NULL: a valued "--" + key, '-' for '_' */
} rt_field;

#define RT_NO_OPTION (-1L)
#define RT_FIELD_STR_MAX 1024

/* Every option that OPTS sets overrides the recipe's value in ST. */
void rt_fields_apply(const rt_field *f, int n, void *st, const void *opts);
/* The settings as a JSON object (for the checkpoint), and back. */
struct cJSON *rt_fields_json(const rt_field *f, int n, const void *st);
int rt_fields_read(const rt_field *f, int n, void *st, const struct cJSON *j, const char *path, err_t *e);
/* On --resume: each option OPTS sets must equal the run's setting in ST
 * (the user pressed up-arrow and added --resume), except the keys in MAY
 * ("epochs,": a comma-ended list) that a resumed run may change.  The
 * error names the flag, the run's value and the one given. */
int rt_fields_match(const rt_field *f, int n, const void *st, const void *opts, const char *may, const char *run,
                    err_t *e);

/* ---------- the run ---------- */

typedef struct {
  const char *cmd; /* "search", "train": messages */
  const char *dir; /* the run directory */
  int quiet;
  rt_progress prog;
  long budget;     /* the test hook's steps left (-1: none) */
  long long log_bytes; /* log.jsonl's length: what a checkpoint records */
  int graphs_said; /* why CUDA graphs went off was printed */
} rt_job;

/* Starts the job: catches SIGINT and SIGTERM, reads the test hook, measures
 * the log (a resumed one was cut back to its checkpoint), sets up the
 * progress line (PROGRESS: -1 on a terminal, 0 never, 1 always; UNIT of
 * its rate, "children/s" or "images/s"). */
void rt_job_begin(rt_job *j, const char *cmd, const char *dir, int progress, int quiet, const char *unit);
/* A step is done: the progress line, and the test hook's count. */
void rt_job_step(rt_job *j, int epoch, int epochs, int step, int steps, double sec_per_step, double loss, double rate);
/* Whether a signal (or the test hook) asked the job to stop. */
int rt_job_stopping(const rt_job *j);
/* The default signal handlers back; the progress line cleared. */
void rt_job_end(rt_job *j);

/* Appends LINE (consumed) to DIR/log.jsonl, with the memory part every job
 * logs: the peak RSS and, on a GPU, the device memory in use and the CUDA
 * graph launches; MEMORY (or NULL) holds the job's own memory figures. */
int rt_job_log(rt_job *j, struct cJSON *line, struct cJSON *memory, const rt_runner *r, err_t *e);
/* The tail of an epoch's line on screen: "  GPU 812 MiB in use" or "";
 * and, once, why CUDA graphs went off. */
const char *rt_job_screen_note(rt_job *j, const rt_runner *r, char *buf, size_t cap);

#endif
