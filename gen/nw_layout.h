/* The parameters of a network: every tensor with its name, shape and place in
 * one allocation (llm.c style: one block carved into views).  The search
 * network's parent holds one set of weights per (cell, node, predecessor,
 * primitive) edge; BN running statistics live in a second block. */
#ifndef PARSEC_NW_LAYOUT_H
#define PARSEC_NW_LAYOUT_H
#include "gt_genotype.h"
#include "sp_space.h"
#include <stddef.h>

#define NW_NAME_MAX 128

typedef enum { NW_PARAM, NW_STAT } nw_tensor_kind; /* trained weight, or BN running statistic */

typedef struct {
  char name[NW_NAME_MAX];
  nw_tensor_kind kind;
  int ndim;
  int shape[4];
  size_t numel;
  size_t offset; /* in elements, within the params block or the stats block */
  int edge;      /* edge index, or -1 for a tensor every child uses */
  float init;    /* uniform(-init, init) for weights; constant for BN (1 or 0) */
  int init_const; /* 1: fill with `init` instead of drawing */
} nw_tensor;

/* Search network edges and where their tensors start. */
typedef struct {
  int cell, node, pred, prim;
  int first, count; /* tensors [first, first + count) in layer order */
} nw_edge;

/* Where a layer's tensors are: indices into nw_layout.t, -1 when absent. */
typedef struct {
  int weight, weight2; /* conv weight (factorized reduce: its two convs) */
  int bn_weight, bn_bias, bn_mean, bn_var;
} nw_slots;

typedef struct {
  nw_tensor *t;
  int n, cap;
  size_t nparams; /* elements in the params block */
  size_t nstats;  /* elements in the stats block */
  nw_edge *edges;
  int nedges;
  int *edge_base; /* [cell * nodes + node]: index of edge (pred 0, prim 0) */
  /* fixed parts */
  int stem_weight; /* stem.0 (DARTS) or stem0.0 (imagenet) */
  nw_slots stem_bn;
  int stem_more_weight[2]; /* imagenet: stem0.3 and stem1.1 */
  nw_slots stem_more_bn[2];
  int pre0_first[64], pre1_first[64]; /* first tensor of each cell's preprocessing */
  int classifier_weight, classifier_bias;
  /* the evaluation network: one op per genotype entry */
  int eval;
  int *entry_first; /* [cell * nodes * inputs + node * inputs + slot] */
  int aux_first;    /* auxiliary head's first tensor, or -1 */
  int aux_classifier; /* its classifier's weight (the bias follows) */
  int aux_cell;     /* the cell after which the auxiliary head reads */
} nw_layout;

/* The search network's parent: all edges, search-mode BNs (and the
 * auxiliary head when NET has one: a transfer search). */
int nw_search_layout(nw_layout *lay, const sp_space *sp, const sp_net *net, err_t *e);
/* The evaluation network of genotype G: an op per genotype entry, affine
 * BNs, the auxiliary head when NET has one; tensors named as in the
 * state_dict of DARTS's PyTorch evaluation model (cells.N._ops.M.op.1.weight,
 * auxiliary_head.features.2.weight, classifier.weight, ...). */
int nw_eval_layout(nw_layout *lay, const sp_space *sp, const sp_net *net, const gt_genotype *g, err_t *e);
void nw_free(nw_layout *lay);

int nw_edge_index(const nw_layout *lay, const sp_space *sp, int cell, int node, int pred, int prim);
/* Number of trainable parameters (elements of kind NW_PARAM). */
size_t nw_param_count(const nw_layout *lay);
/* The same without the auxiliary head: the count papers report. */
size_t nw_param_count_main(const nw_layout *lay);
int nw_find(const nw_layout *lay, const char *name);

/* True when BN layer L is affine in the given network kind (search or evaluation). */
int nw_bn_affine(const sp_layer *l, int search);

#endif
