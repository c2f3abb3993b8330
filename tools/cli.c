#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt help_opt = {"--help", "-h", CLI_FLAG, NULL, NULL, "print this help", 0, 0, 0, NULL};
static const cli_opt version_opt = {"--version", NULL, CLI_FLAG, NULL, NULL, "print the version", 0, 0, 0, NULL};

static void where(const cli_cmd *c, FILE *f) {
  fprintf(f, "%s%s%s", c->tool, c->name ? " " : "", c->name ? c->name : "");
}

int cli_usage_error(const cli_cmd *c, const char *fmt, ...) {
  where(c, stderr);
  fputs(": ", stderr);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see %s%s%s --help)\n", c->tool, c->name ? " " : "", c->name ? c->name : "");
  return 2;
}

/* "a|b|c" holds S as a whole word */
/* S is one of CHOICES ("a|b|c"); a choice "name:N" takes name: and digits */
static int is_choice(const char *choices, const char *s) {
  size_t n = strlen(s);
  for (const char *p = choices; *p;) {
    size_t k = strcspn(p, "|");
    if (k == n && strncmp(p, s, n) == 0) return 1;
    if (k > 2 && strncmp(p + k - 2, ":N", 2) == 0 && n > k - 1 && strncmp(p, s, k - 1) == 0 &&
        strspn(s + k - 1, "0123456789") == n - (k - 1))
      return 1;
    p += k + (p[k] == '|');
  }
  return 0;
}

static void choices_text(const char *choices, char *buf, size_t cap) {
  size_t o = 0;
  for (const char *p = choices; *p && o + 1 < cap; p++) {
    if (*p == '|')
      o += (size_t)snprintf(buf + o, cap - o, strchr(p + 1, '|') ? ", " : " or ");
    else
      buf[o++] = *p;
  }
  buf[o < cap ? o : cap - 1] = 0;
}

/* Stores V (NULL for a flag) into O's destination; 2 on a bad value.  NAME:
 * the option as it was typed, for messages. */
static int store(const cli_cmd *c, const cli_opt *o, const char *name, const char *v) {
  char *end;
  switch (o->kind) {
    case CLI_FLAG:
      *(int *)o->dst = o->set;
      return 0;
    case CLI_STR:
      *(const char **)o->dst = v;
      return 0;
    case CLI_CHOICE:
      if (!is_choice(o->choices, v)) {
        char list[256];
        choices_text(o->choices, list, sizeof list);
        return cli_usage_error(c, "%s takes %s, not '%s'", name, list, v);
      }
      *(const char **)o->dst = v;
      return 0;
    case CLI_INT: {
      errno = 0;
      long x = strtol(v, &end, 10);
      if (errno || end == v || *end || x < o->lo || x > o->hi)
        return cli_usage_error(c, "%s takes an integer in %.0f..%.0f, not '%s'", name, o->lo, o->hi, v);
      *(int *)o->dst = (int)x;
      return 0;
    }
    case CLI_NUM: {
      errno = 0;
      double x = strtod(v, &end);
      if (errno || end == v || *end || !isfinite(x) || !(x >= o->lo && x <= o->hi))
        return cli_usage_error(c, "%s takes a number in [%g, %g], not '%s'", name, o->lo, o->hi, v);
      *(double *)o->dst = x;
      return 0;
    }
  }
  return 2;
}

/* The option named by A (up to '=' when it has one), or NULL. */
static const cli_opt *find(const cli_cmd *c, const char *a, size_t n) {
  for (int i = 0; i < c->nopts; i++) {
    const cli_opt *o = &c->opts[i];
    if ((strlen(o->name) == n && strncmp(o->name, a, n) == 0) ||
        (o->alias && strlen(o->alias) == n && strncmp(o->alias, a, n) == 0))
      return o;
  }
  if (strncmp(a, "--help", n) == 0 && n == 6) return &help_opt;
  if (n == 2 && strncmp(a, "-h", 2) == 0) return &help_opt;
  if (strncmp(a, "--version", n) == 0 && n == 9) return &version_opt;
  return NULL;
}

static int positional(const cli_cmd *c, const char *a, int *npos) {
  if (*npos >= c->npos) {
    if (c->npos == 0) return cli_usage_error(c, "takes no argument '%s'", a);
    char what[32];
    size_t k = 0;
    for (const char *p = c->pos[c->npos - 1].name; *p && k + 1 < sizeof what; p++) what[k++] = (char)tolower(*p);
    what[k] = 0;
    return cli_usage_error(c, "one %s at a time (got '%s' and '%s')", what, *c->pos[c->npos - 1].dst, a);
  }
  const cli_pos *p = &c->pos[(*npos)++];
  if (p->choices && !is_choice(p->choices, a)) {
    char list[256];
    choices_text(p->choices, list, sizeof list);
    return cli_usage_error(c, "%s is %s, not '%s'", p->name, list, a);
  }
  *p->dst = a;
  return 0;
}

int cli_parse(const cli_cmd *c, int argc, char **argv, int *status) {
  int npos = 0, only_pos = 0;
  *status = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (only_pos || a[0] != '-' || a[1] == 0) {
      if ((*status = positional(c, a, &npos)) != 0) return 0;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_pos = 1;
      continue;
    }
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(eq ? eq - a : (long)strlen(a)), a);
    const cli_opt *o = find(c, name, strlen(name));
    if (!o) {
      *status = cli_usage_error(c, "unknown option '%s'", a);
      return 0;
    }
    if (o == &help_opt) {
      cli_help(c, stdout);
      return 0;
    }
    if (o == &version_opt) {
      printf("%s %s\n", c->tool, c->version);
      return 0;
    }
    const char *v = NULL;
    if (o->kind == CLI_FLAG && eq) {
      *status = cli_usage_error(c, "%s takes no value (got '%s')", name, a);
      return 0;
    }
    if (o->kind != CLI_FLAG) {
      v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
      if (!v) {
        *status = cli_usage_error(c, "%s needs a value", name);
        return 0;
      }
    }
    if ((*status = store(c, o, name, v)) != 0) return 0;
  }
  for (int k = npos; k < c->npos; k++)
    if (c->pos[k].required) {
      fprintf(stderr, "usage: ");
      where(c, stderr);
      fprintf(stderr, " %s\n", c->usage);
      *status = cli_usage_error(c, "give %s", c->pos[k].name);
      return 0;
    }
  return 1;
}

/* "  --name, -a ARG" padded to the help column, then the help's lines */
static void help_line(const cli_opt *o, FILE *f) {
  char left[96]; /* aliases are the short forms: "-q, --quiet" */
  snprintf(left, sizeof left, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name, o->arg ? " " : "",
           o->arg ? o->arg : "");
  const int col = 20;
  int pad = col - 2 - (int)strlen(left);
  fprintf(f, "  %s", left);
  if (pad < 1)
    fprintf(f, "\n%*s", col, "");
  else
    fprintf(f, "%*s", pad, "");
  for (const char *h = o->help; *h;) {
    size_t n = strcspn(h, "\n");
    fprintf(f, "%.*s\n", (int)n, h);
    h += n;
    if (*h == '\n' && *++h) fprintf(f, "%*s", col, "");
  }
  /* the values a number takes, from the same table the parser checks */
  if ((o->kind == CLI_INT || o->kind == CLI_NUM) && o->hi > o->lo) {
    if (o->hi >= INT_MAX) fprintf(f, "%*s(%g or more)\n", col, "", o->lo);
    else fprintf(f, "%*s(%s %g to %g)\n", col, "", o->kind == CLI_INT ? "an integer," : "a number,", o->lo, o->hi);
  }
}

void cli_help(const cli_cmd *c, FILE *f) {
  fprintf(f, "usage: ");
  where(c, f);
  fprintf(f, " %s\n\n%s\n\noptions:\n", c->usage, c->summary);
  for (int i = 0; i < c->nopts; i++) help_line(&c->opts[i], f);
  help_line(&help_opt, f);
  help_line(&version_opt, f);
  if (c->after) fprintf(f, "\n%s\n", c->after);
  fprintf(f, "\nExit status: %s.\n", c->exits);
}
