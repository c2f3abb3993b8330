/* Parsing the kernel templates (format in cg_kernel.h) and building specs. */
#include "cg_kernel.h"
#include "embed.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_MAXKERNELS 64

static cg_kernel kernels[CG_MAXKERNELS];
static int nkernels;
static err_t load_err;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static char *dup_range(const char *a, const char *b) {
  while (a < b && isspace((unsigned char)*a)) a++;
  while (b > a && isspace((unsigned char)b[-1])) b--;
  char *s = malloc((size_t)(b - a) + 1);
  if (!s) return NULL;
  memcpy(s, a, (size_t)(b - a));
  s[b - a] = 0;
  return s;
}

static int is_ident(const char *s) {
  if (!isalpha((unsigned char)*s) && *s != '_') return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_') return 0;
  return 1;
}

/* "const real *x" -> type "const real *", name "x". */
static int parse_arg(cg_kernel *k, const char *a, const char *b, const char *where) {
  char *s = dup_range(a, b);
  if (!s) return err_set(&load_err, "out of memory");
  size_t n = strlen(s);
  size_t i = n;
  while (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_')) i--;
  if (k->nargs == CG_MAXARGS || i == 0 || i == n || strlen(s + i) >= CG_IDLEN || i >= 32) {
    free(s);
    return err_set(&load_err, "%s: bad argument '%.*s'", where, (int)(b - a), a);
  }
  int j = k->nargs++;
  snprintf(k->arg_name[j], CG_IDLEN, "%s", s + i);
  s[i] = 0;
  snprintf(k->arg_type[j], sizeof k->arg_type[j], "%s", s);
  free(s);
  const char *t = k->arg_type[j];
  if (strchr(t, '*')) k->arg_kind[j] = CG_ARG_PTR;
  else if (strncmp(t, "int", 3) == 0) k->arg_kind[j] = CG_ARG_INT;
  else if (strncmp(t, "long", 4) == 0) k->arg_kind[j] = CG_ARG_LONG;
  else if (strncmp(t, "float", 5) == 0) k->arg_kind[j] = CG_ARG_FLOAT;
  else return err_set(&load_err, "%s: argument '%s' must be a pointer, int, long or float", where, k->arg_name[j]);
  return 0;
}

static int directive(cg_kernel *k, const char *line, const char *end, const char *where) {
  const char *p = line + 1;
  const char *w = p;
  while (p < end && isalpha((unsigned char)*p)) p++;
  size_t wl = (size_t)(p - w);
  if (wl == 5 && strncmp(w, "const", 5) == 0) {
    while (p < end) {
      while (p < end && isspace((unsigned char)*p)) p++;
      const char *s = p;
      while (p < end && !isspace((unsigned char)*p)) p++;
      if (p == s) break;
      if (k->nconst == CG_MAXCONST || p - s >= CG_IDLEN) return err_set(&load_err, "%s: too many constants", where);
      if (p - s == 1 && *s == 'N') return err_set(&load_err, "%s: N is the run-time size, not a constant", where);
      snprintf(k->consts[k->nconst++], CG_IDLEN, "%.*s", (int)(p - s), s);
    }
  } else if (wl == 3 && strncmp(w, "let", 3) == 0) {
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (!eq || k->nlet == CG_MAXLET) return err_set(&load_err, "%s: @let NAME = expression", where);
    char *name = dup_range(p, eq);
    if (!name || !is_ident(name) || strlen(name) >= CG_IDLEN) {
      free(name);
      return err_set(&load_err, "%s: @let needs a name", where);
    }
    snprintf(k->lets[k->nlet], CG_IDLEN, "%s", name);
    free(name);
    k->let_expr[k->nlet++] = dup_range(eq + 1, end);
  } else if (wl == 4 && strncmp(w, "args", 4) == 0) {
    const char *s = p;
    for (const char *q = p; q <= end; q++) {
      if (q == end || *q == ',') {
        if (parse_arg(k, s, q, where) != 0) return -1;
        s = q + 1;
      }
    }
  } else if (wl == 4 && strncmp(w, "grid", 4) == 0) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    if (!comma) return err_set(&load_err, "%s: @grid OUTER, INNER[, WORK]", where);
    const char *c2 = memchr(comma + 1, ',', (size_t)(end - comma - 1));
    k->grid0 = dup_range(p, comma);
    k->grid1 = dup_range(comma + 1, c2 ? c2 : end);
    static const char one[] = "1"; /* the default: one value per work item */
    k->work = c2 ? dup_range(c2 + 1, end) : dup_range(one, one + 1);
  } else if (wl == 5 && strncmp(w, "block", 5) == 0) {
    k->block = 1;
  } else if (wl == 3 && strncmp(w, "gpu", 3) == 0) {
    char *name = dup_range(p, end);
    if (!name || !is_ident(name) || strlen(name) >= sizeof k->gpu_name) {
      free(name);
      return err_set(&load_err, "%s: @gpu needs the name of a kernel", where);
    }
    snprintf(k->gpu_name, sizeof k->gpu_name, "%s", name);
    free(name);
  } else {
    return err_set(&load_err, "%s: unknown directive '@%.*s'", where, (int)wl, w);
  }
  return 0;
}

static int parse_file(const em_file *f) {
  const char *s = f->data, *end = f->data + f->len;
  int lineno = 0;
  cg_kernel *k = NULL;
  const char *body = NULL;
  int body_line = 0;
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *le = nl ? nl : end;
    lineno++;
    char where[160];
    snprintf(where, sizeof where, "%s:%d", f->path, lineno);
    if (body) {
      if (le - s == 1 && *s == '}') {
        k->body = dup_range(body, le + 1);
        k->body_line = body_line;
        body = NULL;
        k = NULL;
      }
    } else if (strncmp(s, "@kernel", 7) == 0) {
      if (nkernels == CG_MAXKERNELS) return err_set(&load_err, "%s: too many kernels", where);
      k = &kernels[nkernels++];
      memset(k, 0, sizeof *k);
      char *name = dup_range(s + 7, le);
      if (!name || !is_ident(name) || strlen(name) >= sizeof k->name) {
        free(name);
        return err_set(&load_err, "%s: @kernel needs a name", where);
      }
      snprintf(k->name, sizeof k->name, "%s", name);
      free(name);
      k->file = f->path;
      k->line = lineno;
    } else if (*s == '@') {
      if (!k) return err_set(&load_err, "%s: directive before @kernel", where);
      if (directive(k, s, le, where) != 0) return -1;
    } else if (*s == '{' && k) {
      if (!k->grid0) return err_set(&load_err, "%s: kernel %s has no @grid", where, k->name);
      body = s;
      body_line = lineno;
    }
    s = nl ? nl + 1 : end;
  }
  if (body) return err_set(&load_err, "%s: kernel %s: body not closed by a '}' line", f->path, k->name);
  if (k) return err_set(&load_err, "%s: kernel %s has no body", f->path, k->name);
  return 0;
}

/* K's GPU form exists, takes the same constants in the same order (a spec
   carries over by its values) and the same arguments, and names no form of
   its own. */
static int link_gpu_form(cg_kernel *k) {
  for (int i = 0; i < nkernels && !k->gpu; i++)
    if (strcmp(kernels[i].name, k->gpu_name) == 0) k->gpu = &kernels[i];
  const cg_kernel *g = k->gpu;
  if (!g) return err_set(&load_err, "%s:%d: kernel %s: no kernel %s for @gpu", k->file, k->line, k->name, k->gpu_name);
  int same = g->nconst == k->nconst && g->nargs == k->nargs && !g->gpu_name[0] && g != k;
  for (int i = 0; same && i < k->nconst; i++) same = strcmp(g->consts[i], k->consts[i]) == 0;
  for (int i = 0; same && i < k->nargs; i++)
    same = strcmp(g->arg_type[i], k->arg_type[i]) == 0 && strcmp(g->arg_name[i], k->arg_name[i]) == 0;
  if (!same)
    return err_set(&load_err, "%s:%d: kernel %s: its @gpu form %s must take the same @const and @args and name no form",
                   k->file, k->line, k->name, g->name);
  return 0;
}

static void load_all(void) {
  for (const em_file *f = em_files; f->path; f++) {
    size_t n = strlen(f->path);
    if (strncmp(f->path, "templates/", 10) != 0 || n < 3 || strcmp(f->path + n - 2, ".k") != 0) continue;
    if (parse_file(f) != 0) return;
  }
  for (int i = 0; i < nkernels; i++)
    for (int j = 0; j < i; j++)
      if (strcmp(kernels[i].name, kernels[j].name) == 0) {
        err_set(&load_err, "%s:%d: kernel %s is defined twice", kernels[i].file, kernels[i].line, kernels[i].name);
        return;
      }
  for (int i = 0; i < nkernels; i++)
    if (kernels[i].gpu_name[0] && link_gpu_form(&kernels[i]) != 0) return;
}

cg_spec cg_spec_on(const cg_spec *s, cg_target t) {
  cg_spec r = *s;
  if (t == CG_TARGET_CUDA && s->k->gpu) r.k = s->k->gpu;
  return r;
}

int cg_kernels_load(err_t *e) {
  pthread_once(&load_once, load_all);
  if (load_err.msg) return err_set(e, "internal: kernel templates: %s", load_err.msg);
  return 0;
}

const cg_kernel *cg_kernel_find(const char *name) {
  if (cg_kernels_load(NULL) != 0) return NULL;
  for (int i = 0; i < nkernels; i++)
    if (strcmp(kernels[i].name, name) == 0) return &kernels[i];
  return NULL;
}

int cg_kernel_count(void) {
  return cg_kernels_load(NULL) == 0 ? nkernels : 0;
}

const cg_kernel *cg_kernel_at(int i) {
  return &kernels[i];
}

int cg_spec_make(cg_spec *s, const char *kernel, const cg_const *consts, int n, err_t *e) {
  memset(s, 0, sizeof *s);
  if (cg_kernels_load(e) != 0) return -1;
  s->k = cg_kernel_find(kernel);
  if (!s->k) return err_set(e, "internal: no kernel template named '%s'", kernel);
  int seen[CG_MAXCONST] = {0};
  for (int j = 0; j < n; j++) {
    int i;
    for (i = 0; i < s->k->nconst; i++)
      if (strcmp(s->k->consts[i], consts[j].name) == 0) break;
    if (i == s->k->nconst) return err_set(e, "internal: kernel %s has no constant %s", kernel, consts[j].name);
    s->vals[i] = consts[j].value;
    seen[i]++;
  }
  for (int i = 0; i < s->k->nconst; i++)
    if (seen[i] != 1) return err_set(e, "internal: kernel %s: constant %s given %d times", kernel, s->k->consts[i], seen[i]);
  return 0;
}

void cg_spec_key(const cg_spec *s, char *buf, size_t cap) {
  size_t o = (size_t)snprintf(buf, cap, "%s:", s->k->name);
  for (int i = 0; i < s->k->nconst && o < cap; i++)
    o += (size_t)snprintf(buf + o, cap - o, "%s%s=%ld", i ? "," : "", s->k->consts[i], s->vals[i]);
}

int cg_spec_vars(const cg_spec *s, cg_vars *v, err_t *e) {
  v->n = 0;
  for (int i = 0; i < s->k->nconst; i++) {
    v->names[v->n] = s->k->consts[i];
    v->values[v->n++] = s->vals[i];
  }
  for (int i = 0; i < s->k->nlet; i++) {
    long x;
    if (cg_eval(s->k->let_expr[i], v, &x, e) != 0)
      return err_prefix(e, "%s:%d: kernel %s: @let %s", s->k->file, s->k->line, s->k->name, s->k->lets[i]);
    v->names[v->n] = s->k->lets[i];
    v->values[v->n++] = x;
  }
  return 0;
}

/* The outer grid is linear in N: evaluate it at N = 0, 1 and 2. */
int cg_spec_grid(const cg_spec *s, cg_grid *g, err_t *e) {
  cg_vars v;
  if (cg_spec_vars(s, &v, e) != 0) return -1;
  int in = v.n++;
  v.names[in] = "N";
  long at[3];
  for (int n = 0; n < 3; n++) {
    v.values[in] = n;
    if (cg_eval(s->k->grid0, &v, &at[n], e) != 0) return err_prefix(e, "kernel %s: @grid", s->k->name);
  }
  g->g0c = at[0];
  g->g0n = at[1] - at[0];
  if (at[2] != g->g0c + 2 * g->g0n) return err_set(e, "kernel %s: the outer grid must be linear in N", s->k->name);
  v.n--;
  if (cg_eval(s->k->grid1, &v, &g->g1, e) != 0) return err_prefix(e, "kernel %s: @grid (inner)", s->k->name);
  g->block = s->k->block;
  return 0;
}
