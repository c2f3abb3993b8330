/* Run directories, as `parsec-run search` and `train` write them and train,
 * export and show read them back: the space a run was made with (from its
 * checkpoint), genotype files, and the mode's drawing (cells.dot, cells.svg
 * with Graphviz). */
#ifndef PARSEC_RT_RUNDIR_H
#define PARSEC_RT_RUNDIR_H
#include "gt_genotype.h"

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
