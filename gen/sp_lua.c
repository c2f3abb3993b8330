/* Reading a space file: the Lua sandbox and the conversion of what the file
 * returns into the sp_space IR.
 *
 * A space file is code, so it runs with
 *  - a whitelist environment built by the prelude (no io, os, debug, require,
 *    load, coroutine; string.dump removed),
 *  - a text-only loader (binary chunks are refused),
 *  - an instruction budget and a wall-clock deadline (a count hook), so a
 *    runaway loop stops within a second,
 *  - a memory cap (a custom allocator),
 *  - lua_pcall with a traceback of the space file's own frames. */
#include "embed.h"
#include "io.h"
#include "sp_space.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SB_MEMORY_LIMIT (256u << 20)
#define SB_INSTRUCTION_LIMIT 200000000L
#define SB_HOOK_EVERY 1000
#define SB_SECONDS_LIMIT 1.0
#define SB_MAX_DEPTH 5000 /* nested calls */

typedef struct {
  size_t used, limit;
  long instructions;
  struct timespec start;
  int hit; /* 1 memory, 2 instructions, 3 time */
  char last_src[SP_SRC_MAX]; /* the space file's last executed line (see where() in the prelude) */
  int last_line;
} sb_state;

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sb_state *s = ud;
  if (!ptr) osize = 0;
  if (nsize == 0) {
    free(ptr);
    s->used -= osize;
    return NULL;
  }
  if (nsize > osize && s->used + (nsize - osize) > s->limit) {
    s->hit = 1;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p) s->used = s->used - osize + nsize;
  return p;
}

static double sb_elapsed(const sb_state *s) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - s->start.tv_sec) + 1e-9 * (double)(now.tv_nsec - s->start.tv_nsec);
}

static void sb_hook(lua_State *L, lua_Debug *ar) {
  sb_state *s;
  lua_getallocf(L, (void **)&s);
  if (ar->event == LUA_HOOKLINE) {
    lua_getinfo(L, "S", ar);
    if (strcmp(ar->source, "=prelude") != 0) {
      snprintf(s->last_src, sizeof s->last_src, "%s", ar->short_src);
      s->last_line = ar->currentline;
    }
    return;
  }
  if (s->hit >= 2) { /* a limit already hit stays hit: a pcall that caught it gains nothing */
    lua_getinfo(L, "Sl", ar);
    luaL_error(L, "%s:%d: the space file ran past its %s limit (an endless loop?)", ar->short_src, ar->currentline,
               s->hit == 2 ? "instruction" : "time");
  }
  s->instructions += SB_HOOK_EVERY;
  /* endless recursion stops at a depth no space file needs, long before
     Lua's own limit of a million stack slots (which a slow or sanitized
     build may not reach within the deadline) */
  lua_Debug deep;
  if (lua_getstack(L, SB_MAX_DEPTH, &deep)) {
    lua_getinfo(L, "Sl", ar);
    luaL_error(L, "%s:%d: stack overflow: calls nested more than %d deep (an endless recursion?)", ar->short_src,
               ar->currentline, SB_MAX_DEPTH);
  }
  int over_count = s->instructions > SB_INSTRUCTION_LIMIT;
  if (!over_count && sb_elapsed(s) <= SB_SECONDS_LIMIT) return;
  s->hit = over_count ? 2 : 3;
  lua_getinfo(L, "Sl", ar);
  if (over_count)
    luaL_error(L, "%s:%d: the space file ran past its budget of %d million Lua instructions "
                  "(an endless loop?); a space file should finish in milliseconds",
               ar->short_src, ar->currentline, (int)(SB_INSTRUCTION_LIMIT / 1000000));
  luaL_error(L, "%s:%d: the space file ran for more than %d s (an endless loop?); "
                "a space file should finish in milliseconds",
             ar->short_src, ar->currentline, (int)SB_SECONDS_LIMIT);
}

/* Message handler: the error plus the space file's own frames (the prelude's
 * frames would only confuse a user). */
static int sb_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = luaL_tolstring(L, 1, NULL);
  sb_state *s;
  lua_getallocf(L, (void **)&s);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, msg);
  lua_Debug ar;
  int first = 1;
  /* a stack overflow leaves ~200000 frames: show the innermost few only */
  for (int level = 1, shown = 0; shown < 8 && level < 64 && lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sln", &ar);
    if (ar.currentline <= 0 || strcmp(ar.short_src, "prelude") == 0) continue;
    if (first) luaL_addstring(&b, "\n  in the space file:");
    first = 0;
    char line[512];
    snprintf(line, sizeof line, "\n    %s:%d%s%s", ar.short_src, ar.currentline,
             ar.name ? " in " : "", ar.name ? ar.name : "");
    luaL_addstring(&b, line);
    shown++;
  }
  luaL_pushresult(&b);
  return 1;
}

/* api.limit_hit(): whether the space file ran past a limit (the sandbox's
 * pcall and xpcall pass such an error on). */
static int sb_limit_hit(lua_State *L) {
  sb_state *s;
  lua_getallocf(L, (void **)&s);
  lua_pushboolean(L, s->hit != 0);
  return 1;
}

/* api.last_line(): the space file's last executed source and line. */
static int sb_last_line(lua_State *L) {
  sb_state *s;
  lua_getallocf(L, (void **)&s);
  if (!s->last_line) return 0;
  lua_pushstring(L, s->last_src);
  lua_pushinteger(L, s->last_line);
  return 2;
}

/* Runs the chunk on the stack top with _ENV = env; leaves its first result. */
static int sb_run_chunk(lua_State *L, int env_index, err_t *e) {
  lua_pushvalue(L, env_index);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  lua_pushcfunction(L, sb_traceback);
  lua_insert(L, -2);
  int base = lua_gettop(L) - 1;
  int rc = lua_pcall(L, 0, 1, base);
  if (rc != LUA_OK) {
    sb_state *s;
    lua_getallocf(L, (void **)&s);
    if (rc == LUA_ERRMEM || s->hit == 1)
      err_set(e, "%s:%d: the space file used more than %u MiB of memory (a runaway table or string?)",
              s->last_src, s->last_line, SB_MEMORY_LIMIT >> 20);
    else
      err_set(e, "%s", lua_tostring(L, -1));
    lua_settop(L, base - 1);
    return -1;
  }
  lua_remove(L, base);
  return 0;
}

/* api.finish(value, chunkname) with the traceback handler; leaves the space. */
static int sb_finish(lua_State *L, int api, const char *chunk, err_t *e) {
  lua_getfield(L, api, "finish");
  lua_insert(L, -2);
  lua_pushstring(L, chunk);
  lua_pushcfunction(L, sb_traceback);
  int h = lua_gettop(L) - 3;
  lua_insert(L, h);
  int rc = lua_pcall(L, 2, 1, h);
  if (rc != LUA_OK) {
    err_set(e, "%s", rc == LUA_ERRMEM ? "the space file used too much memory" : lua_tostring(L, -1));
    lua_settop(L, h - 1);
    return -1;
  }
  lua_remove(L, h);
  return 0;
}

static int sb_make_env(lua_State *L, int api);

/* import "name": a bundled example, evaluated in its own sandbox env and
 * memoised (upvalue 1: api, upvalue 2: cache table). */
static int sb_import(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_getfield(L, lua_upvalueindex(2), name);
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  char path[128];
  snprintf(path, sizeof path, "examples/%s.lua", name);
  const em_file *f = strlen(name) < 64 ? em_find(path) : NULL;
  if (!f) {
    return luaL_error(L, "import: no bundled space named '%s' (bundled: darts, small, custom_op, darts_imagenet)", name);
  }
  char chunk[160];
  snprintf(chunk, sizeof chunk, "@%s", path);
  if (luaL_loadbufferx(L, f->data, f->len, chunk, "t") != LUA_OK) return lua_error(L);
  int api = lua_upvalueindex(1);
  sb_make_env(L, api);
  lua_insert(L, -2);
  err_t e = ERR_INIT;
  if (sb_run_chunk(L, lua_gettop(L) - 1, &e) != 0 || sb_finish(L, api, chunk + 1, &e) != 0) {
    lua_pushfstring(L, "import \"%s\": %s", name, err_msg(&e));
    err_clear(&e);
    return lua_error(L);
  }
  lua_remove(L, -2); /* env */
  lua_pushvalue(L, -1);
  lua_setfield(L, lua_upvalueindex(2), name);
  return 1;
}

/* Pushes api.env(import). */
static int sb_make_env(lua_State *L, int api) {
  api = lua_absindex(L, api);
  lua_getfield(L, api, "env");
  lua_pushvalue(L, api);
  lua_getfield(L, LUA_REGISTRYINDEX, "parsec.import_cache");
  lua_pushcclosure(L, sb_import, 2);
  lua_call(L, 1, 1);
  return 0;
}

/* ---------- reading the normalised space table into the IR ---------- */

typedef struct {
  lua_State *L;
  err_t *e;
  const char *what;
} rd_ctx;

static int rd_int(rd_ctx *c, int t, const char *key, int *out) {
  lua_getfield(c->L, t, key);
  int ok;
  lua_Integer v = lua_tointegerx(c->L, -1, &ok);
  lua_pop(c->L, 1);
  if (!ok) return err_set(c->e, "%s: '%s' must be an integer", c->what, key);
  if (v < -2147483647 || v > 2147483647) return err_set(c->e, "%s: '%s' is out of range", c->what, key);
  *out = (int)v;
  return 0;
}

static int rd_num(rd_ctx *c, int t, const char *key, double *out) {
  lua_getfield(c->L, t, key);
  int ok;
  double v = lua_tonumberx(c->L, -1, &ok);
  lua_pop(c->L, 1);
  if (!ok) return err_set(c->e, "%s: '%s' must be a number", c->what, key);
  *out = v;
  return 0;
}

static int rd_bool(rd_ctx *c, int t, const char *key, bool *out) {
  lua_getfield(c->L, t, key);
  *out = lua_toboolean(c->L, -1);
  lua_pop(c->L, 1);
  return 0;
}

static int rd_str(rd_ctx *c, int t, const char *key, char *out, size_t cap) {
  lua_getfield(c->L, t, key);
  const char *s = lua_tostring(c->L, -1);
  if (!s) {
    lua_pop(c->L, 1);
    return err_set(c->e, "%s: '%s' must be a string", c->what, key);
  }
  snprintf(out, cap, "%s", s);
  lua_pop(c->L, 1);
  return 0;
}

static int rd_layer(rd_ctx *c, int t, sp_layer *l) {
  char kind[32];
  memset(l, 0, sizeof *l);
  if (rd_str(c, t, "kind", kind, sizeof kind) || rd_int(c, t, "line", &l->line) ||
      rd_str(c, t, "src", l->src, sizeof l->src))
    return -1;
  int k = sp_layer_kind_from_name(kind);
  if (k < 0) return err_set(c->e, "%s: unknown layer kind '%s'", c->what, kind);
  l->kind = (sp_layer_kind)k;
  l->kh = l->kw = l->sh = l->sw = l->dh = l->dw = l->groups = 1;
  if (l->kind == SP_CONV || l->kind == SP_AVG_POOL || l->kind == SP_MAX_POOL) {
    if (rd_int(c, t, "kh", &l->kh) || rd_int(c, t, "kw", &l->kw) || rd_int(c, t, "sh", &l->sh) ||
        rd_int(c, t, "sw", &l->sw) || rd_int(c, t, "ph", &l->ph) || rd_int(c, t, "pw", &l->pw))
      return -1;
  }
  if (l->kind == SP_CONV) {
    if (rd_int(c, t, "dh", &l->dh) || rd_int(c, t, "dw", &l->dw) || rd_int(c, t, "groups", &l->groups))
      return -1;
  }
  if (l->kind == SP_BN) {
    char aff[16];
    if (rd_str(c, t, "affine", aff, sizeof aff) || rd_bool(c, t, "search_only", &l->search_only)) return -1;
    l->affine = strcmp(aff, "always") == 0 ? SP_AFFINE_ALWAYS
              : strcmp(aff, "never") == 0  ? SP_AFFINE_NEVER
                                           : SP_AFFINE_EVAL;
  }
  return 0;
}

static int rd_layers(rd_ctx *c, int t, const char *key, sp_layer **out, int *n) {
  lua_getfield(c->L, t, key);
  int lt = lua_gettop(c->L);
  lua_Integer len = luaL_len(c->L, lt);
  if (len < 0 || len > 64) return err_set(c->e, "%s: a primitive has %lld layers (at most 64)", c->what, (long long)len);
  *n = (int)len;
  *out = calloc((size_t)*n + 1, sizeof **out);
  if (!*out) return err_set(c->e, "out of memory");
  for (int i = 0; i < *n; i++) {
    lua_geti(c->L, lt, i + 1);
    int r = rd_layer(c, lua_gettop(c->L), &(*out)[i]);
    lua_pop(c->L, 1);
    if (r) return -1;
  }
  lua_pop(c->L, 1);
  return 0;
}

static int rd_prims(rd_ctx *c, int t, sp_space *sp) {
  lua_getfield(c->L, t, "primitives");
  int pt = lua_gettop(c->L);
  lua_Integer len = luaL_len(c->L, pt);
  if (len < 1 || len > 64) return err_set(c->e, "%s: %lld primitives (1 to 64)", c->what, (long long)len);
  sp->nprims = (int)len;
  sp->prims = calloc((size_t)sp->nprims, sizeof *sp->prims);
  if (!sp->prims) return err_set(c->e, "out of memory");
  for (int i = 0; i < sp->nprims; i++) {
    lua_geti(c->L, pt, i + 1);
    int p = lua_gettop(c->L);
    sp_prim *pr = &sp->prims[i];
    if (rd_str(c, p, "name", pr->name, sizeof pr->name) ||
        rd_str(c, p, "darts_name", pr->darts_name, sizeof pr->darts_name) ||
        rd_str(c, p, "src", pr->src, sizeof pr->src) || rd_int(c, p, "line", &pr->line) ||
        rd_layers(c, p, "stride1", &pr->layers[0], &pr->nlayers[0]) ||
        rd_layers(c, p, "stride2", &pr->layers[1], &pr->nlayers[1]))
      return -1;
    lua_pop(c->L, 1);
  }
  lua_pop(c->L, 1);
  return 0;
}

static int rd_reductions(rd_ctx *c, int t, sp_net *n) {
  lua_getfield(c->L, t, "reductions");
  int rt = lua_gettop(c->L);
  lua_Integer len = luaL_len(c->L, rt);
  if (len < 0 || len > (lua_Integer)(sizeof n->reductions / sizeof n->reductions[0]))
    return err_set(c->e, "%s: at most 16 reduction cells are supported, got %lld", c->what, (long long)len);
  n->nreductions = (int)len;
  for (int i = 0; i < n->nreductions; i++) {
    lua_geti(c->L, rt, i + 1);
    n->reductions[i] = (int)lua_tointeger(c->L, -1);
    lua_pop(c->L, 1);
  }
  lua_pop(c->L, 1);
  return 0;
}

static int rd_net(rd_ctx *c, int t, sp_net *n) {
  c->what = "space.network";
  lua_getfield(c->L, t, "network");
  int nt = lua_gettop(c->L);
  if (rd_int(c, nt, "input_channels", &n->input_channels) || rd_int(c, nt, "input_size", &n->input_size) ||
      rd_int(c, nt, "classes", &n->classes) || rd_int(c, nt, "channels", &n->channels) ||
      rd_int(c, nt, "cells", &n->cells) || rd_int(c, nt, "stem_multiplier", &n->stem_multiplier) ||
      rd_bool(c, nt, "auxiliary", &n->auxiliary) || rd_num(c, nt, "auxiliary_weight", &n->auxiliary_weight) ||
      rd_num(c, nt, "drop_path", &n->drop_path) || rd_num(c, nt, "label_smoothing", &n->label_smoothing) ||
      rd_int(c, nt, "imagenet_stem", &n->imagenet_stem) || rd_reductions(c, nt, n))
    return -1;
  lua_pop(c->L, 1);
  return 0;
}

static int rd_search(rd_ctx *c, int t, sp_search *s) {
  c->what = "space.search";
  lua_getfield(c->L, t, "search");
  int st = lua_gettop(c->L);
  if (rd_int(c, st, "samples", &s->samples) || rd_int(c, st, "epochs", &s->epochs) ||
      rd_int(c, st, "batch", &s->batch) || rd_num(c, st, "lr", &s->lr) || rd_num(c, st, "lr_min", &s->lr_min) ||
      rd_num(c, st, "momentum", &s->momentum) || rd_num(c, st, "weight_decay", &s->weight_decay) ||
      rd_num(c, st, "grad_clip", &s->grad_clip) || rd_num(c, st, "arch_lr", &s->arch_lr) ||
      rd_num(c, st, "arch_beta1", &s->arch_beta1) || rd_num(c, st, "arch_beta2", &s->arch_beta2) ||
      rd_num(c, st, "temperature", &s->temperature) || rd_num(c, st, "split", &s->split) ||
      rd_str(c, st, "data", s->data, sizeof s->data) || rd_int(c, st, "seed", &s->seed) ||
      rd_int(c, st, "limit", &s->limit) || rd_int(c, st, "warmup", &s->warmup) ||
      rd_num(c, st, "temperature_end", &s->temperature_end) || rd_bool(c, st, "uniform_weights", &s->uniform_weights) ||
      rd_str(c, st, "augment", s->augment, sizeof s->augment))
    return -1;
  lua_pop(c->L, 1);
  return 0;
}

static int rd_eval(rd_ctx *c, int t, sp_space *sp) {
  c->what = "space.evaluation";
  lua_getfield(c->L, t, "evaluation");
  int et = lua_gettop(c->L);
  sp_net *n = &sp->eval_net;
  *n = sp->net;
  sp_train *tr = &sp->train;
  if (rd_int(c, et, "cells", &n->cells) || rd_int(c, et, "channels", &n->channels) ||
      rd_int(c, et, "input_channels", &n->input_channels) || rd_int(c, et, "input_size", &n->input_size) ||
      rd_int(c, et, "classes", &n->classes) || rd_int(c, et, "imagenet_stem", &n->imagenet_stem) ||
      rd_num(c, et, "lr_decay", &tr->lr_decay) || rd_str(c, et, "augment", tr->augment, sizeof tr->augment) ||
      rd_bool(c, et, "auxiliary", &n->auxiliary) || rd_num(c, et, "auxiliary_weight", &n->auxiliary_weight) ||
      rd_num(c, et, "drop_path", &n->drop_path) || rd_num(c, et, "label_smoothing", &n->label_smoothing) ||
      rd_reductions(c, et, n) ||
      rd_int(c, et, "cutout", &tr->cutout) || rd_int(c, et, "batch", &tr->batch) ||
      rd_int(c, et, "epochs", &tr->epochs) || rd_num(c, et, "lr", &tr->lr) ||
      rd_num(c, et, "lr_min", &tr->lr_min) || rd_num(c, et, "momentum", &tr->momentum) ||
      rd_num(c, et, "weight_decay", &tr->weight_decay) || rd_num(c, et, "grad_clip", &tr->grad_clip))
    return -1;
  lua_pop(c->L, 1);
  return 0;
}

static int rd_transfer(rd_ctx *c, int t, sp_space *sp) {
  c->what = "space.transfer";
  lua_getfield(c->L, t, "transfer");
  int tt = lua_gettop(c->L);
  sp_net *n = &sp->transfer_net;
  *n = sp->eval_net;
  /* the transfer is a search on the evaluation network: no drop path, and
     the search's plain cross-entropy */
  n->drop_path = 0;
  n->label_smoothing = 0;
  sp_transfer *tr = &sp->transfer;
  if (rd_int(c, tt, "cells", &n->cells) || rd_int(c, tt, "channels", &n->channels) ||
      rd_bool(c, tt, "auxiliary", &n->auxiliary) || rd_num(c, tt, "auxiliary_weight", &n->auxiliary_weight) ||
      rd_int(c, tt, "cutout", &tr->cutout) || rd_int(c, tt, "batch", &tr->batch) ||
      rd_int(c, tt, "epochs", &tr->epochs) || rd_num(c, tt, "arch_lr", &tr->arch_lr) ||
      rd_int(c, tt, "samples", &tr->samples))
    return -1;
  lua_pop(c->L, 1);
  /* the transfer network follows the evaluation network's reduction rule
     unless its cell count differs: then the DARTS rule applies */
  if (n->cells != sp->eval_net.cells) {
    n->nreductions = 0;
    int r1 = n->cells / 3, r2 = 2 * n->cells / 3;
    n->reductions[n->nreductions++] = r1;
    if (r2 != r1) n->reductions[n->nreductions++] = r2;
  }
  return 0;
}

static int rd_space(lua_State *L, int t, sp_space *sp, err_t *e) {
  rd_ctx c = {L, e, "space"};
  lua_getfield(L, t, "cell");
  int ct = lua_gettop(L);
  c.what = "space.cell";
  if (rd_int(&c, ct, "nodes", &sp->nodes) || rd_int(&c, ct, "inputs", &sp->inputs)) return -1;
  lua_pop(L, 1);
  c.what = "space";
  if (rd_str(&c, t, "name", sp->name, sizeof sp->name) || rd_prims(&c, t, sp) || rd_net(&c, t, &sp->net) ||
      rd_search(&c, t, &sp->search) || rd_eval(&c, t, sp) || rd_transfer(&c, t, sp))
    return -1;
  return 0;
}

static int rd_space_call(lua_State *L) {
  sp_space *sp = lua_touserdata(L, 2);
  err_t *e = lua_touserdata(L, 3);
  lua_pushboolean(L, rd_space(L, 1, sp, e) == 0);
  return 1;
}

/* rd_space on the stack top, in protected mode. */
static int rd_space_protected(lua_State *L, sp_space *sp, err_t *e) {
  int top = lua_gettop(L);
  lua_pushcfunction(L, rd_space_call);
  lua_pushvalue(L, top);
  lua_pushlightuserdata(L, sp);
  lua_pushlightuserdata(L, e);
  int rc = lua_pcall(L, 3, 1, 0);
  int ok = rc == LUA_OK && lua_toboolean(L, -1);
  if (rc != LUA_OK) err_set(e, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot read the space");
  lua_settop(L, top);
  return ok ? 0 : -1;
}

int sp_load_string(sp_space *sp, const char *chunkname, const char *text, err_t *e) {
  memset(sp, 0, sizeof *sp);
  snprintf(sp->src, sizeof sp->src, "%s", chunkname);
  const em_file *prelude = em_find("lua/prelude.lua");
  if (!prelude) return err_set(e, "internal: the Lua prelude is not embedded in this build");
  sb_state st = {.limit = SB_MEMORY_LIMIT};
  clock_gettime(CLOCK_MONOTONIC, &st.start);
  lua_State *L = lua_newstate(sb_alloc, &st);
  if (!L) return err_set(e, "%s: cannot create a Lua state", chunkname);
  luaL_openlibs(L);
  lua_sethook(L, sb_hook, LUA_MASKCOUNT | LUA_MASKLINE, SB_HOOK_EVERY);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "parsec.import_cache");
  int rc = -1;
  if (luaL_loadbufferx(L, prelude->data, prelude->len, "=prelude", "t") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    err_set(e, "internal: the Lua prelude failed: %s", lua_tostring(L, -1));
    goto done;
  }
  int api = lua_gettop(L);
  lua_pushcfunction(L, sb_last_line);
  lua_setfield(L, api, "last_line");
  lua_pushcfunction(L, sb_limit_hit);
  lua_setfield(L, api, "limit_hit");
  sb_make_env(L, api);
  int env = lua_gettop(L);
  char chunk[SP_SRC_MAX + 2];
  snprintf(chunk, sizeof chunk, "@%s", chunkname);
  int lrc = luaL_loadbufferx(L, text, strlen(text), chunk, "t");
  if (lrc != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    if (lrc == LUA_ERRSYNTAX && m && strstr(m, "attempt to load a binary chunk"))
      err_set(e, "%s: binary (precompiled) Lua chunks are refused; give the space as Lua source text", chunkname);
    else
      err_set(e, "%s", m ? m : "cannot load the space file");
    goto done;
  }
  if (sb_run_chunk(L, env, e) != 0 || sb_finish(L, api, chunkname, e) != 0) goto done;
  if (st.hit) { /* a limit the file's own error handling swallowed */
    err_set(e, "%s:%d: the space file ran past its %s limit", st.last_src, st.last_line,
            st.hit == 1 ? "memory" : st.hit == 2 ? "instruction" : "time");
    goto done;
  }
  /* the hook stays: reading the result may run the file's metamethods, and
     every Lua error while reading is caught (an unprotected one would abort) */
  if (rd_space_protected(L, sp, e) != 0) {
    err_prefix(e, "%s", chunkname);
    goto done;
  }
  snprintf(sp->src, sizeof sp->src, "%s", chunkname);
  rc = sp_validate(sp, e);
done:
  lua_close(L);
  if (rc != 0) sp_free(sp);
  return rc;
}

int sp_load_file(sp_space *sp, const char *path, err_t *e) {
  memset(sp, 0, sizeof *sp);
  size_t got;
  char *text = io_read_file(path, "the space file", (size_t)16 << 20, &got, e);
  if (!text) return -1;
  if (got > 0 && text[0] == 0x1b) {
    free(text);
    return err_set(e, "%s: binary (precompiled) Lua chunks are refused; give the space as Lua source text", path);
  }
  int rc = sp_load_string(sp, path, text, e);
  free(text);
  return rc;
}

int sp_load_example(sp_space *sp, const char *name, err_t *e) {
  char path[128];
  snprintf(path, sizeof path, "examples/%s.lua", name);
  const em_file *f = em_find(path);
  if (!f) return err_set(e, "no bundled space named '%s' (bundled: darts, small, custom_op, darts_imagenet)", name);
  return sp_load_string(sp, path, f->data, e);
}

void sp_free(sp_space *sp) {
  if (!sp) return;
  for (int i = 0; i < sp->nprims; i++) {
    free(sp->prims[i].layers[0]);
    free(sp->prims[i].layers[1]);
  }
  free(sp->prims);
  sp->prims = NULL;
  sp->nprims = 0;
}
