/* Run directories, as `parsec-run search` and `train` write them and train,
 * export and show read them back: the space a run was made with (from its
 * checkpoint), genotype files, and the mode's drawing (cells.dot, cells.svg
 * with Graphviz). */
#ifndef PARSEC_RT_RUNDIR_H
#define PARSEC_RT_RUNDIR_H
#include "gt_genotype.h"

/* A run directory held by a job. */
typedef struct {
  char dir[4096];
  int lock_fd, locked;
  int created; /* made by this claim: removed again if the job leaves it empty */
} rt_rundir;

/* Claims DIR for a job before any work starts: a new run needs a directory that holds no run yet (it is
 * made, parents too; an empty one is fine), RESUME one that does.  The
 * directory is locked (flock on DIR/.parsec.lock, which holds the holder's
 * pid) while the job runs: a second job on it is refused, naming the
 * holder.  A location that cannot be a run directory (a file, /dev/null,
 * no permission) fails here, with what to do. */
int rt_rundir_claim(rt_rundir *r, const char *dir, int resume, err_t *e);
/* Gives the lock up; a directory this claim made and nothing was written
 * to is removed. */
void rt_rundir_release(rt_rundir *r);
/* Cuts DIR/log.jsonl back to BYTES, the length its checkpoint recorded: the
 * lines of an epoch whose checkpoint was never written (a crash, a full
 * disk) go, so a resumed run logs each epoch once. */
int rt_rundir_trim_log(const char *dir, long long bytes, err_t *e);

/* The space of a run whose checkpoint (RUN/checkpoint.bin) is of KIND
 * ("search", "train"); NOUN names such a run in errors, HINT (or NULL) says
 * what to do about a run of another kind. */
int rt_rundir_space(const char *run, const char *kind, const char *noun, const char *hint, sp_space *sp, err_t *e);
/* A genotype file in DARTS's text form (a search run's RUN/genotype.txt
 * holds its mode). */
int rt_rundir_genotype(const sp_space *sp, const char *path, gt_genotype *g, err_t *e);
/* DIR/genotype.txt (G in DARTS's text form) when WITH_TEXT, and
 * DIR/cells.dot titled TITLE, rendered to cells.svg when Graphviz is
 * installed; *svg (when given) says whether it was. */
int rt_rundir_write_cells(const char *dir, const sp_space *sp, const gt_genotype *g, const char *title, int with_text,
                          int *svg, err_t *e);

#endif
