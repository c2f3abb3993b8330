/* A genotype: one child's choices, a (predecessor, primitive) pair per input
 * slot of every node, for the normal (0) and the reduction (1) cell.
 * Predecessors are numbered as in DARTS: 0 and 1 are the cell's inputs,
 * j >= 2 is node j - 2.  The text form is DARTS's:
 *   Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
 *            reduce=[...], reduce_concat=[2, 3, 4, 5]) */
#ifndef PARSEC_GT_GENOTYPE_H
#define PARSEC_GT_GENOTYPE_H
#include "sp_space.h"

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
/* Parses the DARTS text form (primitive names or their DARTS names). */
int gt_parse(const sp_space *sp, const char *text, gt_genotype *g, const char *where, err_t *e);
int gt_equal(const gt_genotype *a, const gt_genotype *b);
/* Both cells as a Graphviz digraph (DOT text, malloc'd). */
char *gt_to_dot(const sp_space *sp, const gt_genotype *g, const char *title);

#endif
