/* `parsec-run show RUN`: any run at a glance, read from its record alone
 * (config.json, log.jsonl, distribution.jsonl, genotype.txt; runs from
 * before the record take their space from checkpoint.bin).  It writes
 * nothing into the run. */
#ifndef PARSEC_RT_SHOW_H
#define PARSEC_RT_SHOW_H
#include "err.h"
#include <stdio.h>

/* Prints to F how RUN was made and what it found: for a search (or a
 * transfer), the entropy, the mode's accuracy and the weighted train loss
 * per epoch, the mode and the TOP most probable choices of every
 * categorical; for a training, its loss and accuracy per epoch.  OUT (or
 * NULL) is a directory to draw into: curves.svg, pi.svg (a search's pi per
 * node and op over the epochs), cells.dot and cells.svg (with Graphviz). */
int rt_show_run(FILE *f, const char *run, const char *out, int top, err_t *e);

#endif
