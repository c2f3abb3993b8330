/* The compiled space as JSON ("parsec-space", version SP_FORMAT_VERSION):
 * what `parsecgen -o DIR` writes to DIR/space.json and `parsec-run` reads.
 * One field table per struct serves both directions, so writer and reader
 * cannot drift apart. */
#include "sp_json.h"
#include "sha.h"
#include "io.h"

#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { F_INT, F_NUM, F_BOOL, F_STR } fkind;
typedef struct {
  const char *name;
  fkind kind;
  size_t off;
  size_t cap;   /* strings */
  int optional; /* absent in files written before it existed: 0 */
} field;

#define FI(s, m) {#m, F_INT, offsetof(s, m), 0}
#define FN(s, m) {#m, F_NUM, offsetof(s, m), 0}
#define FB(s, m) {#m, F_BOOL, offsetof(s, m), 0}
#define FS(s, m) {#m, F_STR, offsetof(s, m), sizeof(((s *)0)->m)}
#define FI_OPT(s, m) {#m, F_INT, offsetof(s, m), 0, 1}
#define FN_OPT(s, m) {#m, F_NUM, offsetof(s, m), 0, 1}
#define FB_OPT(s, m) {#m, F_BOOL, offsetof(s, m), 0, 1}
#define FS_OPT(s, m) {#m, F_STR, offsetof(s, m), sizeof(((s *)0)->m), 1}

static const field net_fields[] = {
    FI(sp_net, input_channels), FI(sp_net, input_size), FI(sp_net, classes), FI(sp_net, channels),
    FI(sp_net, cells), FI(sp_net, stem_multiplier), FB(sp_net, auxiliary), FN(sp_net, auxiliary_weight),
    FN(sp_net, drop_path), FN_OPT(sp_net, label_smoothing), FI_OPT(sp_net, imagenet_stem), {0, 0, 0, 0}};
static const field search_fields[] = {
    FI(sp_search, samples), FI(sp_search, epochs), FI(sp_search, batch), FN(sp_search, lr),
    FN(sp_search, lr_min), FN(sp_search, momentum), FN(sp_search, weight_decay), FN(sp_search, grad_clip),
    FN(sp_search, arch_lr), FN(sp_search, arch_beta1), FN(sp_search, arch_beta2), FN(sp_search, temperature),
    FN(sp_search, split), FS(sp_search, data), FI(sp_search, seed), FI(sp_search, limit),
    FI_OPT(sp_search, warmup), FN_OPT(sp_search, temperature_end), FB_OPT(sp_search, uniform_weights),
    FS_OPT(sp_search, augment), {0}};
static const field train_fields[] = {
    FI(sp_train, cutout), FI(sp_train, batch), FI(sp_train, epochs), FN(sp_train, lr), FN(sp_train, lr_min),
    FN(sp_train, momentum), FN(sp_train, weight_decay), FN(sp_train, grad_clip), FN_OPT(sp_train, lr_decay),
    FS_OPT(sp_train, augment), {0, 0, 0, 0}};
static const field transfer_fields[] = {FI(sp_transfer, cutout), FI(sp_transfer, batch), FI(sp_transfer, epochs),
                                        FI(sp_transfer, samples), FN(sp_transfer, arch_lr), {0, 0, 0, 0}};
static const field layer_fields[] = {
    FI(sp_layer, kh), FI(sp_layer, kw), FI(sp_layer, sh), FI(sp_layer, sw), FI(sp_layer, ph),
    FI(sp_layer, pw), FI(sp_layer, dh), FI(sp_layer, dw), FI(sp_layer, groups), FB(sp_layer, search_only),
    FI(sp_layer, line), FS(sp_layer, src), {0, 0, 0, 0}};

static const char *const affine_names[] = {"eval", "always", "never"};

static cJSON *put_fields(const field *f, const void *s) {
  cJSON *o = cJSON_CreateObject();
  for (; f->name; f++) {
    const char *p = (const char *)s + f->off;
    switch (f->kind) {
    case F_INT: cJSON_AddNumberToObject(o, f->name, *(const int *)p); break;
    case F_NUM: cJSON_AddNumberToObject(o, f->name, *(const double *)p); break;
    case F_BOOL: cJSON_AddBoolToObject(o, f->name, *(const bool *)p); break;
    case F_STR: cJSON_AddStringToObject(o, f->name, p); break;
    }
  }
  return o;
}

static int get_fields(const field *f, void *s, const cJSON *o, const char *what, err_t *e) {
  if (!cJSON_IsObject(o)) return err_set(e, "'%s' must be an object", what);
  for (; f->name; f++) {
    char *p = (char *)s + f->off;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f->name);
    if (!v && f->optional) {
      memset(p, 0, f->kind == F_INT ? sizeof(int) : f->kind == F_NUM ? sizeof(double) : sizeof(bool));
      continue;
    }
    int ok = 1;
    switch (f->kind) {
    case F_INT: /* a whole number that an int holds: (int) of anything else is undefined */
      ok = cJSON_IsNumber(v) && v->valuedouble >= INT_MIN && v->valuedouble <= INT_MAX &&
           v->valuedouble == floor(v->valuedouble);
      if (ok) *(int *)p = (int)v->valuedouble;
      break;
    case F_NUM:
      ok = cJSON_IsNumber(v) && isfinite(v->valuedouble);
      if (ok) *(double *)p = v->valuedouble;
      break;
    case F_BOOL:
      ok = cJSON_IsBool(v);
      if (ok) *(bool *)p = cJSON_IsTrue(v);
      break;
    case F_STR:
      ok = cJSON_IsString(v) && strlen(v->valuestring) < f->cap;
      if (ok) memcpy(p, v->valuestring, strlen(v->valuestring) + 1);
      break;
    }
    if (!ok) return err_set(e, "'%s.%s' is missing or has the wrong type", what, f->name);
  }
  return 0;
}

static cJSON *put_net(const sp_net *n) {
  cJSON *o = put_fields(net_fields, n);
  cJSON_AddItemToObject(o, "reductions", cJSON_CreateIntArray(n->reductions, n->nreductions));
  return o;
}

static int get_net(sp_net *n, const cJSON *o, const char *what, err_t *e) {
  if (get_fields(net_fields, n, o, what, e)) return -1;
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "reductions");
  int nr = cJSON_GetArraySize(r);
  if (!cJSON_IsArray(r) || nr > 16) return err_set(e, "'%s.reductions' must be a list of at most 16 cells", what);
  n->nreductions = nr;
  for (int i = 0; i < nr; i++) n->reductions[i] = cJSON_GetArrayItem(r, i)->valueint;
  return 0;
}

static cJSON *put_layers(const sp_layer *ls, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    cJSON *o = put_fields(layer_fields, &ls[i]);
    cJSON_AddStringToObject(o, "kind", sp_layer_kind_name(ls[i].kind));
    cJSON_AddStringToObject(o, "affine", affine_names[ls[i].affine]);
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

static int get_layers(sp_layer **out, int *n, const cJSON *a, const char *what, err_t *e) {
  if (!cJSON_IsArray(a)) return err_set(e, "'%s' must be a list of layers", what);
  *n = cJSON_GetArraySize(a);
  *out = calloc((size_t)*n + 1, sizeof **out);
  if (!*out) return err_set(e, "out of memory");
  for (int i = 0; i < *n; i++) {
    const cJSON *o = cJSON_GetArrayItem(a, i);
    sp_layer *l = &(*out)[i];
    if (get_fields(layer_fields, l, o, what, e)) return -1;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
    int kind = cJSON_IsString(k) ? sp_layer_kind_from_name(k->valuestring) : -1;
    if (kind < 0) return err_set(e, "'%s' has a layer of unknown kind", what);
    l->kind = (sp_layer_kind)kind;
    const cJSON *af = cJSON_GetObjectItemCaseSensitive(o, "affine");
    l->affine = SP_AFFINE_EVAL;
    for (int j = 0; j < 3; j++)
      if (cJSON_IsString(af) && strcmp(af->valuestring, affine_names[j]) == 0) l->affine = (sp_affine)j;
  }
  return 0;
}

char *sp_to_json(const sp_space *sp) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", "parsec-space");
  cJSON_AddNumberToObject(root, "version", SP_FORMAT_VERSION);
  cJSON_AddStringToObject(root, "name", sp->name);
  cJSON_AddStringToObject(root, "source", sp->src);
  cJSON *prims = cJSON_AddArrayToObject(root, "primitives");
  for (int i = 0; i < sp->nprims; i++) {
    const sp_prim *p = &sp->prims[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddStringToObject(o, "darts_name", p->darts_name);
    cJSON_AddStringToObject(o, "src", p->src);
    cJSON_AddNumberToObject(o, "line", p->line);
    cJSON_AddItemToObject(o, "stride1", put_layers(p->layers[0], p->nlayers[0]));
    cJSON_AddItemToObject(o, "stride2", put_layers(p->layers[1], p->nlayers[1]));
    cJSON_AddItemToArray(prims, o);
  }
  cJSON *cell = cJSON_AddObjectToObject(root, "cell");
  cJSON_AddNumberToObject(cell, "nodes", sp->nodes);
  cJSON_AddNumberToObject(cell, "inputs", sp->inputs);
  cJSON_AddItemToObject(root, "network", put_net(&sp->net));
  cJSON_AddItemToObject(root, "search", put_fields(search_fields, &sp->search));
  cJSON *ev = cJSON_AddObjectToObject(root, "evaluation");
  cJSON_AddItemToObject(ev, "network", put_net(&sp->eval_net));
  cJSON_AddItemToObject(ev, "train", put_fields(train_fields, &sp->train));
  cJSON *tr = cJSON_AddObjectToObject(root, "transfer");
  cJSON_AddItemToObject(tr, "network", put_net(&sp->transfer_net));
  cJSON_AddItemToObject(tr, "recipe", put_fields(transfer_fields, &sp->transfer));
  char *s = cJSON_Print(root);
  cJSON_Delete(root);
  return s;
}

int sp_ir_sha256(const sp_space *sp, char out[65]) {
  char *text = sp_to_json(sp);
  cJSON *root = text ? cJSON_Parse(text) : NULL;
  free(text);
  if (!root) return -1;
  cJSON_DeleteItemFromObjectCaseSensitive(root, "source");
  cJSON *p;
  cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(root, "primitives")) {
    cJSON_DeleteItemFromObjectCaseSensitive(p, "src");
    cJSON_DeleteItemFromObjectCaseSensitive(p, "line");
  }
  char *ir = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!ir) return -1;
  sha256(ir, strlen(ir), out);
  free(ir);
  return 0;
}

static int from_json(sp_space *sp, const cJSON *root, err_t *e) {
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "parsec-space") != 0)
    return err_set(e, "not a compiled parsec space (no \"format\": \"parsec-space\")");
  if (!cJSON_IsNumber(ver) || ver->valueint != SP_FORMAT_VERSION)
    return err_set(e, "compiled space format version %d is not known to this parsec (it reads version %d); "
                      "recompile the space with this parsecgen",
                   cJSON_IsNumber(ver) ? ver->valueint : -1, SP_FORMAT_VERSION);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(root, "source");
  if (!cJSON_IsString(name) || !cJSON_IsString(src)) return err_set(e, "'name' and 'source' must be strings");
  snprintf(sp->name, sizeof sp->name, "%s", name->valuestring);
  snprintf(sp->src, sizeof sp->src, "%s", src->valuestring);
  const cJSON *prims = cJSON_GetObjectItemCaseSensitive(root, "primitives");
  if (!cJSON_IsArray(prims) || cJSON_GetArraySize(prims) < 1) return err_set(e, "'primitives' must be a list");
  sp->nprims = cJSON_GetArraySize(prims);
  sp->prims = calloc((size_t)sp->nprims, sizeof *sp->prims);
  if (!sp->prims) return err_set(e, "out of memory");
  for (int i = 0; i < sp->nprims; i++) {
    const cJSON *o = cJSON_GetArrayItem(prims, i);
    sp_prim *p = &sp->prims[i];
    const cJSON *pn = cJSON_GetObjectItemCaseSensitive(o, "name");
    const cJSON *dn = cJSON_GetObjectItemCaseSensitive(o, "darts_name");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "src");
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(o, "line");
    if (!cJSON_IsString(pn) || !cJSON_IsString(dn) || !cJSON_IsString(ps) || !cJSON_IsNumber(pl))
      return err_set(e, "primitives[%d] lacks name, darts_name, src or line", i);
    snprintf(p->name, sizeof p->name, "%s", pn->valuestring);
    snprintf(p->darts_name, sizeof p->darts_name, "%s", dn->valuestring);
    snprintf(p->src, sizeof p->src, "%s", ps->valuestring);
    p->line = pl->valueint;
    if (get_layers(&p->layers[0], &p->nlayers[0], cJSON_GetObjectItemCaseSensitive(o, "stride1"), p->name, e) ||
        get_layers(&p->layers[1], &p->nlayers[1], cJSON_GetObjectItemCaseSensitive(o, "stride2"), p->name, e))
      return -1;
  }
  const cJSON *cell = cJSON_GetObjectItemCaseSensitive(root, "cell");
  const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(cell, "nodes");
  const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(cell, "inputs");
  if (!cJSON_IsNumber(nodes) || !cJSON_IsNumber(inputs)) return err_set(e, "'cell' needs nodes and inputs");
  sp->nodes = nodes->valueint;
  sp->inputs = inputs->valueint;
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(root, "evaluation");
  const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "transfer");
  if (get_net(&sp->net, cJSON_GetObjectItemCaseSensitive(root, "network"), "network", e) ||
      get_fields(search_fields, &sp->search, cJSON_GetObjectItemCaseSensitive(root, "search"), "search", e) ||
      get_net(&sp->eval_net, cJSON_GetObjectItemCaseSensitive(ev, "network"), "evaluation.network", e) ||
      get_fields(train_fields, &sp->train, cJSON_GetObjectItemCaseSensitive(ev, "train"), "evaluation.train", e) ||
      get_net(&sp->transfer_net, cJSON_GetObjectItemCaseSensitive(tr, "network"), "transfer.network", e) ||
      get_fields(transfer_fields, &sp->transfer, cJSON_GetObjectItemCaseSensitive(tr, "recipe"), "transfer.recipe",
                 e))
    return -1;
  return sp_validate(sp, e);
}

int sp_from_json(sp_space *sp, const char *text, const char *where, err_t *e) {
  memset(sp, 0, sizeof *sp);
  cJSON *root = cJSON_Parse(text);
  if (!root) {
    const char *at = cJSON_GetErrorPtr();
    return err_set(e, "%s: not valid JSON (near byte %ld)", where, at ? (long)(at - text) : -1L);
  }
  int rc = from_json(sp, root, e);
  cJSON_Delete(root);
  if (rc) {
    err_prefix(e, "%s", where);
    sp_free(sp);
  }
  return rc;
}

int sp_load_json_file(sp_space *sp, const char *path, err_t *e) {
  char *text = io_read_file(path, "the space", IO_TEXT_MAX, NULL, e);
  if (!text) return -1;
  int rc = sp_from_json(sp, text, path, e);
  free(text);
  return rc;
}

/* What a user may name as a space: a .lua file, a compiled directory (holding
 * space.json), a space.json file, or the name of a bundled example. */
int sp_open(sp_space *sp, const char *arg, err_t *e) {
  struct stat st;
  size_t n = strlen(arg);
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    char path[4096];
    snprintf(path, sizeof path, "%s/space.json", arg);
    if (access(path, R_OK) != 0)
      return err_set(e, "%s: a directory, but it holds no space.json; give a space file (.lua) or a "
                        "directory written by `parsecgen SPACE.lua -o DIR`",
                     arg);
    return sp_load_json_file(sp, path, e);
  }
  if (n > 5 && strcmp(arg + n - 5, ".json") == 0) return sp_load_json_file(sp, arg, e);
  if (access(arg, F_OK) == 0 || strchr(arg, '/') || (n > 4 && strcmp(arg + n - 4, ".lua") == 0))
    return sp_load_file(sp, arg, e);
  return sp_load_example(sp, arg, e);
}
