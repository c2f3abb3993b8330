#include "gt_genotype.h"

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

int gt_equal(const gt_genotype *a, const gt_genotype *b) {
  if (a->nodes != b->nodes || a->inputs != b->inputs) return 0;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < a->nodes; n++)
      for (int i = 0; i < a->inputs; i++)
        if (a->pred[t][n][i] != b->pred[t][n][i] || a->prim[t][n][i] != b->prim[t][n][i]) return 0;
  return 1;
}

/* Node N's (pred, prim) pairs of cell type T as sorted keys into K. */
static void node_keys(const gt_genotype *g, int t, int n, int *k) {
  for (int i = 0; i < g->inputs; i++) {
    int v = g->pred[t][n][i] * 4096 + g->prim[t][n][i], j = i;
    for (; j > 0 && k[j - 1] > v; j--) k[j] = k[j - 1];
    k[j] = v;
  }
}

int gt_same_network(const gt_genotype *a, const gt_genotype *b) {
  if (a->nodes != b->nodes || a->inputs != b->inputs) return 0;
  for (int t = 0; t < 2; t++)
    for (int n = 0; n < a->nodes; n++) {
      int ka[GT_MAXINPUTS], kb[GT_MAXINPUTS];
      node_keys(a, t, n, ka);
      node_keys(b, t, n, kb);
      if (memcmp(ka, kb, sizeof(int) * (size_t)a->inputs) != 0) return 0;
    }
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
                              sp->prims[g->prim[t][n][i]].darts_name);
      }
      o += (size_t)snprintf(s + o, cap - o, "    %s_n%d -> %s_out [color=gray];\n", names[t], n, names[t]);
    }
    o += (size_t)snprintf(s + o, cap - o, "  }\n");
  }
  snprintf(s + o, cap - o, "}\n");
  return s;
}
