/* Reading genotypes in the forms people paste from DARTS and its
 * successors: Genotype(...) with keyword or positional fields, concat as a
 * list or range(a, b), a `NAME = Genotype(...)` line, or a whole Python
 * file of them (genotypes.py), from which NAME picks one.  Lines of such a
 * file that are not genotype assignments (imports, PRIMITIVES = [...]) are
 * skipped; `ALIAS = NAME` lines are followed.  Every error names the line and
 * column and what was expected there. */
#include "gt_genotype.h"

#include "gt_builtin.h"
#include "io.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { T_EOF, T_NL, T_NAME, T_INT, T_STR, T_PUNCT };

typedef struct {
  int kind;
  const char *p; /* the token's first byte (a string's first character inside its quotes) */
  size_t len;
  long ival;
  int line, col;
} tok;

/* The lexer: Python's tokens as far as genotype files need them.  A newline
 * inside brackets does not end a statement, as in Python. */
typedef struct {
  const char *s, *line_start, *where;
  int line, depth;
  tok t;
} lexer;

static int lx_error(const lexer *L, const tok *t, err_t *e, const char *fmt, const char *what);

static void lx_skip_blank(lexer *L) {
  for (;;) {
    char c = *L->s;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
      L->s++;
    } else if (c == '#') {
      while (*L->s && *L->s != '\n') L->s++;
    } else if (c == '\\' && L->s[1] == '\n') {
      L->s += 2;
      L->line++;
      L->line_start = L->s;
    } else if (c == '\n' && L->depth > 0) {
      L->s++;
      L->line++;
      L->line_start = L->s;
    } else {
      return;
    }
  }
}

/* A quoted string; triple quotes may span lines.  0, or -1 when unterminated. */
static int lx_string(lexer *L, tok *t) {
  char q = *L->s;
  int triple = L->s[1] == q && L->s[2] == q;
  L->s += triple ? 3 : 1;
  t->p = L->s;
  for (;;) {
    if (!*L->s || (!triple && *L->s == '\n')) return -1;
    if (*L->s == '\\' && L->s[1]) {
      L->s += 2;
      continue;
    }
    if (*L->s == q && (!triple || (L->s[1] == q && L->s[2] == q))) break;
    if (*L->s == '\n') {
      L->line++;
      L->line_start = L->s + 1;
    }
    L->s++;
  }
  t->len = (size_t)(L->s - t->p);
  L->s += triple ? 3 : 1;
  return 0;
}

/* Moves to the next token; -1 (with the message) on text no token can start. */
static int lx_next(lexer *L, err_t *e) {
  lx_skip_blank(L);
  tok *t = &L->t;
  memset(t, 0, sizeof *t);
  t->p = L->s;
  t->line = L->line;
  t->col = (int)(L->s - L->line_start) + 1;
  char c = *L->s;
  if (!c) {
    t->kind = T_EOF;
  } else if (c == '\n') {
    t->kind = T_NL;
    while (*L->s == '\n') { /* blank lines make one end of statement */
      L->s++;
      L->line++;
      L->line_start = L->s;
      lx_skip_blank(L);
    }
  } else if (isalpha((unsigned char)c) || c == '_') {
    t->kind = T_NAME;
    while (isalnum((unsigned char)*L->s) || *L->s == '_') L->s++;
  } else if (isdigit((unsigned char)c) || (c == '-' && isdigit((unsigned char)L->s[1]))) {
    t->kind = T_INT;
    char *end;
    t->ival = strtol(L->s, &end, 10);
    L->s = end;
    t->len = (size_t)(L->s - t->p);
    if (t->ival < -1000000 || t->ival > 1000000) return lx_error(L, t, e, "the number %s is out of range", NULL);
  } else if (c == '\'' || c == '"') {
    t->kind = T_STR;
    if (lx_string(L, t) != 0) return lx_error(L, t, e, "a string that never ends%s", "");
    return 0;
  } else {
    t->kind = T_PUNCT;
    L->s++;
    if (c == '(' || c == '[' || c == '{') L->depth++;
    if ((c == ')' || c == ']' || c == '}') && L->depth > 0) L->depth--;
  }
  t->len = (size_t)(L->s - t->p);
  return 0;
}

static int is_punct(const tok *t, char c) { return t->kind == T_PUNCT && *t->p == c; }
static int is_name(const tok *t, const char *n) {
  return t->kind == T_NAME && t->len == strlen(n) && strncmp(t->p, n, t->len) == 0;
}

/* How a token reads in a message: 'x', a number, a string, the end. */
static void tok_show(const tok *t, char *buf, size_t cap) {
  switch (t->kind) {
    case T_EOF:
      snprintf(buf, cap, "the end of the text");
      break;
    case T_NL:
      snprintf(buf, cap, "the end of the line");
      break;
    case T_STR:
      snprintf(buf, cap, "the string '%.*s'", (int)(t->len > 40 ? 40 : t->len), t->p);
      break;
    case T_PUNCT:
      if (isprint((unsigned char)*t->p))
        snprintf(buf, cap, "'%c'", *t->p);
      else
        snprintf(buf, cap, "the byte 0x%02x", (unsigned char)*t->p);
      break;
    default:
      snprintf(buf, cap, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->p);
  }
}

/* "WHERE:LINE:COL: " + FMT (with WHAT, or the token found when WHAT is NULL). */
static int lx_error(const lexer *L, const tok *t, err_t *e, const char *fmt, const char *what) {
  char found[96], msg[512];
  tok_show(t, found, sizeof found);
  snprintf(msg, sizeof msg, fmt, what ? what : found);
  return err_set(e, "%s:%d:%d: %s", L->where, t->line, t->col, msg);
}

/* Expects the punctuation C (WANT describes it) and moves past it. */
static int expect(lexer *L, char c, const char *want, err_t *e) {
  if (!is_punct(&L->t, c)) {
    char found[96];
    tok_show(&L->t, found, sizeof found);
    return err_set(e, "%s:%d:%d: expected %s, found %s", L->where, L->t.line, L->t.col, want, found);
  }
  return lx_next(L, e);
}

static int expected(lexer *L, const char *want, err_t *e) {
  char found[96];
  tok_show(&L->t, found, sizeof found);
  return err_set(e, "%s:%d:%d: expected %s, found %s", L->where, L->t.line, L->t.col, want, found);
}

static const char *const CELL[2] = {"normal", "reduce"};

/* One ('op', input) pair (or ['op', input]) as entry K of cell type T. */
static int parse_pair(const sp_space *sp, lexer *L, gt_genotype *g, int t, int k, err_t *e) {
  char close = is_punct(&L->t, '[') ? ']' : ')';
  if (!is_punct(&L->t, '(') && !is_punct(&L->t, '[')) return expected(L, "an ('op', input) pair", e);
  if (lx_next(L, e)) return -1;
  if (L->t.kind != T_STR) return expected(L, "a quoted operation name such as 'sep_conv_3x3'", e);
  tok name = L->t;
  char nm[SP_NAME_MAX];
  snprintf(nm, sizeof nm, "%.*s", (int)(name.len < SP_NAME_MAX ? name.len : SP_NAME_MAX - 1), name.p);
  int p = name.len < SP_NAME_MAX ? sp_prim_index(sp, nm) : -1;
  if (p < 0) {
    char known[1024] = "";
    size_t o = 0;
    for (int i = 0; i < sp->nprims && o < sizeof known; i++)
      o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "", sp->prims[i].darts_name);
    return err_set(e, "%s:%d:%d: the %s cell uses the operation '%s', which this space lacks (it has: %s)", L->where,
                   name.line, name.col, CELL[t], nm, known);
  }
  if (lx_next(L, e) || expect(L, ',', "',' and the input number", e)) return -1;
  if (L->t.kind != T_INT) return expected(L, "the input number (0, 1: the cell's inputs; j >= 2: node j - 2)", e);
  tok in = L->t;
  int node = k / sp->inputs, slot = k % sp->inputs;
  if (node >= sp->nodes)
    return err_set(e, "%s:%d:%d: the %s cell has more than %d pairs; this space has %d nodes of %d inputs", L->where,
                   in.line, in.col, CELL[t], sp->nodes * sp->inputs, sp->nodes, sp->inputs);
  if (in.ival < 0 || in.ival >= 2 + node)
    return err_set(e,
                   "%s:%d:%d: node %d of the %s cell reads input %ld; it may read 0..%d (0, 1: the cell's inputs; "
                   "j >= 2: node j - 2)",
                   L->where, in.line, in.col, node, CELL[t], in.ival, node + 1);
  g->prim[t][node][slot] = p;
  g->pred[t][node][slot] = (int)in.ival;
  if (lx_next(L, e)) return -1;
  if (is_punct(&L->t, ',') && lx_next(L, e)) return -1;
  return expect(L, close, close == ')' ? "')' closing the pair" : "']' closing the pair", e);
}

/* The list of pairs of cell type T. */
static int parse_ops(const sp_space *sp, lexer *L, gt_genotype *g, int t, err_t *e) {
  if (!is_punct(&L->t, '[') && !is_punct(&L->t, '(')) return expected(L, "'[' opening the list of pairs", e);
  char close = is_punct(&L->t, '[') ? ']' : ')';
  if (lx_next(L, e)) return -1;
  int k = 0;
  while (!is_punct(&L->t, close)) {
    if (parse_pair(sp, L, g, t, k++, e)) return -1;
    if (is_punct(&L->t, ',')) {
      if (lx_next(L, e)) return -1;
    } else if (!is_punct(&L->t, close)) {
      return expected(L, close == ']' ? "',' or ']'" : "',' or ')'", e);
    }
  }
  if (k != sp->nodes * sp->inputs)
    return err_set(e, "%s:%d:%d: the %s cell has %d pairs; this space needs %d (%d nodes x %d inputs)", L->where,
                   L->t.line, L->t.col, CELL[t], k, sp->nodes * sp->inputs, sp->nodes, sp->inputs);
  return lx_next(L, e);
}

/* range(a, b) or range(b), possibly inside list(...); the numbers into V. */
static int parse_range(lexer *L, int *v, int *n, err_t *e) {
  long a = 0, b;
  if (lx_next(L, e) || expect(L, '(', "'(' after range", e)) return -1;
  if (L->t.kind != T_INT) return expected(L, "a number in range(...)", e);
  b = L->t.ival;
  if (lx_next(L, e)) return -1;
  if (is_punct(&L->t, ',')) {
    if (lx_next(L, e)) return -1;
    if (L->t.kind != T_INT) return expected(L, "the end of range(a, b)", e);
    a = b;
    b = L->t.ival;
    if (lx_next(L, e)) return -1;
  }
  for (long i = a; i < b && *n < GT_MAXNODES + 3; i++) v[(*n)++] = (int)i;
  return expect(L, ')', "')' closing range(...)", e);
}

/* A concat: [2, 3, 4, 5], (2, 3, ...), range(2, 6) or list(range(2, 6)).
 * The space concatenates every node, so only 2..nodes+1 in order fits. */
static int parse_concat(const sp_space *sp, lexer *L, int t, err_t *e) {
  tok at = L->t;
  int v[GT_MAXNODES + 3], n = 0;
  if (is_name(&L->t, "list")) {
    if (lx_next(L, e) || expect(L, '(', "'(' after list", e)) return -1;
    if (!is_name(&L->t, "range")) return expected(L, "range(...) inside list(...)", e);
    if (parse_range(L, v, &n, e) || expect(L, ')', "')' closing list(...)", e)) return -1;
  } else if (is_name(&L->t, "range")) {
    if (parse_range(L, v, &n, e)) return -1;
  } else if (is_punct(&L->t, '[') || is_punct(&L->t, '(')) {
    char close = is_punct(&L->t, '[') ? ']' : ')';
    if (lx_next(L, e)) return -1;
    while (!is_punct(&L->t, close)) {
      if (L->t.kind != T_INT) return expected(L, "a node number", e);
      if (n < GT_MAXNODES + 3) v[n++] = (int)L->t.ival;
      if (lx_next(L, e)) return -1;
      if (is_punct(&L->t, ',')) {
        if (lx_next(L, e)) return -1;
      } else if (!is_punct(&L->t, close)) {
        return expected(L, close == ']' ? "',' or ']'" : "',' or ')'", e);
      }
    }
    if (lx_next(L, e)) return -1;
  } else {
    return expected(L, "the nodes to concatenate: [2, 3, 4, 5] or range(2, 6)", e);
  }
  int ok = n == sp->nodes;
  for (int i = 0; ok && i < n; i++) ok = v[i] == i + 2;
  if (!ok)
    return err_set(e, "%s:%d:%d: %s_concat must be range(2, %d): this space's cells concatenate every node, in order",
                   L->where, at.line, at.col, CELL[t], sp->nodes + 2);
  return 0;
}

/* Genotype(...) (or a bare (...)) from the current token. */
static int parse_genotype(const sp_space *sp, lexer *L, gt_genotype *g, err_t *e) {
  static const char *const FIELDS[4] = {"normal", "normal_concat", "reduce", "reduce_concat"};
  memset(g, 0, sizeof *g);
  g->nodes = sp->nodes;
  g->inputs = sp->inputs;
  if (is_name(&L->t, "Genotype") && lx_next(L, e)) return -1;
  if (expect(L, '(', "Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)", e)) return -1;
  int seen[4] = {0, 0, 0, 0}, pos = 0;
  while (!is_punct(&L->t, ')')) {
    int f = pos < 4 ? pos : -1;
    if (L->t.kind == T_NAME) {
      lexer peek = *L;
      if (lx_next(&peek, e)) return -1;
      if (is_punct(&peek.t, '=')) {
        for (f = 0; f < 4 && !is_name(&L->t, FIELDS[f]);) f++;
        if (f == 4)
          return lx_error(L, &L->t, e, "unknown field %s (expected normal, normal_concat, reduce or reduce_concat)",
                          NULL);
        *L = peek;
        if (lx_next(L, e)) return -1;
      }
    }
    if (f < 0) return expected(L, "')' after the four fields", e);
    if (seen[f]) return lx_error(L, &L->t, e, "%s is given twice", FIELDS[f]);
    seen[f] = 1;
    pos++;
    if ((f % 2 == 0 ? parse_ops(sp, L, g, f / 2, e) : parse_concat(sp, L, f / 2, e)) != 0) return -1;
    if (is_punct(&L->t, ',')) {
      if (lx_next(L, e)) return -1;
    } else if (!is_punct(&L->t, ')')) {
      return expected(L, "',' or ')'", e);
    }
  }
  if (!seen[0] || !seen[2]) return lx_error(L, &L->t, e, "the genotype lacks %s=[...]", !seen[0] ? "normal" : "reduce");
  return lx_next(L, e);
}

/* ---------- files of named genotypes ---------- */

#define GT_MAXENTRIES 256

typedef struct {
  char name[SP_NAME_MAX];
  char target[SP_NAME_MAX]; /* an alias's target, or "" */
  lexer at;                 /* the lexer at the genotype's first token */
} entry;

/* Moves past the current statement (to its newline or the end). */
static int skip_statement(lexer *L, err_t *e) {
  while (L->t.kind != T_NL && L->t.kind != T_EOF)
    if (lx_next(L, e)) return -1;
  return 0;
}

static void tok_copy(char *dst, const tok *t) {
  snprintf(dst, SP_NAME_MAX, "%.*s", (int)(t->len < SP_NAME_MAX ? t->len : SP_NAME_MAX - 1), t->p);
}

/* At a statement's first name: records NAME = Genotype(...) and
 * NAME = OTHER; a name given twice takes its last value, as in Python.
 * Other statements are left to the caller to skip. */
static int record(lexer *L, entry *list, int *n, err_t *e) {
  tok name = L->t;
  if (lx_next(L, e)) return -1;
  if (!is_punct(&L->t, '=') || name.len >= SP_NAME_MAX) return 0;
  if (lx_next(L, e)) return -1;
  entry en;
  memset(&en, 0, sizeof en);
  tok_copy(en.name, &name);
  en.at = *L;
  lexer peek = *L;
  if (L->t.kind != T_NAME) return 0;
  if (lx_next(&peek, e) != 0) { /* the caller's skip of the statement reports it */
    err_clear(e);
    return 0;
  }
  int genotype = is_name(&L->t, "Genotype") && is_punct(&peek.t, '(');
  int alias = !genotype && (peek.t.kind == T_NL || peek.t.kind == T_EOF) && L->t.len < SP_NAME_MAX;
  if (!genotype && !alias) return 0;
  if (alias) tok_copy(en.target, &L->t);
  int i = 0;
  while (i < *n && strcmp(list[i].name, en.name) != 0) i++;
  if (i == *n && *n == GT_MAXENTRIES) return err_set(e, "%s: more than %d genotypes", L->where, GT_MAXENTRIES);
  list[i] = en;
  if (i == *n) (*n)++;
  return 0;
}

static int scan(lexer *L, entry *list, int *n, err_t *e) {
  *n = 0;
  if (lx_next(L, e)) return -1;
  while (L->t.kind != T_EOF) {
    if (L->t.kind == T_NAME && record(L, list, n, e)) return -1;
    if (skip_statement(L, e) || (L->t.kind == T_NL && lx_next(L, e))) return -1;
  }
  return 0;
}

static void list_names(const entry *list, int n, char *buf, size_t cap) {
  size_t o = 0;
  buf[0] = 0;
  for (int i = 0; i < n && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", list[i].name);
}

/* The entry NAME, following aliases; NULL with the message when missing. */
static const entry *find(const entry *list, int n, const char *name, const char *where, err_t *e) {
  const char *want = name;
  for (int hops = 0; hops < 16; hops++) {
    int i = 0;
    while (i < n && strcmp(list[i].name, want) != 0) i++;
    if (i == n) {
      char names[2048];
      list_names(list, n, names, sizeof names);
      if (want == name)
        err_set(e, "%s has no genotype named '%s' (it has: %s)", where, name, n ? names : "none");
      else
        err_set(e, "%s: '%s' refers to '%s', which the file does not define", where, name, want);
      return NULL;
    }
    if (!list[i].target[0]) return &list[i];
    want = list[i].target;
  }
  err_set(e, "%s: '%s' is an alias of an alias ... more than 16 deep", where, name);
  return NULL;
}

static int parse_at(const sp_space *sp, lexer *L, gt_genotype *g, err_t *e) {
  if (parse_genotype(sp, L, g, e)) return -1;
  if (L->t.kind != T_NL && L->t.kind != T_EOF) return expected(L, "the end of the line after the genotype", e);
  return 0;
}

int gt_parse_named(const sp_space *sp, const char *text, const char *name, gt_genotype *g, const char *where,
                   err_t *e) {
  lexer L = {text, text, where, 1, 0, {0}};
  if (lx_next(&L, e)) return -1;
  while (L.t.kind == T_NL)
    if (lx_next(&L, e)) return -1;
  if (!name && (is_name(&L.t, "Genotype") || is_punct(&L.t, '('))) {
    if (parse_genotype(sp, &L, g, e)) return -1;
    while (L.t.kind == T_NL)
      if (lx_next(&L, e)) return -1;
    return L.t.kind == T_EOF ? 0 : expected(&L, "the end of the text after the genotype", e);
  }
  entry *list = malloc(GT_MAXENTRIES * sizeof *list);
  if (!list) return err_set(e, "%s: out of memory", where);
  lexer S = {text, text, where, 1, 0, {0}};
  int n = 0, rc = scan(&S, list, &n, e);
  if (rc == 0 && !name && n != 1) {
    char names[2048];
    list_names(list, n, names, sizeof names);
    rc = n == 0 ? expected(&L,
                           "a genotype in DARTS's form, Genotype(normal=[...], normal_concat=[...], "
                           "reduce=[...], reduce_concat=[...]), or NAME = Genotype(...) lines",
                           e)
                : err_set(e, "%s holds %d genotypes (%s): name one as %s:NAME", where, n, names, where);
  }
  if (rc == 0) {
    const entry *en = find(list, n, name ? name : list[0].name, where, e);
    lexer at = en ? en->at : L;
    rc = en ? parse_at(sp, &at, g, e) : -1;
  }
  free(list);
  return rc;
}

int gt_parse(const sp_space *sp, const char *text, gt_genotype *g, const char *where, err_t *e) {
  return gt_parse_named(sp, text, NULL, g, where, e);
}

int gt_list_names(const char *text, const char *where, char *buf, size_t cap, err_t *e) {
  entry *list = malloc(GT_MAXENTRIES * sizeof *list);
  if (!list) return err_set(e, "%s: out of memory", where);
  lexer S = {text, text, where, 1, 0, {0}};
  int n = 0, rc = scan(&S, list, &n, e);
  if (rc == 0) list_names(list, n, buf, cap);
  free(list);
  return rc ? -1 : n;
}

/* ---------- what a user names ---------- */

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int parse_file(const sp_space *sp, const char *path, const char *name, gt_genotype *g, err_t *e) {
  char *text = io_read_file(path, "the genotype", IO_TEXT_MAX, NULL, e);
  if (!text) return -1;
  int rc = gt_parse_named(sp, text, name, g, path, e);
  free(text);
  return rc;
}

int gt_resolve(const sp_space *sp, const char *spec, gt_genotype *g, char *label, size_t cap, err_t *e) {
  char buf[4096], spare[8];
  if (!label) label = spare, cap = sizeof spare;
  const char *colon = strrchr(spec, ':');
  const gt_builtin *b = gt_builtin_find(spec);
  if (strncmp(spec, "Genotype", 8) == 0 && strchr(spec, '(')) {
    snprintf(label, cap, "%s", spec);
    return gt_parse(sp, spec, g, "--genotype", e);
  }
  if (is_file(spec)) {
    snprintf(label, cap, "%s", spec);
    return parse_file(sp, spec, NULL, g, e);
  }
  if (colon && colon > spec && colon[1]) {
    snprintf(buf, sizeof buf, "%.*s", (int)(colon - spec), spec);
    if (is_file(buf)) {
      snprintf(label, cap, "%s", spec);
      return parse_file(sp, buf, colon + 1, g, e);
    }
  }
  if (b) {
    char where[128];
    snprintf(where, sizeof where, "the built-in %s", b->name);
    snprintf(label, cap, "%s (built-in, %s)", spec, b->source);
    return gt_parse(sp, b->text, g, where, e);
  }
  return err_set(e,
                 "--genotype %s: no such file, and no built-in genotype of that name (built-in: %s; a file of "
                 "several genotypes takes FILE:NAME)",
                 spec, gt_builtin_names());
}
