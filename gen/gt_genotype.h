/* A genotype: one child's choices, a (predecessor, primitive) pair per input
 * slot of every node, for the normal (0) and the reduction (1) cell.
 * Predecessors are numbered as in DARTS: 0 and 1 are the cell's inputs,
 * j >= 2 is node j - 2.  The text form is DARTS's:
 *   Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
 *            reduce=[...], reduce_concat=[2, 3, 4, 5]) */
#ifndef PARSEC_GT_GENOTYPE_H
#define PARSEC_GT_GENOTYPE_H
#include "sp_space.h"
#include <stddef.h>

#define GT_MAXNODES 16
#define GT_MAXINPUTS 8

typedef struct {
  int nodes, inputs;
  int pred[2][GT_MAXNODES][GT_MAXINPUTS];
  int prim[2][GT_MAXNODES][GT_MAXINPUTS];
} gt_genotype;

/* The categorical index of a choice: predecessor-major, pred * nprims + prim. */
static inline int gt_index(const sp_space *sp, int pred, int prim) { return pred * sp->nprims + prim; }

/* DARTS text form; a malloc'd string. */
char *gt_to_text(const sp_space *sp, const gt_genotype *g);
/* Parses TEXT (WHERE names it in messages): one genotype in DARTS's text
 * form (keyword or positional fields, concat as a list or range(2, 6),
 * primitives by name or DARTS name), or a file of `NAME = Genotype(...)`
 * lines such as DARTS's genotypes.py, whose only genotype it takes. */
int gt_parse(const sp_space *sp, const char *text, gt_genotype *g, const char *where, err_t *e);
/* The same, taking the genotype called NAME from a file of several
 * (following `ALIAS = NAME` lines); NAME NULL: as gt_parse. */
int gt_parse_named(const sp_space *sp, const char *text, const char *name, gt_genotype *g, const char *where,
                   err_t *e);
/* The names a file of genotypes defines, comma-separated into BUF; their
 * number, or -1. */
int gt_list_names(const char *text, const char *where, char *buf, size_t cap, err_t *e);
/* A genotype as a user names it (--genotype SPEC): a file, FILE:NAME, a
 * built-in name such as DARTS_V2, or the text itself.  LABEL (when given)
 * receives how it was found, for the run record. */
int gt_resolve(const sp_space *sp, const char *spec, gt_genotype *g, char *label, size_t cap, err_t *e);
int gt_equal(const gt_genotype *a, const gt_genotype *b);
/* The same network: equal once each node's inputs are put in one order (a
 * node sums its inputs, so their order does not change what it computes). */
int gt_same_network(const gt_genotype *a, const gt_genotype *b);
/* Both cells as a Graphviz digraph (DOT text, malloc'd). */
char *gt_to_dot(const sp_space *sp, const gt_genotype *g, const char *title);

#endif
