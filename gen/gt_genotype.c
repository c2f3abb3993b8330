#include "gt_genotype.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *gt_to_text(const sp_space *sp, const gt_genotype *g) {
  size_t cap = 256 + 2 * (size_t)g->nodes * (size_t)g->inputs * (SP_NAME_MAX + 16);
  char *s = malloc(cap);
  if (!s) return NULL;
  size_t o = (size_t)snprintf(s, cap, "Genotype(");
  static const char *const names[2] = {"normal", "reduce"};
  for (int t = 0; t < 2; t++) {
    o += (size_t)snprintf(s + o, cap - o, "%s%s=[", t ? ", " : "", names[t]);
    for (int n = 0; n < g->nodes; n++)
      for (int i = 0; i < g->inputs; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s('%s', %d)", n || i ? ", " : "",
                              sp->prims[g->prim[t][n][i]].darts_name, g->pred[t][n][i]);
    o += (size_t)snprintf(s + o, cap - o, "], %s_concat=[", names[t]);
    for (int n = 0; n < g->nodes; n++) o += (size_t)snprintf(s + o, cap - o, "%s%d", n ? ", " : "", n + 2);
    o += (size_t)snprintf(s + o, cap - o, "]");
  }
  snprintf(s + o, cap - o, ")");
  return s;
}

typedef struct {
  const char *s;
  const char *start;
} rd;

static void ws(rd *r) {
  while (isspace((unsigned char)*r->s)) r->s++;
}

static int eat(rd *r, char c) {
  ws(r);
  if (*r->s != c) return 0;
  r->s++;
  return 1;
}

/* One list of ('op', input) pairs into cell type T. */
static int parse_list(const sp_space *sp, rd *r, gt_genotype *g, int t, const char *where, err_t *e) {
  if (!eat(r, '[')) return err_set(e, "%s: expected '[' at offset %ld", where, (long)(r->s - r->start));
  int k = 0;
  while (!eat(r, ']')) {
    if (k && !eat(r, ',')) return err_set(e, "%s: expected ',' at offset %ld", where, (long)(r->s - r->start));
    if (eat(r, ']')) break;
    if (!eat(r, '(')) return err_set(e, "%s: expected '(' at offset %ld", where, (long)(r->s - r->start));
    ws(r);
    char q = *r->s;
    if (q != '\'' && q != '"') return err_set(e, "%s: expected a quoted primitive name at offset %ld", where, (long)(r->s - r->start));
    const char *nm = ++r->s;
    while (*r->s && *r->s != q) r->s++;
    if (!*r->s) return err_set(e, "%s: unterminated primitive name", where);
    char name[SP_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", (int)(r->s - nm), nm);
    r->s++;
    if (!eat(r, ',')) return err_set(e, "%s: expected ',' after '%s'", where, name);
    ws(r);
    char *end;
    long input = strtol(r->s, &end, 10);
    if (end == r->s) return err_set(e, "%s: expected an input number after '%s'", where, name);
    r->s = end;
    if (!eat(r, ')')) return err_set(e, "%s: expected ')' after ('%s', %ld", where, name, input);
    int node = k / sp->inputs, slot = k % sp->inputs;
    if (node >= sp->nodes)
      return err_set(e, "%s: the %s cell has more than %d entries (%d nodes x %d inputs)", where,
                     t ? "reduce" : "normal", sp->nodes * sp->inputs, sp->nodes, sp->inputs);
    int p = sp_prim_index(sp, name);
    if (p < 0) {
      char known[1024] = "";
      size_t o = 0;
      for (int i = 0; i < sp->nprims; i++) o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "", sp->prims[i].darts_name);
      return err_set(e, "%s: unknown primitive '%s' in the %s cell (this space has: %s)", where, name,
                     t ? "reduce" : "normal", known);
    }
    if (input < 0 || input >= 2 + node)
      return err_set(e, "%s: node %d of the %s cell takes input %ld, out of range: node %d may read 0..%d "
                        "(0, 1: the cell's inputs; j >= 2: node j - 2)",
                     where, node, t ? "reduce" : "normal", input, node, node + 1);
    g->prim[t][node][slot] = p;
    g->pred[t][node][slot] = (int)input;
    k++;
  }
  if (k != sp->nodes * sp->inputs)
    return err_set(e, "%s: the %s cell has %d entries, this space needs %d (%d nodes x %d inputs)", where,
                   t ? "reduce" : "normal", k, sp->nodes * sp->inputs, sp->nodes, sp->inputs);
  return 0;
}

static int skip_concat(rd *r) {
  if (!eat(r, '[')) return 0;
  while (*r->s && *r->s != ']') r->s++;
  return eat(r, ']');
}

int gt_parse(const sp_space *sp, const char *text, gt_genotype *g, const char *where, err_t *e) {
  memset(g, 0, sizeof *g);
  g->nodes = sp->nodes;
  g->inputs = sp->inputs;
  rd r = {text, text};
  ws(&r);
  if (strncmp(r.s, "Genotype", 8) != 0)
    return err_set(e, "%s: not a genotype (expected the DARTS form Genotype(normal=[...], reduce=[...]))", where);
  r.s += 8;
  if (!eat(&r, '(')) return err_set(e, "%s: expected '(' after Genotype", where);
  int seen[2] = {0, 0};
  while (!eat(&r, ')')) {
    ws(&r);
    const char *k = r.s;
    while (isalnum((unsigned char)*r.s) || *r.s == '_') r.s++;
    size_t kl = (size_t)(r.s - k);
    if (!eat(&r, '=')) return err_set(e, "%s: expected 'name=' at offset %ld", where, (long)(k - text));
    if (kl == 6 && strncmp(k, "normal", 6) == 0) {
      if (parse_list(sp, &r, g, 0, where, e)) return -1;
      seen[0] = 1;
    } else if (kl == 6 && strncmp(k, "reduce", 6) == 0) {
      if (parse_list(sp, &r, g, 1, where, e)) return -1;
      seen[1] = 1;
    } else if ((kl == 13 && strncmp(k, "normal_concat", 13) == 0) || (kl == 13 && strncmp(k, "reduce_concat", 13) == 0)) {
      if (!skip_concat(&r)) return err_set(e, "%s: expected a list after %.*s=", where, (int)kl, k);
    } else {
      return err_set(e, "%s: unknown field '%.*s' (expected normal, normal_concat, reduce, reduce_concat)", where, (int)kl, k);
    }
    eat(&r, ',');
    if (!*r.s) return err_set(e, "%s: the genotype ends before its ')'", where);
  }
  if (!seen[0] || !seen[1]) return err_set(e, "%s: the genotype needs both normal=[...] and reduce=[...]", where);
  return 0;
}

int gt_equal(const gt_genotype *a, const gt_genotype *b) {
  if (a->nodes != b->nodes || a->inputs != b->inputs) return 0;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < a->nodes; n++)
      for (int i = 0; i < a->inputs; i++)
        if (a->pred[t][n][i] != b->pred[t][n][i] || a->prim[t][n][i] != b->prim[t][n][i]) return 0;
  return 1;
}

/* The normal and reduction cells as one Graphviz digraph, as DARTS draws
 * them: the cell's inputs c_{k-2} and c_{k-1}, the nodes, and c_{k}, the
 * concatenation of the nodes. */
char *gt_to_dot(const sp_space *sp, const gt_genotype *g, const char *title) {
  size_t cap = 4096 + (size_t)g->nodes * g->inputs * 256, o = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  o += (size_t)snprintf(s + o, cap - o,
                        "digraph parsec {\n  label=\"%s\";\n  labelloc=t;\n  rankdir=LR;\n"
                        "  node [style=filled, shape=rect, fontname=helvetica, fillcolor=lightblue];\n"
                        "  edge [fontname=helvetica, fontsize=10];\n",
                        title);
  static const char *const names[2] = {"normal", "reduce"};
  for (int t = 0; t < 2; t++) {
    o += (size_t)snprintf(s + o, cap - o,
                          "  subgraph cluster_%s {\n    label=\"%s cell\";\n"
                          "    %s_in0 [label=\"c_{k-2}\", fillcolor=darkseagreen2];\n"
                          "    %s_in1 [label=\"c_{k-1}\", fillcolor=darkseagreen2];\n"
                          "    %s_out [label=\"c_{k}\", fillcolor=palegoldenrod];\n",
                          names[t], names[t], names[t], names[t], names[t]);
    for (int n = 0; n < g->nodes; n++) {
      o += (size_t)snprintf(s + o, cap - o, "    %s_n%d [label=\"%d\"];\n", names[t], n, n);
      for (int i = 0; i < g->inputs; i++) {
        int j = g->pred[t][n][i];
        char from[32];
        if (j < 2) snprintf(from, sizeof from, "%s_in%d", names[t], j);
        else snprintf(from, sizeof from, "%s_n%d", names[t], j - 2);
        o += (size_t)snprintf(s + o, cap - o, "    %s -> %s_n%d [label=\"%s\"];\n", from, names[t], n,
                              sp->prims[g->prim[t][n][i]].name);
      }
      o += (size_t)snprintf(s + o, cap - o, "    %s_n%d -> %s_out [color=gray];\n", names[t], n, names[t]);
    }
    o += (size_t)snprintf(s + o, cap - o, "  }\n");
  }
  snprintf(s + o, cap - o, "}\n");
  return s;
}
