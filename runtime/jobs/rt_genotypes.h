/* `parsec-run genotypes`: the published genotypes parsec knows by name,
 * with their papers' parameter counts beside the count of the evaluation
 * network they give in a space; or one genotype (any form --genotype takes)
 * read, checked and counted. */
#ifndef PARSEC_RT_GENOTYPES_H
#define PARSEC_RT_GENOTYPES_H
#include "err.h"
#include <stdio.h>

typedef struct {
  const char *genotype; /* NULL: list the built-in ones */
  const char *space;    /* the space to count in (default darts) */
  int names;            /* the names only, one a line (for shell completion) */
} rt_genotypes_opts;

int rt_genotypes_run(FILE *out, const rt_genotypes_opts *o, err_t *e);

#endif
