#include "err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vfmt(const char *fmt, va_list ap) {
  va_list cp;
  va_copy(cp, ap);
  int n = vsnprintf(NULL, 0, fmt, cp);
  va_end(cp);
  if (n < 0) n = 0;
  char *s = malloc((size_t)n + 1);
  if (!s) return NULL;
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

int err_vset(err_t *e, const char *fmt, va_list ap) {
  if (!e) return -1;
  char *s = vfmt(fmt, ap);
  free(e->msg);
  e->msg = s;
  e->code = 0;
  return -1;
}

int err_set_code(err_t *e, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_vset(e, fmt, ap);
  va_end(ap);
  if (e) e->code = code;
  return -1;
}

int err_status(const err_t *e) { return e && e->code ? e->code : ERR_FAILED; }

int err_set(err_t *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_vset(e, fmt, ap);
  va_end(ap);
  return -1;
}

int err_prefix(err_t *e, const char *fmt, ...) {
  if (!e) return -1;
  va_list ap;
  va_start(ap, fmt);
  char *p = vfmt(fmt, ap);
  va_end(ap);
  if (!p) return -1;
  const char *old = e->msg ? e->msg : "unknown error";
  size_t n = strlen(p) + strlen(old) + 3;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s: %s", p, old);
  free(p);
  free(e->msg);
  e->msg = s;
  return -1;
}

void err_append(err_t *e, const char *fmt, ...) {
  if (!e) return;
  va_list ap;
  va_start(ap, fmt);
  char *p = vfmt(fmt, ap);
  va_end(ap);
  if (!p) return;
  const char *old = e->msg ? e->msg : "";
  size_t n = strlen(p) + strlen(old) + 1;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s%s", old, p);
  free(p);
  free(e->msg);
  e->msg = s;
}

const char *err_msg(const err_t *e) {
  return e && e->msg ? e->msg : "unknown error";
}

void err_clear(err_t *e) {
  if (!e) return;
  free(e->msg);
  e->msg = NULL;
  e->code = 0;
}
