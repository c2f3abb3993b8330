/* The human-readable summary of a space. */
#ifndef PARSEC_SP_SUMMARY_H
#define PARSEC_SP_SUMMARY_H
#include "sp_space.h"
#include <stdio.h>

int sp_print_summary(FILE *f, const sp_space *sp, err_t *e);

#endif
