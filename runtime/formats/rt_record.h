/* The run record: what a run directory keeps so that anyone can tell how
 * the run was made and read its results without parsec's checkpoint.
 *   config.json         written when the run starts: the command line,
 *                       parsec's version, the kind of run, the space (its
 *                       name, the SHA-256 of its IR, the IR itself), every
 *                       resolved setting, the data, the device; a resumed
 *                       run adds its command line to "resumes".
 *   distribution.jsonl  a search's pi, a line per epoch from epoch 0 (the
 *                       start): the probabilities of every categorical.
 *                       Resuming cuts it back to the checkpoint's epoch and
 *                       appends: one line per epoch, no gaps, no repeats. */
#ifndef PARSEC_RT_RECORD_H
#define PARSEC_RT_RECORD_H
#include "sp_space.h"

struct cJSON;

typedef struct {
  const char *kind; /* "search", "transfer" (a search from --init-from), "train" */
  int argc;         /* the whole command line */
  char *const *argv;
  const sp_space *sp;
  struct cJSON *settings; /* every resolved setting (consumed) */
  struct cJSON *data;     /* the data: spec, images, shapes (consumed) */
  const char *device;
  struct cJSON *extra; /* kind-specific members ("genotype", ...), consumed; or NULL */
} rt_record;

#define RT_RECORD_CONFIG "config.json"
#define RT_RECORD_HISTORY "distribution.jsonl"

/* Writes DIR/config.json for a run that starts now. */
int rt_record_start(const char *dir, rt_record *r, err_t *e);
/* A resumed run: adds its command line, the epoch it resumes at and the
 * time to config.json's "resumes" (a run from before config.json existed
 * gets none). */
int rt_record_resumed(const char *dir, int argc, char *const *argv, int epoch, err_t *e);
/* DIR/config.json parsed, or NULL (with the message) when it is missing or
 * damaged. */
struct cJSON *rt_record_config(const char *dir, err_t *e);

/* Appends LINE (consumed) to DIR/NAME, a JSON line per epoch. */
int rt_record_append(const char *dir, const char *name, struct cJSON *line, err_t *e);
/* Cuts DIR/NAME back to its lines with "epoch" <= EPOCH (a missing file
 * is fine): the epochs a resumed run will write again go. */
int rt_record_trim(const char *dir, const char *name, int epoch, err_t *e);

#endif
