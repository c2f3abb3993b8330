/* Integer expressions over named constants (see cg_expr.c). */
#ifndef PARSEC_CG_EXPR_H
#define PARSEC_CG_EXPR_H
#include "err.h"

#define CG_MAXVARS 40

typedef struct {
  int n;
  const char *names[CG_MAXVARS];
  long values[CG_MAXVARS];
} cg_vars;

/* + - * / % ( ), unary minus, min(a, b), max(a, b); C integer semantics. */
int cg_eval(const char *expr, const cg_vars *vars, long *out, err_t *e);

#endif
