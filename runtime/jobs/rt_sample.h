/* `parsec-run sample`: architectures drawn from a search run's learned
 * p(alpha | pi), or uniformly from a space (every categorical uniform: the
 * random baseline a search must beat), one genotype per line in DARTS's text
 * form, ready for `parsec-run train --genotype`. */
#ifndef PARSEC_RT_SAMPLE_H
#define PARSEC_RT_SAMPLE_H
#include "err.h"
#include <stdio.h>

typedef struct {
  const char *run;   /* a search run: its distribution.json and space */
  const char *space; /* or a space: the uniform distribution */
  int count, seed;
  int distinct; /* no architecture twice */
} rt_sample_opts;

int rt_sample_run(FILE *out, const rt_sample_opts *o, err_t *e);

#endif
