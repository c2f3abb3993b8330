/* The IR's structure queries and the shape checks that need the whole
 * network (a layer alone cannot know the channels and resolutions it meets). */
#include "sp_space.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[SP_NLAYER_KINDS] = {
    "relu", "conv", "bn", "avg_pool", "max_pool", "identity", "factorized_reduce"};

const char *sp_layer_kind_name(sp_layer_kind k) {
  return (unsigned)k < SP_NLAYER_KINDS ? kind_names[k] : "?";
}

int sp_layer_kind_from_name(const char *name) {
  for (int i = 0; i < SP_NLAYER_KINDS; i++)
    if (strcmp(kind_names[i], name) == 0) return i;
  return -1;
}

int sp_out_size(int in, int k, int s, int p, int d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

bool sp_is_reduction(const sp_net *net, int cell) {
  for (int i = 0; i < net->nreductions; i++)
    if (net->reductions[i] == cell) return true;
  return false;
}

/* DARTS's network: the stem gives stem_multiplier * C channels; a reduction
 * cell doubles C and halves the resolution (rounding up); a cell outputs the
 * concatenation of its nodes; a cell after a reduction cell brings its older
 * input down to the new resolution with a factorized reduce.  The imagenet
 * stems give C channels at 1/4 (stem0) and 1/8 (stem1) of the input's
 * resolution, so the first cell's older input is reduced as after a
 * reduction cell. */
void sp_cell_shapes(const sp_net *net, int nodes, sp_cell_shape *out) {
  int c_curr = net->channels;
  int cpp = net->stem_multiplier * net->channels, cp = cpp;
  int h_prev_prev = net->input_size, h_prev = net->input_size;
  bool red_prev = false;
  if (net->imagenet_stem) {
    cpp = cp = net->channels;
    h_prev_prev = sp_out_size(sp_out_size(net->input_size, 3, 2, 1, 1), 3, 2, 1, 1);
    h_prev = sp_out_size(h_prev_prev, 3, 2, 1, 1);
    red_prev = true;
  }
  for (int i = 0; i < net->cells; i++) {
    bool red = sp_is_reduction(net, i);
    if (red) c_curr *= 2;
    sp_cell_shape *s = &out[i];
    s->C = c_curr;
    s->reduction = red;
    s->reduction_prev = red_prev;
    s->c_prev_prev = cpp;
    s->c_prev = cp;
    s->h_in0 = h_prev_prev;
    s->h_in = h_prev;
    s->h_out = red ? sp_out_size(h_prev, 3, 2, 1, 1) : h_prev;
    h_prev_prev = h_prev;
    h_prev = s->h_out;
    cpp = cp;
    cp = nodes * c_curr;
    red_prev = red;
  }
}

int sp_cat_size(const sp_space *sp, int node) {
  return (2 + node) * sp->nprims;
}

int sp_ncats(const sp_space *sp) {
  return sp->nodes * sp->inputs;
}

double sp_log10_cell_space(const sp_space *sp) {
  double s = 0;
  for (int n = 0; n < sp->nodes; n++) s += sp->inputs * log10((double)sp_cat_size(sp, n));
  return s;
}

int sp_prim_index(const sp_space *sp, const char *name) {
  for (int i = 0; i < sp->nprims; i++)
    if (strcmp(sp->prims[i].name, name) == 0 || strcmp(sp->prims[i].darts_name, name) == 0) return i;
  return -1;
}

/* ---------- every field, whatever wrote it ---------- */

/* A space reaches the planner from a Lua file (whose prelude checks it with
 * file and line) or from JSON (a compiled space, a checkpoint), which anyone
 * can edit; so every field is checked here once more, with NaN and infinity
 * refused (v < lo is false for NaN: the checks are written as !(in range)). */
static int check_int(const char *src, const char *what, const char *key, long v, long lo, long hi, err_t *e) {
  if (v >= lo && v <= hi) return 0;
  return err_set(e, "%s: %s.%s is %ld; it must lie in %ld..%ld", src, what, key, v, lo, hi);
}

static int check_num(const char *src, const char *what, const char *key, double v, double lo, double hi, err_t *e) {
  if (v >= lo && v <= hi) return 0; /* false for NaN */
  return err_set(e, "%s: %s.%s is %g; it must be a finite number in [%g, %g]", src, what, key, v, lo, hi);
}

/* Printable UTF-8, no quotes or backslashes: names travel into JSON, DOT and
 * genotype text. */
static int check_name(const char *src, const char *what, const char *name, err_t *e) {
  const unsigned char *p = (const unsigned char *)name;
  if (!*p) return err_set(e, "%s: %s has an empty name", src, what);
  while (*p) {
    int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
    if (n < 0 || (n == 0 && (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || *p == '\'')))
      return err_set(e, "%s: %s's name holds a control character, a quote or invalid UTF-8: use letters, digits and _",
                     src, what);
    for (int k = 1; k <= n; k++)
      if ((p[k] & 0xc0) != 0x80) return err_set(e, "%s: %s's name is not valid UTF-8", src, what);
    p += n + 1;
  }
  return 0;
}

static int check_layer(const sp_prim *p, const sp_layer *l, err_t *e) {
  const char *w = "a layer";
  if ((unsigned)l->kind >= SP_NLAYER_KINDS || (unsigned)l->affine > SP_AFFINE_NEVER)
    return err_set(e, "%s:%d: primitive '%s' has a layer of unknown kind", l->src, l->line, p->name);
  return check_int(l->src, w, "kernel", l->kh, 1, 64, e) || check_int(l->src, w, "kernel", l->kw, 1, 64, e) ||
         check_int(l->src, w, "stride", l->sh, 1, 16, e) || check_int(l->src, w, "stride", l->sw, 1, 16, e) ||
         check_int(l->src, w, "padding", l->ph, 0, 64, e) || check_int(l->src, w, "padding", l->pw, 0, 64, e) ||
         check_int(l->src, w, "dilation", l->dh, 1, 16, e) || check_int(l->src, w, "dilation", l->dw, 1, 16, e) ||
         check_int(l->src, w, "groups", l->groups, 0, 4096, e);
}

static int check_prims(const sp_space *sp, err_t *e) {
  for (int i = 0; i < sp->nprims; i++) {
    const sp_prim *p = &sp->prims[i];
    if (check_name(sp->src, "a primitive", p->name, e) || check_name(sp->src, "a primitive", p->darts_name, e))
      return -1;
    for (int j = 0; j < i; j++)
      if (strcmp(sp->prims[j].name, p->name) == 0)
        return err_set(e, "%s:%d: two primitives are named '%s'", p->src, p->line, p->name);
    for (int s = 0; s < 2; s++) {
      if (p->nlayers[s] < 0 || p->nlayers[s] > 64 || (p->nlayers[s] > 0 && !p->layers[s]))
        return err_set(e, "%s:%d: primitive '%s' has %d layers (at most 64)", p->src, p->line, p->name, p->nlayers[s]);
      for (int k = 0; k < p->nlayers[s]; k++)
        if (check_layer(p, &p->layers[s][k], e) != 0) return -1;
    }
  }
  return 0;
}

static int check_net_fields(const char *src, const sp_net *n, const char *what, err_t *e) {
  if (check_int(src, what, "input.channels", n->input_channels, 1, 8, e) ||
      check_int(src, what, "classes", n->classes, 2, 100000, e) ||
      check_int(src, what, "channels", n->channels, 1, 4096, e) ||
      check_int(src, what, "stem_multiplier", n->stem_multiplier, 1, 64, e) ||
      check_int(src, what, "reductions (count)", n->nreductions, 0, 16, e) ||
      check_num(src, what, "auxiliary_weight", n->auxiliary_weight, 0, 1e6, e) ||
      check_num(src, what, "drop_path", n->drop_path, 0, 0.99, e) ||
      check_num(src, what, "label_smoothing", n->label_smoothing, 0, 0.99, e) ||
      check_int(src, what, "stem (imagenet_stem)", n->imagenet_stem, 0, 1, e))
    return -1;
  if (n->imagenet_stem && n->channels % 2 != 0)
    return err_set(e, "%s: %s: the imagenet stem's first conv has channels / 2 outputs: give an even channels (%d)",
                   src, what, n->channels);
  for (int i = 0; i < n->nreductions; i++)
    if (n->reductions[i] < 0 || n->reductions[i] >= n->cells || (i > 0 && n->reductions[i] <= n->reductions[i - 1]))
      return err_set(e, "%s: %s.reductions must be increasing cell indices in 0..%d", src, what, n->cells - 1);
  return 0;
}

static int check_recipes(const sp_space *sp, err_t *e) {
  const char *src = sp->src, *w = "space.search";
  const sp_search *s = &sp->search;
  if (check_int(src, w, "samples", s->samples, 1, 256, e) || check_int(src, w, "epochs", s->epochs, 1, 1000000, e) ||
      check_int(src, w, "batch", s->batch, 1, 65536, e) || check_num(src, w, "lr", s->lr, 0, 1e3, e) ||
      check_num(src, w, "lr_min", s->lr_min, 0, 1e3, e) || check_num(src, w, "momentum", s->momentum, 0, 1, e) ||
      check_num(src, w, "weight_decay", s->weight_decay, 0, 1e3, e) ||
      check_num(src, w, "grad_clip", s->grad_clip, 0, 1e9, e) || check_num(src, w, "arch_lr", s->arch_lr, 0, 1e3, e) ||
      check_num(src, w, "arch_betas[1]", s->arch_beta1, 0, 0.999999, e) ||
      check_num(src, w, "arch_betas[2]", s->arch_beta2, 0, 0.999999999, e) ||
      check_num(src, w, "temperature", s->temperature, 1e-6, 1e6, e) ||
      check_num(src, w, "split", s->split, 0.01, 0.99, e) || check_int(src, w, "seed", s->seed, 0, 2147483647L, e) ||
      check_int(src, w, "limit", s->limit, 0, 2147483647L, e) || check_int(src, w, "warmup", s->warmup, 0, 1000000, e) ||
      (s->temperature_end != 0 && check_num(src, w, "temperature_end", s->temperature_end, 1e-6, 1e6, e)))
    return -1;
  const sp_train *t = &sp->train;
  w = "space.evaluation";
  if (check_int(src, w, "cutout", t->cutout, 0, 4096, e) || check_int(src, w, "batch", t->batch, 1, 65536, e) ||
      check_int(src, w, "epochs", t->epochs, 1, 1000000, e) || check_num(src, w, "lr", t->lr, 0, 1e3, e) ||
      check_num(src, w, "lr_min", t->lr_min, 0, 1e3, e) || check_num(src, w, "momentum", t->momentum, 0, 1, e) ||
      check_num(src, w, "weight_decay", t->weight_decay, 0, 1e3, e) ||
      check_num(src, w, "grad_clip", t->grad_clip, 0, 1e9, e) ||
      check_num(src, w, "lr_decay", t->lr_decay, 0, 1, e))
    return -1;
  const sp_transfer *x = &sp->transfer;
  w = "space.transfer";
  return check_int(src, w, "cutout", x->cutout, 0, 4096, e) || check_int(src, w, "batch", x->batch, 1, 65536, e) ||
         check_int(src, w, "epochs", x->epochs, 1, 1000000, e) || check_int(src, w, "samples", x->samples, 0, 256, e) ||
         check_num(src, w, "arch_lr", x->arch_lr, 0, 1e3, e);
}

/* Follows one primitive's layers at one stride over a C x h x h input.  Maps
 * inside a primitive may be rectangular (a 1x7 conv at stride (1, 2)); its
 * output must be the square map the cell expects. */
static int check_prim(const sp_prim *p, int stride, int C, int h, int h_expect, const char *ctx, err_t *e) {
  int n = p->nlayers[stride - 1];
  const sp_layer *ls = p->layers[stride - 1];
  int ch = h, cw = h;
  for (int i = 0; i < n; i++) {
    const sp_layer *l = &ls[i];
    switch (l->kind) {
    case SP_CONV:
    case SP_AVG_POOL:
    case SP_MAX_POOL: {
      int ekh = l->dh * (l->kh - 1) + 1, ekw = l->dw * (l->kw - 1) + 1;
      if (ekh > ch + 2 * l->ph || ekw > cw + 2 * l->pw)
        return err_set(e, "%s:%d: %s with a %dx%d kernel (dilation %dx%d) is larger than its %dx%d input "
                          "plus padding (primitive '%s' %s); use a smaller kernel or more padding",
                       l->src, l->line, sp_layer_kind_name(l->kind), l->kh, l->kw, l->dh, l->dw, ch, cw,
                       p->name, ctx);
      if (l->kind == SP_CONV && l->groups > 1 && C % l->groups != 0)
        return err_set(e, "%s:%d: conv with %d groups needs a channel count divisible by %d; "
                          "primitive '%s' %s sees %d channels",
                       l->src, l->line, l->groups, l->groups, p->name, ctx, C);
      if (l->kind != SP_CONV && (2 * l->ph > l->kh || 2 * l->pw > l->kw))
        return err_set(e, "%s:%d: %s padding %dx%d is more than half its %dx%d kernel (a window could "
                          "hold only padding); use padding <= kernel/2",
                       l->src, l->line, sp_layer_kind_name(l->kind), l->ph, l->pw, l->kh, l->kw);
      ch = sp_out_size(ch, l->kh, l->sh, l->ph, l->dh);
      cw = sp_out_size(cw, l->kw, l->sw, l->pw, l->dw);
      break;
    }
    case SP_FACTORIZED_REDUCE:
      if (C % 2 != 0)
        return err_set(e, "%s:%d: factorized_reduce needs an even channel count (it concatenates two "
                          "halves); primitive '%s' %s sees %d channels: choose an even network.channels",
                       l->src, l->line, p->name, ctx, C);
      if (ch != cw)
        return err_set(e, "%s:%d: factorized_reduce needs a square input, got %dx%d (primitive '%s' %s)",
                       l->src, l->line, ch, cw, p->name, ctx);
      ch = cw = (ch + 1) / 2;
      break;
    default:
      break;
    }
    if (ch < 1 || cw < 1)
      return err_set(e, "%s:%d: %s shrinks the map to nothing (primitive '%s' %s)", l->src, l->line,
                     sp_layer_kind_name(l->kind), p->name, ctx);
  }
  if (ch != h_expect || cw != h_expect)
    return err_set(e, "%s:%d: primitive '%s' at stride %d turns a %dx%d map into %dx%d, but %s needs %dx%d; "
                      "check the strides and padding of its layers",
                   p->src, p->line, p->name, stride, h, h, ch, cw, ctx, h_expect, h_expect);
  return 0;
}

/* A primitive that an imported space defined does not fit the network the
 * user's space file set: the message names the user's file too, where the
 * fix belongs. */
static int blame(const sp_space *sp, const sp_prim *p, err_t *e) {
  if (strcmp(p->src, sp->src) != 0 && strstr(sp->src, ".lua"))
    err_append(e, " (%s builds on %s and sets the network these layers do not fit)", sp->src, p->src);
  return -1;
}

int sp_validate_net(const sp_space *sp, const sp_net *net, const char *what, err_t *e) {
  if (net->cells < 1) return err_set(e, "%s: %s needs at least one cell", sp->src, what);
  if (net->cells > 64) return err_set(e, "%s: %s has %d cells; at most 64 are supported", sp->src, what, net->cells);
  if (net->input_size < 1 || net->input_size > 4096)
    return err_set(e, "%s: %s input size %d is out of range (1..4096)", sp->src, what, net->input_size);
  if (check_net_fields(sp->src, net, what, e) != 0) return -1;
  sp_cell_shape shapes[64];
  sp_cell_shapes(net, sp->nodes, shapes);
  if (net->imagenet_stem && net->auxiliary && shapes[2 * net->cells / 3].h_out < 2)
    return err_set(e, "%s: %s: the imagenet auxiliary head needs maps of at least 2x2 after cell %d, which gives %dx%d: "
                      "a larger input, or no auxiliary head",
                   sp->src, what, 2 * net->cells / 3, shapes[2 * net->cells / 3].h_out, shapes[2 * net->cells / 3].h_out);
  for (int i = 0; i < net->cells; i++) {
    const sp_cell_shape *s = &shapes[i];
    if (s->h_in < 1 || s->h_out < 1)
      return err_set(e, "%s: %s: cell %d sees a %dx%d map; too many reductions for a %dx%d input", sp->src,
                     what, i, s->h_in, s->h_in, net->input_size, net->input_size);
    if (s->reduction_prev && s->C % 2 != 0)
      return err_set(e, "%s: %s: cell %d follows a reduction cell, so its input 0 passes a factorized "
                        "reduce to %d channels, which must be even: choose an even network.channels",
                     sp->src, what, i, s->C);
    for (int p = 0; p < sp->nprims; p++) {
      char ctx[96];
      snprintf(ctx, sizeof ctx, "in cell %d of the %s (%d channels, %dx%d)", i, what, s->C, s->h_in, s->h_in);
      if (check_prim(&sp->prims[p], 1, s->C, s->h_in, s->h_in, ctx, e) != 0 ||
          (s->reduction && check_prim(&sp->prims[p], 2, s->C, s->h_in, s->h_out, ctx, e) != 0))
        return blame(sp, &sp->prims[p], e);
    }
  }
  return 0;
}

int sp_validate(const sp_space *sp, err_t *e) {
  if (check_name(sp->src, "the space", sp->name, e) != 0) return -1;
  if (sp->nprims < 1) return err_set(e, "%s: the space has no primitives", sp->src);
  if (sp->nprims > 64) return err_set(e, "%s: the space has %d primitives; at most 64 are supported", sp->src, sp->nprims);
  if (sp->nodes < 1) return err_set(e, "%s: space.cell.nodes must be at least 1 (got %d)", sp->src, sp->nodes);
  if (sp->nodes > 16) return err_set(e, "%s: space.cell.nodes is %d; at most 16 are supported", sp->src, sp->nodes);
  if (sp->inputs < 1 || sp->inputs > 8)
    return err_set(e, "%s: space.cell.inputs must lie in 1..8 (got %d)", sp->src, sp->inputs);
  if (check_prims(sp, e) || check_recipes(sp, e)) return -1;
  if (sp_validate_net(sp, &sp->net, "search network", e) != 0) return -1;
  if (sp_validate_net(sp, &sp->eval_net, "evaluation network", e) != 0) return -1;
  if (sp_validate_net(sp, &sp->transfer_net, "transfer network", e) != 0) return -1;
  return 0;
}
