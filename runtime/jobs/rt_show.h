/* `parsec-run show RUN`: a search run at a glance. */
#ifndef PARSEC_RT_SHOW_H
#define PARSEC_RT_SHOW_H
#include "err.h"
#include <stdio.h>

/* The mode, the per-epoch entropy and mode-accuracy curve, and the TOP most
 * probable choices of every categorical. */
int rt_show_run(FILE *f, const char *run, int top, err_t *e);

#endif
