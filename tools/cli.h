/* Command lines.  Each command describes its options and positional
 * arguments in one table; one parser reads them (`--opt value` and
 * `--opt=value`, `--` ending the options), checks every value against its
 * kind and range, and the command's help is printed from the same table, so
 * the two never disagree.  Every command takes -h/--help and --version. */
#ifndef PARSEC_CLI_H
#define PARSEC_CLI_H
#include <stdio.h>

typedef enum {
  CLI_FLAG,   /* no value: stores `set` into an int */
  CLI_STR,    /* a string: const char * */
  CLI_CHOICE, /* one of `choices` ("cpu|cuda|auto"): const char * */
  CLI_INT,    /* a whole number in [lo, hi]: int */
  CLI_NUM,    /* a finite number in [lo, hi]: double */
} cli_kind;

typedef struct {
  const char *name;    /* "--epochs" */
  const char *alias;   /* "-q", or NULL */
  cli_kind kind;
  void *dst;
  const char *arg;     /* the value's name in the help ("N"), NULL for flags */
  const char *help;    /* a line, or lines joined by '\n' */
  double lo, hi;       /* CLI_INT, CLI_NUM */
  int set;             /* CLI_FLAG: the value stored */
  const char *choices; /* CLI_CHOICE */
} cli_opt;

typedef struct {
  const char *name; /* "SPACE": in the usage and in messages */
  const char **dst;
  int required;
  const char *choices; /* NULL, or the values it may take ("show|clear") */
} cli_pos;

typedef struct {
  const char *tool;    /* "parsec-run" */
  const char *name;    /* "search" (NULL for a tool with one command) */
  const char *usage;   /* what follows the command in the usage line */
  const char *summary; /* the paragraph under the usage line */
  const cli_opt *opts;
  int nopts;
  const cli_pos *pos;
  int npos;
  const char *after;   /* a paragraph after the options (files written) */
  const char *exits;   /* "0 done, 1 error, ...": the exit statuses */
  const char *version;
} cli_cmd;

/* Parses ARGV (the command's arguments, without the tool and command names)
 * into the destinations of CMD's table.  Returns 1 when the command should
 * run; 0 when it should exit at once with *status (0 after --help or
 * --version, 2 after a usage error, which it has printed). */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, int *status);
/* The command's help, from its table. */
void cli_help(const cli_cmd *cmd, FILE *f);
/* A usage error: "TOOL CMD: message (see TOOL help CMD)"; returns 2. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
