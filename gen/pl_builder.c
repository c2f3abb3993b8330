/* The plan builder's primitives: arena buffers and views of them, kernel,
 * GEMM and zeroing steps, and the gradient buffers of the backward pass. */
#include "pl_builder.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int pb_grow(builder *b, void **arr, int n, int *cap, size_t elem) {
  if (n < *cap) return 0;
  int nc = *cap ? 2 * *cap : 64;
  void *np = realloc(*arr, (size_t)nc * elem);
  if (!np) {
    b->failed = 1;
    return err_set(b->e, "out of memory planning a child");
  }
  *arr = np;
  *cap = nc;
  return 0;
}

/* ---------- buffers and views ---------- */

/* The per-buffer bookkeeping of the builder, for at least N buffers. */
static int grow_books(builder *b, int n) {
  if (n < b->capb) return 0;
  int nc = b->capb ? 2 * b->capb : 64;
  int *g = realloc(b->gbuf, (size_t)nc * sizeof *g);
  if (g) b->gbuf = g;
  unsigned char **gi = realloc(b->ginit, (size_t)nc * sizeof *gi);
  if (gi) b->ginit = gi;
  int *ng = realloc(b->nograd, (size_t)nc * sizeof *ng);
  if (ng) b->nograd = ng;
  view *sh = realloc(b->shape, (size_t)nc * sizeof *sh);
  if (sh) b->shape = sh;
  if (!g || !gi || !ng || !sh) {
    b->failed = 1;
    return err_set(b->e, "out of memory planning a child");
  }
  b->capb = nc;
  return 0;
}

int pb_buf(builder *b, int c, int h, int w, int is_grad) {
  pl_plan *p = b->p;
  if (pb_grow(b, (void **)&p->bufs, p->nbufs, &p->capbufs, sizeof *p->bufs) != 0 || grow_books(b, p->nbufs) != 0)
    return -1;
  int id = p->nbufs++;
  p->bufs[id] = (pl_buf){(long)c * h * w, -1, -1, 0, is_grad};
  b->gbuf[id] = -1;
  b->ginit[id] = NULL;
  b->nograd[id] = 0;
  b->shape[id] = (view){id, 0, c, h, w};
  return id;
}

view pb_view(builder *b, int c, int h, int w) {
  int id = pb_buf(b, c, h, w, 0);
  return (view){id < 0 ? 0 : id, 0, c, h, w};
}

long pb_fixed(builder *b, long n) {
  long off = b->p->fixed_elems;
  b->p->fixed_elems += (n + 15) & ~15L;
  return off;
}

/* ---------- steps ---------- */

static void note_buf(pl_step *s, int buf) {
  if (buf < 0) return;
  for (int i = 0; i < s->nbufs; i++)
    if (s->bufs[i] == buf) return;
  if (s->nbufs < 8) s->bufs[s->nbufs++] = buf;
}

static pl_step *new_step(builder *b, pl_stepkind kind) {
  pl_plan *p = b->p;
  if (b->failed || pb_grow(b, (void **)&p->steps, p->nsteps, &p->capsteps, sizeof *p->steps) != 0) return NULL;
  pl_step *s = &p->steps[p->nsteps++];
  memset(s, 0, sizeof *s);
  s->kind = kind;
  s->weight = -1;
  s->op = b->cur_op;
  return s;
}

static int spec_index(builder *b, const cg_spec *s) {
  pl_plan *p = b->p;
  for (int i = 0; i < p->nspecs; i++)
    if (p->specs[i].k == s->k && memcmp(p->specs[i].vals, s->vals, sizeof s->vals) == 0) return i;
  if (pb_grow(b, (void **)&p->specs, p->nspecs, &p->capspecs, sizeof *p->specs) != 0) return -1;
  p->specs[p->nspecs] = *s;
  return p->nspecs++;
}

void pb_spec(builder *b, cg_spec *s, const char *kernel, const cg_const *consts, int n) {
  if (!b->failed && cg_spec_make(s, kernel, consts, n, b->e) != 0) b->failed = 1;
}

void pb_kstep(builder *b, const cg_spec *spec, int weight, int nargs, ...) {
  if (b->failed) return;
  int si = spec_index(b, spec);
  pl_step *s = new_step(b, PS_KERNEL);
  if (!s || si < 0) return;
  s->spec = si;
  s->weight = weight;
  va_list ap;
  va_start(ap, nargs);
  for (int i = 0; i < nargs; i++) {
    s->args[i] = va_arg(ap, pl_arg);
    note_buf(s, s->args[i].ref.buf);
  }
  va_end(ap);
  s->nargs = nargs;
  if (nargs != spec->k->nargs) {
    b->failed = 1;
    err_set(b->e, "internal: kernel %s takes %d arguments, the planner gave %d", spec->k->name, spec->k->nargs, nargs);
  }
}

void pb_gemm(builder *b, int ta, int tb, const long m[2], const long n[2], const long k[2], pl_arg A, const long lda[2],
             pl_arg B, const long ldb[2], pl_arg C, const long ldc[2], float beta, int weight) {
  pl_step *s = new_step(b, PS_GEMM);
  if (!s) return;
  s->ta = ta;
  s->tb = tb;
  memcpy(s->m, m, sizeof s->m);
  memcpy(s->n, n, sizeof s->n);
  memcpy(s->k, k, sizeof s->k);
  memcpy(s->lda, lda, sizeof s->lda);
  memcpy(s->ldb, ldb, sizeof s->ldb);
  memcpy(s->ldc, ldc, sizeof s->ldc);
  s->a = A.ref;
  s->b = B.ref;
  s->c = C.ref;
  s->alpha = 1;
  s->beta = beta;
  s->weight = weight;
  note_buf(s, A.ref.buf);
  note_buf(s, B.ref.buf);
  note_buf(s, C.ref.buf);
}

void pb_zero(builder *b, view v) {
  pl_step *s = new_step(b, PS_ZERO);
  if (!s) return;
  s->a = A_view(v).ref;
  s->count[0] = 0;
  s->count[1] = (long)v.c * v.h * v.w;
  note_buf(s, v.buf);
}

/* ---------- gradients ---------- */

/* Whether any and whether all of V's channels of a gradient were written. */
static void written(const unsigned char *in, view v, int *any, int *all) {
  *any = 0;
  *all = 1;
  for (int c = v.coff; c < v.coff + v.c; c++) {
    *any |= in[c];
    *all &= in[c];
  }
}

int pb_grad_read(builder *b, view v, view *g) {
  int gb = b->gbuf[v.buf];
  if (gb < 0) return 0;
  unsigned char *in = b->ginit[v.buf];
  int any, all;
  written(in, v, &any, &all);
  if (!any) return 0;
  *g = v;
  g->buf = gb;
  if (!all) {
    for (int c = v.coff; c < v.coff + v.c; c++)
      if (!in[c]) {
        pb_zero(b, (view){gb, c, 1, v.h, v.w});
        in[c] = 1;
      }
  }
  return 1;
}

int pb_grad_write(builder *b, view v, view *g, int *acc) {
  if (b->nograd[v.buf]) return 0;
  if (b->gbuf[v.buf] < 0) {
    view whole = b->shape[v.buf];
    int gb = pb_buf(b, whole.c, whole.h, whole.w, 1);
    if (gb < 0) return 0;
    b->gbuf[v.buf] = gb;
    b->ginit[v.buf] = calloc((size_t)whole.c, 1);
    if (!b->ginit[v.buf]) {
      b->failed = 1;
      err_set(b->e, "out of memory planning a child");
      return 0;
    }
  }
  unsigned char *in = b->ginit[v.buf];
  int any, all;
  written(in, v, &any, &all);
  *g = v;
  g->buf = b->gbuf[v.buf];
  if (any && !all)
    for (int c = v.coff; c < v.coff + v.c; c++)
      if (!in[c]) pb_zero(b, (view){g->buf, c, 1, v.h, v.w});
  for (int c = v.coff; c < v.coff + v.c; c++) in[c] = 1;
  *acc = any;
  return 1;
}
