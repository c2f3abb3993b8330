/* Placing a plan's arena buffers by liveness: each buffer lives from the
 * first step that touches it to the last, and buffers alive at the same
 * time never overlap.  Then every arena reference is resolved to its
 * buffer's offset. */
#include "pl_builder.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  long off, end;
  int first, last; /* the buffer's lifetime, in steps */
} span;

typedef struct {
  long units;
  int id;
} sized;

/* largest first; ties in creation order, so placement is deterministic */
static int order_cmp(const void *a, const void *b) {
  const sized *x = a, *y = b;
  if (x->units != y->units) return x->units < y->units ? 1 : -1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Greedy by size: the largest buffers first, each at the lowest offset free
 * over its lifetime (the placed buffers are kept sorted by offset, so each
 * placement is one pass over them). */
static int place(builder *b) {
  pl_plan *p = b->p;
  for (int i = 0; i < p->nsteps; i++)
    for (int k = 0; k < p->steps[i].nbufs; k++) {
      pl_buf *u = &p->bufs[p->steps[i].bufs[k]];
      if (u->first < 0) u->first = i;
      u->last = i;
    }
  /* inputs and outputs live for the whole plan */
  int io[6] = {p->images.buf, p->labels.buf, p->loglik.buf, p->correct.buf, -1, -1};
  if (p->has_aux) io[4] = p->aux_loglik.buf, io[5] = p->aux_correct.buf;
  for (int k = 0; k < 6; k++)
    if (io[k] >= 0) {
      p->bufs[io[k]].first = 0;
      p->bufs[io[k]].last = p->nsteps;
    }
  for (int k = 0; k < p->ndrops; k++) {
    p->bufs[p->drops[k].buf].first = 0;
    p->bufs[p->drops[k].buf].last = p->nsteps;
  }
  sized *order = malloc((size_t)p->nbufs * sizeof *order);
  span *sp = malloc((size_t)p->nbufs * sizeof *sp);
  if (!order || !sp) {
    free(order);
    free(sp);
    return err_set(b->e, "out of memory placing buffers");
  }
  int n = 0;
  for (int i = 0; i < p->nbufs; i++)
    if (p->bufs[i].first >= 0) order[n++] = (sized){p->bufs[i].units, i};
  qsort(order, (size_t)n, sizeof *order, order_cmp);
  int np = 0;
  p->arena_units = 0;
  for (int i = 0; i < n; i++) {
    pl_buf *u = &p->bufs[order[i].id];
    /* sizes rounded to 16 elements keep every buffer 64-byte aligned */
    long size = (u->units + 15) & ~15L, off = 0;
    for (int j = 0; j < np; j++) {
      if (sp[j].first > u->last || u->first > sp[j].last) continue; /* not alive together */
      if (sp[j].off >= off + size) break;
      if (sp[j].end > off) off = sp[j].end;
    }
    u->off = off;
    if (u->off + u->units > p->arena_units) p->arena_units = u->off + u->units;
    int at = np++;
    for (; at > 0 && sp[at - 1].off > off; at--) sp[at] = sp[at - 1];
    sp[at] = (span){off, off + size, u->first, u->last};
  }
  free(order);
  free(sp);
  /* the most units alive at once */
  long *delta = calloc((size_t)p->nsteps + 2, sizeof *delta);
  if (delta) {
    for (int i = 0; i < p->nbufs; i++)
      if (p->bufs[i].first >= 0) {
        delta[p->bufs[i].first] += p->bufs[i].units;
        delta[p->bufs[i].last + 1] -= p->bufs[i].units;
      }
    long live = 0;
    p->peak_units = 0;
    for (int i = 0; i <= p->nsteps; i++) {
      live += delta[i];
      if (live > p->peak_units) p->peak_units = live;
    }
    free(delta);
  }
  return 0;
}

static void resolve(pl_plan *p, pl_ref *r) {
  if (r->space == PR_ARENA && r->buf >= 0) {
    r->off += p->bufs[r->buf].off;
  }
}

static void resolve_all(pl_plan *p) {
  for (int i = 0; i < p->nsteps; i++) {
    pl_step *s = &p->steps[i];
    for (int k = 0; k < s->nargs; k++)
      if (s->args[k].kind == PA_REF) resolve(p, &s->args[k].ref);
    resolve(p, &s->a);
    resolve(p, &s->b);
    resolve(p, &s->c);
  }
  resolve(p, &p->images);
  resolve(p, &p->labels);
  resolve(p, &p->loglik);
  resolve(p, &p->correct);
  resolve(p, &p->logits);
  if (p->has_aux) {
    resolve(p, &p->aux_loglik);
    resolve(p, &p->aux_correct);
  }
  for (int k = 0; k < p->ndrops; k++) resolve(p, &p->drops[k]);
}

int pb_collect_touched(pl_plan *p, const nw_layout *lay, err_t *e) {
  unsigned char *seen = calloc((size_t)lay->n, 1);
  if (!seen) return err_set(e, "out of memory");
  for (int i = 0; i < p->nsteps; i++) {
    int w = p->steps[i].weight;
    if (w >= 0) {
      seen[w] = 1;
      /* an affine BN's reduce step writes its bias's gradient too */
      if (i < p->nsteps && p->steps[i].kind == PS_KERNEL &&
          strcmp(p->specs[p->steps[i].spec].k->name, "bn_bwd_reduce") == 0 && w + 1 < lay->n)
        seen[w + 1] = 1;
    }
  }
  p->ntouched = 0;
  for (int i = 0; i < lay->n; i++) p->ntouched += seen[i];
  p->touched = malloc((size_t)(p->ntouched + 1) * sizeof *p->touched);
  if (!p->touched) {
    free(seen);
    return err_set(e, "out of memory");
  }
  int k = 0;
  for (int i = 0; i < lay->n; i++)
    if (seen[i]) p->touched[k++] = i;
  free(seen);
  return 0;
}

int pb_place(builder *b) {
  if (place(b) != 0) return -1;
  resolve_all(b->p);
  return 0;
}
