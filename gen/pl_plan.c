/* Planning a child: the network lowered into ops, each op into kernel and
 * GEMM steps, forward then backward in reverse, and the arena buffers placed
 * by liveness.  This file drives a build and is the planner's public face;
 * pl_builder.h says which file does what. */
#include "pl_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_builder(builder *b) {
  for (int i = 0; i < b->p->nbufs && b->ginit; i++) free(b->ginit[i]);
  free(b->ginit);
  free(b->gbuf);
  free(b->nograd);
  free(b->shape);
  free(b->ops);
}

static int build(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const pl_node_edges *edges,
                 pl_mode mode, int drop, float aux_weight, err_t *e) {
  static _Atomic unsigned long serials;
  memset(p, 0, sizeof *p);
  p->mode = mode;
  p->serial = ++serials;
  if (cg_kernels_load(e) != 0) return -1;
  builder b = {.p = p,
               .sp = sp,
               .net = net,
               .lay = lay,
               .mode = mode,
               .search = !lay->eval,
               .drop = drop && mode == PL_TRAIN,
               .aux_weight = aux_weight,
               .e = e};
  pb_lower_network(&b, edges);
  if (mode == PL_TRAIN)
    for (int i = b.nops - 1; i >= 0 && !b.failed; i--) pb_backward(&b, &b.ops[i]);
  int rc = b.failed ? -1 : pb_place(&b);
  if (rc == 0 && mode == PL_TRAIN) rc = pb_collect_touched(p, lay, e);
  free_builder(&b);
  if (rc != 0) pl_free(p);
  return rc;
}

int pl_build_child(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                   pl_mode mode, err_t *e) {
  return pl_build_child_aux(p, sp, net, lay, g, mode, lay->aux_first >= 0 ? (float)net->auxiliary_weight : 0, e);
}

int pl_build_child_aux(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                       pl_mode mode, float aux_weight, err_t *e) {
  pl_node_edges *edges = calloc((size_t)net->cells * GT_MAXNODES, sizeof *edges);
  if (!edges) return err_set(e, "out of memory");
  for (int c = 0; c < net->cells; c++) {
    int t = sp_is_reduction(net, c) ? 1 : 0;
    for (int n = 0; n < sp->nodes; n++) {
      pl_node_edges *ne = &edges[(size_t)c * GT_MAXNODES + n];
      for (int i = 0; i < sp->inputs; i++) {
        int j = g->pred[t][n][i], pr = g->prim[t][n][i], k;
        for (k = 0; k < ne->n; k++)
          if (ne->pred[k] == j && ne->prim[k] == pr) break;
        if (k == ne->n) {
          ne->pred[k] = j;
          ne->prim[k] = pr;
          ne->mult[k] = 0;
          ne->first[k] = lay->edges[nw_edge_index(lay, sp, c, n, j, pr)].first;
          ne->n++;
        }
        ne->mult[k]++;
      }
    }
  }
  int rc = build(p, sp, net, lay, edges, mode, 0, aux_weight, e);
  free(edges);
  return rc;
}

int pl_build_supernet(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, pl_mode mode, err_t *e) {
  pl_node_edges *edges = calloc((size_t)net->cells * GT_MAXNODES, sizeof *edges);
  if (!edges) return err_set(e, "out of memory");
  for (int c = 0; c < net->cells; c++)
    for (int n = 0; n < sp->nodes; n++) {
      pl_node_edges *ne = &edges[(size_t)c * GT_MAXNODES + n];
      for (int j = 0; j < 2 + n; j++)
        for (int pr = 0; pr < sp->nprims && ne->n < 64; pr++) {
          ne->pred[ne->n] = j;
          ne->prim[ne->n] = pr;
          ne->first[ne->n] = lay->edges[nw_edge_index(lay, sp, c, n, j, pr)].first;
          ne->mult[ne->n++] = 1;
        }
    }
  int rc = build(p, sp, net, lay, edges, mode, 0, lay->aux_first >= 0 ? (float)net->auxiliary_weight : 0, e);
  free(edges);
  return rc;
}

int pl_build_eval(pl_plan *p, const sp_space *sp, const sp_net *net, const nw_layout *lay, const gt_genotype *g,
                  pl_mode mode, int drop_path, float aux_weight, err_t *e) {
  if (!lay->eval) return err_set(e, "internal: pl_build_eval needs an evaluation layout");
  pl_node_edges *edges = calloc((size_t)net->cells * GT_MAXNODES, sizeof *edges);
  if (!edges) return err_set(e, "out of memory");
  int per_cell = sp->nodes * sp->inputs;
  for (int c = 0; c < net->cells; c++) {
    int t = sp_is_reduction(net, c) ? 1 : 0;
    for (int n = 0; n < sp->nodes; n++) {
      pl_node_edges *ne = &edges[(size_t)c * GT_MAXNODES + n];
      for (int i = 0; i < sp->inputs; i++) { /* every genotype entry is an op of its own */
        ne->pred[i] = g->pred[t][n][i];
        ne->prim[i] = g->prim[t][n][i];
        ne->mult[i] = 1;
        ne->first[i] = lay->entry_first[c * per_cell + n * sp->inputs + i];
      }
      ne->n = sp->inputs;
    }
  }
  int rc = build(p, sp, net, lay, edges, mode, drop_path, aux_weight, e);
  free(edges);
  return rc;
}

void pl_free(pl_plan *p) {
  free(p->drops);
  free(p->steps);
  free(p->specs);
  free(p->bufs);
  free(p->ops);
  free(p->touched);
  memset(p, 0, sizeof *p);
}

size_t pl_arena_bytes(const pl_plan *p, long N, size_t elem) {
  return ((size_t)p->arena_units * (size_t)N + (size_t)p->fixed_elems) * elem;
}

int pl_check_placement(const pl_plan *p, err_t *e) {
  for (int i = 0; i < p->nbufs; i++) {
    const pl_buf *a = &p->bufs[i];
    if (a->first < 0) continue;
    if (a->off % 16) return err_set(e, "buffer %d is not aligned", i);
    for (int j = i + 1; j < p->nbufs; j++) {
      const pl_buf *c = &p->bufs[j];
      if (c->first < 0) continue;
      int live_together = a->first <= c->last && c->first <= a->last;
      int overlap = a->off < c->off + c->units && c->off < a->off + a->units;
      if (live_together && overlap)
        return err_set(e, "buffers %d [%ld, %ld) steps %d..%d and %d [%ld, %ld) steps %d..%d overlap", i, a->off,
                       a->off + a->units, a->first, a->last, j, c->off, c->off + c->units, c->first, c->last);
    }
  }
  return 0;
}

static int add_specs(cg_spec **all, int *n, int *cap, const cg_spec *s, int ns, err_t *e) {
  for (int i = 0; i < ns; i++) {
    int k;
    for (k = 0; k < *n; k++)
      if ((*all)[k].k == s[i].k && memcmp((*all)[k].vals, s[i].vals, sizeof s[i].vals) == 0) break;
    if (k < *n) continue;
    if (*n == *cap) {
      int nc = *cap ? 2 * *cap : 256;
      cg_spec *v = realloc(*all, (size_t)nc * sizeof *v);
      if (!v) return err_set(e, "out of memory");
      *all = v;
      *cap = nc;
    }
    (*all)[(*n)++] = s[i];
  }
  return 0;
}

int pl_space_specs(const sp_space *sp, const sp_net *net, const nw_layout *lay, cg_spec **out, int *nout, err_t *e) {
  cg_spec *all = NULL;
  int n = 0, cap = 0;
  const pl_mode modes[2] = {PL_TRAIN, PL_EVAL};
  for (int m = 0; m < 2; m++) {
    pl_plan p;
    if (pl_build_supernet(&p, sp, net, lay, modes[m], e) != 0) goto fail;
    int rc = add_specs(&all, &n, &cap, p.specs, p.nspecs, e);
    pl_free(&p);
    if (rc) goto fail;
  }
  cg_spec opt[3];
  if (cg_spec_make(&opt[0], "sgd", NULL, 0, e) || cg_spec_make(&opt[1], "sumsq", CG_CONSTS({"CHUNK", 4096}), e) ||
      cg_spec_make(&opt[2], "adam", NULL, 0, e) || add_specs(&all, &n, &cap, opt, 3, e))
    goto fail;
  *out = all;
  *nout = n;
  return 0;
fail:
  free(all);
  return -1;
}
