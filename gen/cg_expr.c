/* Integer expressions of kernel templates (`@let OH = (H + 2*PH - KH)/SH + 1`,
 * `@grid C*N, OH*OW`): the generator evaluates them so the runtime knows each
 * kernel's derived shapes and launch size without knowing the template. */
#include "cg_expr.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const char *s;
  const cg_vars *vars;
  err_t *e;
  int failed;
} px;

static void skip(px *p) {
  while (isspace((unsigned char)*p->s)) p->s++;
}

static long parse_sum(px *p);

static int lookup(const cg_vars *v, const char *name, size_t n, long *out) {
  for (int i = 0; i < v->n; i++)
    if (strlen(v->names[i]) == n && strncmp(v->names[i], name, n) == 0) {
      *out = v->values[i];
      return 0;
    }
  return -1;
}

static long fail(px *p, const char *what) {
  if (!p->failed) err_set(p->e, "%s near '%.20s'", what, p->s);
  p->failed = 1;
  return 0;
}

static long parse_atom(px *p) {
  skip(p);
  if (*p->s == '(') {
    p->s++;
    long v = parse_sum(p);
    skip(p);
    if (*p->s != ')') return fail(p, "expected ')'");
    p->s++;
    return v;
  }
  if (*p->s == '-') {
    p->s++;
    return -parse_atom(p);
  }
  if (isdigit((unsigned char)*p->s)) {
    long v = 0;
    while (isdigit((unsigned char)*p->s)) v = v * 10 + (*p->s++ - '0');
    return v;
  }
  if (isalpha((unsigned char)*p->s) || *p->s == '_') {
    const char *start = p->s;
    while (isalnum((unsigned char)*p->s) || *p->s == '_') p->s++;
    size_t n = (size_t)(p->s - start);
    skip(p);
    if (*p->s == '(' && (n == 3 && (strncmp(start, "min", 3) == 0 || strncmp(start, "max", 3) == 0))) {
      p->s++;
      long a = parse_sum(p);
      skip(p);
      if (*p->s != ',') return fail(p, "expected ',' in min/max");
      p->s++;
      long b = parse_sum(p);
      skip(p);
      if (*p->s != ')') return fail(p, "expected ')' after min/max");
      p->s++;
      return strncmp(start, "min", 3) == 0 ? (a < b ? a : b) : (a > b ? a : b);
    }
    long v;
    if (lookup(p->vars, start, n, &v) != 0) {
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), start);
      if (!p->failed) err_set(p->e, "unknown name '%s' in expression", name);
      p->failed = 1;
      return 0;
    }
    return v;
  }
  return fail(p, "expected a number, a name or '('");
}

static long parse_product(px *p) {
  long v = parse_atom(p);
  for (;;) {
    skip(p);
    char op = *p->s;
    if (op != '*' && op != '/' && op != '%') return v;
    p->s++;
    long r = parse_atom(p);
    if (op == '*') v *= r;
    else if (r == 0) return fail(p, "division by zero");
    else if (op == '/') v /= r;
    else v %= r;
  }
}

static long parse_sum(px *p) {
  long v = parse_product(p);
  for (;;) {
    skip(p);
    char op = *p->s;
    if (op != '+' && op != '-') return v;
    p->s++;
    long r = parse_product(p);
    v = op == '+' ? v + r : v - r;
  }
}

int cg_eval(const char *expr, const cg_vars *vars, long *out, err_t *e) {
  px p = {expr, vars, e, 0};
  long v = parse_sum(&p);
  skip(&p);
  if (!p.failed && *p.s) fail(&p, "unexpected text");
  if (p.failed) return err_prefix(e, "in '%s'", expr);
  *out = v;
  return 0;
}
