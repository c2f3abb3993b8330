#include "rt_onnx.h"
#include "io.h"
#include "onnx.pb-c.h"
#include "version.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPSET 17
#define IR_VERSION 8

/* The model under construction.  Every message and string is allocated
 * here and freed together once the model is packed; the initializers'
 * data point into the caller's weights. */
typedef struct {
  void **mem;
  size_t nmem, capmem;
  Onnx__NodeProto **nodes;
  size_t nnodes, capnodes;
  Onnx__TensorProto **inits;
  size_t ninits, capinits;
  const char **named;     /* per layout tensor of the member being built: its initializer's name, once made */
  const rt_onnx_model *m; /* the member being built */
  char prefix[32];        /* its values' and initializers' names start with this ("member2/"; "" alone) */
  int tmp;
  int failed;
} ob;

static int push(ob *b, void ***arr, size_t *n, size_t *cap, void *item) {
  if (!item) return b->failed = 1, -1;
  if (*n == *cap) {
    size_t c = *cap ? 2 * *cap : 64;
    void **grown = realloc(*arr, c * sizeof *grown);
    if (!grown) return b->failed = 1, -1;
    *arr = grown;
    *cap = c;
  }
  (*arr)[(*n)++] = item;
  return 0;
}

/* SIZE zeroed bytes owned by the model. */
static void *get(ob *b, size_t size) {
  void *p = b->failed ? NULL : calloc(1, size ? size : 1);
  if (p && push(b, &b->mem, &b->nmem, &b->capmem, p) != 0) {
    free(p);
    p = NULL;
  }
  if (!p) b->failed = 1;
  return p;
}

static char *str(ob *b, const char *s) {
  char *d = get(b, strlen(s) + 1);
  if (d) memcpy(d, s, strlen(s) + 1);
  return d;
}

/* A new value's name, PREFIX HINT_N. */
static char *fresh(ob *b, const char *hint) {
  char buf[224];
  snprintf(buf, sizeof buf, "%s%.150s_%d", b->prefix, hint, b->tmp++);
  return str(b, buf);
}

/* NAME in the member being built: PREFIX NAME. */
static char *own(ob *b, const char *name) {
  char buf[NW_NAME_MAX + 64];
  snprintf(buf, sizeof buf, "%s%s", b->prefix, name);
  return str(b, buf);
}

/* ---------- attributes, initializers, nodes ---------- */

static Onnx__AttributeProto *attr(ob *b, const char *name, Onnx__AttributeProto__AttributeType type) {
  Onnx__AttributeProto *a = get(b, sizeof *a);
  if (!a) return NULL;
  onnx__attribute_proto__init(a);
  a->name = str(b, name);
  a->has_type = 1;
  a->type = type;
  return a;
}

static Onnx__AttributeProto *attr_int(ob *b, const char *name, int64_t v) {
  Onnx__AttributeProto *a = attr(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  if (a) a->has_i = 1, a->i = v;
  return a;
}

static Onnx__AttributeProto *attr_float(ob *b, const char *name, float v) {
  Onnx__AttributeProto *a = attr(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  if (a) a->has_f = 1, a->f = v;
  return a;
}

static Onnx__AttributeProto *attr_ints(ob *b, const char *name, const int64_t *v, int n) {
  Onnx__AttributeProto *a = attr(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  int64_t *copy = get(b, sizeof *copy * (size_t)n);
  if (!a || !copy) return NULL;
  memcpy(copy, v, sizeof *copy * (size_t)n);
  a->n_ints = (size_t)n;
  a->ints = copy;
  return a;
}

/* An initializer NAME of DIMS over DATA (float32 or int64, little-endian
 * as x86-64 and arm64 store them). */
static const char *initializer(ob *b, const char *name, const int64_t *dims, int ndims, const void *data, int int64) {
  Onnx__TensorProto *t = get(b, sizeof *t);
  int64_t *d = get(b, sizeof *d * (size_t)(ndims ? ndims : 1));
  if (!t || !d) return NULL;
  onnx__tensor_proto__init(t);
  size_t numel = 1;
  for (int i = 0; i < ndims; i++) numel *= (size_t)(d[i] = dims[i]);
  t->n_dims = (size_t)ndims;
  t->dims = d;
  t->has_data_type = 1;
  t->data_type = int64 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64 : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->name = str(b, name);
  t->has_raw_data = 1;
  t->raw_data.len = numel * (int64 ? 8 : 4);
  t->raw_data.data = (uint8_t *)data;
  return push(b, (void ***)&b->inits, &b->ninits, &b->capinits, t) == 0 ? t->name : NULL;
}

/* Layout tensor I as an initializer (once), by its state_dict name. */
static const char *tensor(ob *b, int i) {
  const nw_tensor *t = &b->m->lay->t[i];
  if (b->named[i]) return b->named[i];
  int64_t dims[4];
  for (int k = 0; k < t->ndim; k++) dims[k] = t->shape[k];
  const float *base = t->kind == NW_PARAM ? b->m->params : b->m->stats;
  return b->named[i] = initializer(b, own(b, t->name), dims, t->ndim, base + t->offset, 0);
}

/* Constant int64 values for Slice's inputs. */
static const char *ints(ob *b, const char *hint, const int64_t *v, int n) {
  int64_t *copy = get(b, sizeof *copy * (size_t)n);
  if (!copy) return NULL;
  memcpy(copy, v, sizeof *copy * (size_t)n);
  int64_t dims[1] = {n};
  return initializer(b, fresh(b, hint), dims, 1, copy, 1);
}

/* A node OP of the inputs, its one output a fresh value (or OUT). */
static const char *node(ob *b, const char *op, const char *const *in, int nin, const char *out,
                        Onnx__AttributeProto **attrs, int nattrs) {
  Onnx__NodeProto *n = get(b, sizeof *n);
  char **ins = get(b, sizeof *ins * (size_t)nin), **outs = get(b, sizeof *outs);
  Onnx__AttributeProto **as = get(b, sizeof *as * (size_t)(nattrs ? nattrs : 1));
  if (!n || !ins || !outs || !as) return NULL;
  onnx__node_proto__init(n);
  for (int i = 0; i < nin; i++)
    if (!in[i] || !(ins[i] = str(b, in[i]))) return b->failed = 1, NULL;
  for (int i = 0; i < nattrs; i++)
    if (!(as[i] = attrs[i])) return b->failed = 1, NULL;
  outs[0] = out ? str(b, out) : fresh(b, op);
  n->op_type = str(b, op);
  n->name = fresh(b, op);
  n->n_input = (size_t)nin;
  n->input = ins;
  n->n_output = 1;
  n->output = outs;
  n->n_attribute = (size_t)nattrs;
  n->attribute = as;
  return push(b, (void ***)&b->nodes, &b->nnodes, &b->capnodes, n) == 0 ? outs[0] : NULL;
}

/* ---------- layers ---------- */

static const char *relu(ob *b, const char *x) { return node(b, "Relu", &x, 1, NULL, NULL, 0); }

/* Conv with weight tensor WT; PAD_END adds zero rows and columns at the end. */
static const char *conv(ob *b, const char *x, int wt, const sp_layer *l, int groups, int pad_end) {
  int64_t k[2] = {l->kh, l->kw}, s[2] = {l->sh, l->sw}, d[2] = {l->dh, l->dw};
  int64_t p[4] = {l->ph, l->pw, l->ph + pad_end, l->pw + pad_end};
  const char *in[2] = {x, tensor(b, wt)};
  Onnx__AttributeProto *a[5] = {attr_ints(b, "kernel_shape", k, 2), attr_ints(b, "strides", s, 2),
                                attr_ints(b, "pads", p, 4), attr_ints(b, "dilations", d, 2),
                                attr_int(b, "group", groups)};
  return node(b, "Conv", in, 2, NULL, a, 5);
}

static const sp_layer POINTWISE = {.kind = SP_CONV, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
static const sp_layer STRIDED = {.kind = SP_CONV, .kh = 1, .kw = 1, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .groups = 1};

/* BatchNormalization with the tensors from T (affine: weight, bias; then
 * running mean and variance); a BN without affine parameters gets
 * constant ones and zeros, named after it. */
static const char *bn(ob *b, const char *x, int t, int affine, int C) {
  const char *in[5] = {x, NULL, NULL, NULL, NULL};
  if (affine) {
    in[1] = tensor(b, t);
    in[2] = tensor(b, t + 1);
    t += 2;
  } else {
    float *one = get(b, sizeof *one * (size_t)C), *zero = get(b, sizeof *zero * (size_t)C);
    if (!one || !zero) return NULL;
    for (int c = 0; c < C; c++) one[c] = 1;
    char name[NW_NAME_MAX + 16];
    const char *mean = b->m->lay->t[t].name;
    int stem = (int)(strlen(mean) - strlen(".running_mean"));
    int64_t dims[1] = {C};
    snprintf(name, sizeof name, "%.*s.scale_one", stem, mean);
    in[1] = initializer(b, own(b, name), dims, 1, one, 0);
    snprintf(name, sizeof name, "%.*s.bias_zero", stem, mean);
    in[2] = initializer(b, own(b, name), dims, 1, zero, 0);
  }
  in[3] = tensor(b, t);
  in[4] = tensor(b, t + 1);
  Onnx__AttributeProto *a[1] = {attr_float(b, "epsilon", 1e-5f)};
  return node(b, "BatchNormalization", in, 5, NULL, a, 1);
}

/* DARTS's FactorizedReduce on X of H x H: ReLU, a strided 1x1 conv of x and
 * one of x shifted by a pixel (zero past the edge), concatenated, BN. */
static const char *factorized_reduce(ob *b, const char *x, int t, int h, int C) {
  const char *r = relu(b, x);
  const char *a = conv(b, r, t, &STRIDED, 1, 0);
  int64_t one[2] = {1, 1}, end[2] = {INT64_MAX, INT64_MAX}, axes[2] = {2, 3};
  const char *in[4] = {r, ints(b, "starts", one, 2), ints(b, "ends", end, 2), ints(b, "axes", axes, 2)};
  const char *shifted = node(b, "Slice", in, 4, NULL, NULL, 0);
  const char *c = conv(b, shifted, t + 1, &STRIDED, 1, h % 2);
  const char *both[2] = {a, c};
  Onnx__AttributeProto *ax[1] = {attr_int(b, "axis", 1)};
  return bn(b, node(b, "Concat", both, 2, NULL, ax, 1), t + 2, 1, C);
}

static const char *pool(ob *b, const char *x, const sp_layer *l) {
  int64_t k[2] = {l->kh, l->kw}, s[2] = {l->sh, l->sw}, p[4] = {l->ph, l->pw, l->ph, l->pw};
  int avg = l->kind == SP_AVG_POOL;
  Onnx__AttributeProto *a[4] = {attr_ints(b, "kernel_shape", k, 2), attr_ints(b, "strides", s, 2),
                                attr_ints(b, "pads", p, 4), avg ? attr_int(b, "count_include_pad", 0) : NULL};
  return node(b, avg ? "AveragePool" : "MaxPool", &x, 1, NULL, a, avg ? 4 : 3);
}

/* Primitive P at STRIDE on X (H x H, C channels), its tensors from T. */
static const char *primitive(ob *b, const sp_prim *p, int stride, const char *x, int h, int C, int t) {
  for (int i = 0; i < p->nlayers[stride - 1] && x; i++) {
    const sp_layer *l = &p->layers[stride - 1][i];
    switch (l->kind) {
      case SP_RELU:
        x = relu(b, x);
        break;
      case SP_CONV:
        x = conv(b, x, t++, l, l->groups == 0 ? C : l->groups, 0);
        h = sp_out_size(h, l->kh, l->sh, l->ph, l->dh);
        break;
      case SP_BN:
        if (l->search_only) break; /* not in the evaluation network */
        x = bn(b, x, t, nw_bn_affine(l, 0), C);
        t += (nw_bn_affine(l, 0) ? 2 : 0) + 2;
        break;
      case SP_AVG_POOL:
      case SP_MAX_POOL:
        x = pool(b, x, l);
        h = sp_out_size(h, l->kh, l->sh, l->ph, 1);
        break;
      case SP_FACTORIZED_REDUCE:
        x = factorized_reduce(b, x, t, h, C);
        t += 6;
        h = (h + 1) / 2;
        break;
      default:
        break; /* identity */
    }
  }
  return x;
}

/* ReLU, 1x1 conv, BN; or a factorized reduce when the input is at twice
 * the resolution. */
static const char *preprocess(ob *b, const char *x, int fr, int h, int C, int t) {
  if (fr) return factorized_reduce(b, x, t, h, C);
  return bn(b, conv(b, relu(b, x), t, &POINTWISE, 1, 0), t + 1, 1, C);
}

static const char *cell(ob *b, int c, const sp_cell_shape *s, const char *s0, const char *s1) {
  const sp_space *sp = b->m->sp;
  const nw_layout *lay = b->m->lay;
  const gt_genotype *g = b->m->g;
  const char *st[2 + GT_MAXNODES];
  st[0] = preprocess(b, s0, s->reduction_prev, s->h_in0, s->C, lay->pre0_first[c]);
  st[1] = preprocess(b, s1, 0, s->h_in, s->C, lay->pre1_first[c]);
  int type = s->reduction ? 1 : 0;
  for (int n = 0; n < sp->nodes; n++) {
    const char *h[GT_MAXINPUTS];
    for (int i = 0; i < sp->inputs; i++) {
      int j = g->pred[type][n][i], stride = s->reduction && j < 2 ? 2 : 1;
      int t = lay->entry_first[c * sp->nodes * sp->inputs + n * sp->inputs + i];
      h[i] = primitive(b, &sp->prims[g->prim[type][n][i]], stride, st[j], j < 2 ? s->h_in : s->h_out, s->C, t);
    }
    st[2 + n] = sp->inputs == 1 ? h[0] : node(b, "Sum", h, sp->inputs, NULL, NULL, 0);
  }
  Onnx__AttributeProto *ax[1] = {attr_int(b, "axis", 1)};
  return node(b, "Concat", st + 2, sp->nodes, NULL, ax, 1);
}

/* images -> the member's logits, into the value OUT (or a fresh one). */
static const char *network(ob *b, const char *out) {
  const rt_onnx_model *m = b->m;
  const sp_net *net = m->net;
  const nw_layout *lay = m->lay;
  int64_t cdims[3] = {net->input_channels, 1, 1};
  const char *norm[2] = {"images", initializer(b, own(b, "input_mean"), cdims, 3, m->mean, 0)};
  const char *x = node(b, "Sub", norm, 2, NULL, NULL, 0);
  const char *div[2] = {x, initializer(b, own(b, "input_std"), cdims, 3, m->std, 0)};
  x = node(b, "Div", div, 2, own(b, "normalised"), NULL, 0);
  const sp_layer stem = {.kind = SP_CONV, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1};
  const char *s0, *s1;
  if (net->imagenet_stem) { /* NetworkImageNet's stem0 (two convs of stride 2) and stem1 (one) */
    sp_layer half = stem;
    half.sh = half.sw = 2;
    int C = net->channels;
    x = bn(b, conv(b, x, lay->stem_weight, &half, 1, 0), lay->stem_bn.bn_weight, 1, C / 2);
    s0 = bn(b, conv(b, relu(b, x), lay->stem_more_weight[0], &half, 1, 0), lay->stem_more_bn[0].bn_weight, 1, C);
    s1 = bn(b, conv(b, relu(b, s0), lay->stem_more_weight[1], &half, 1, 0), lay->stem_more_bn[1].bn_weight, 1, C);
  } else {
    s0 = s1 = bn(b, conv(b, x, lay->stem_weight, &stem, 1, 0), lay->stem_bn.bn_weight, 1,
                 net->stem_multiplier * net->channels);
  }
  sp_cell_shape sh[64];
  sp_cell_shapes(net, m->sp->nodes, sh);
  for (int c = 0; c < net->cells && !b->failed; c++) {
    const char *out = cell(b, c, &sh[c], s0, s1);
    s0 = s1;
    s1 = out;
  }
  const char *gap = node(b, "GlobalAveragePool", &s1, 1, NULL, NULL, 0);
  Onnx__AttributeProto *ax[1] = {attr_int(b, "axis", 1)};
  const char *flat = node(b, "Flatten", &gap, 1, NULL, ax, 1);
  const char *gemm[3] = {flat, tensor(b, lay->classifier_weight), tensor(b, lay->classifier_bias)};
  Onnx__AttributeProto *tb[1] = {attr_int(b, "transB", 1)};
  return node(b, "Gemm", gemm, 3, out ? out : own(b, "logits"), tb, 1);
}

/* Every member's network; one model: its logits; an ensemble: the mean
 * of the members' softmax.  The output's name. */
static const char *networks(ob *b, const rt_onnx_model *members, int n) {
  const char *probs[64];
  for (int k = 0; k < n && !b->failed; k++) {
    b->m = &members[k];
    b->named = get(b, sizeof *b->named * (size_t)(b->m->lay->n + 1));
    if (!b->named) return NULL;
    b->prefix[0] = 0; /* one network: its names unprefixed */
    if (n > 1) snprintf(b->prefix, sizeof b->prefix, "member%d/", k + 1);
    const char *logits = network(b, n > 1 ? NULL : "logits");
    Onnx__AttributeProto *ax[1] = {attr_int(b, "axis", 1)};
    if (n > 1) probs[k] = node(b, "Softmax", &logits, 1, NULL, ax, 1);
  }
  b->prefix[0] = 0;
  b->m = &members[0];
  return n > 1 ? node(b, "Mean", probs, n, "probabilities", NULL, 0) : "logits";
}

/* ---------- the model ---------- */

/* A float32 value of shape [N, DIMS...], N named "batch". */
static Onnx__ValueInfoProto *value(ob *b, const char *name, const int64_t *dims, int n) {
  Onnx__ValueInfoProto *v = get(b, sizeof *v);
  Onnx__TypeProto *tp = get(b, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = get(b, sizeof *tt);
  Onnx__TensorShapeProto *shape = get(b, sizeof *shape);
  Onnx__TensorShapeProto__Dimension **d = get(b, sizeof *d * (size_t)(n + 1));
  if (!v || !tp || !tt || !shape || !d) return NULL;
  onnx__value_info_proto__init(v);
  onnx__type_proto__init(tp);
  onnx__type_proto__tensor__init(tt);
  onnx__tensor_shape_proto__init(shape);
  for (int i = 0; i <= n; i++) {
    if (!(d[i] = get(b, sizeof *d[i]))) return NULL;
    onnx__tensor_shape_proto__dimension__init(d[i]);
    if (i == 0) {
      d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d[i]->dim_param = str(b, "batch");
    } else {
      d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d[i]->dim_value = dims[i - 1];
    }
  }
  shape->n_dim = (size_t)n + 1;
  shape->dim = d;
  tt->has_elem_type = 1;
  tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  tt->shape = shape;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  v->name = str(b, name);
  v->type = tp;
  return v;
}

static Onnx__StringStringEntryProto *entry(ob *b, const char *key, const char *val) {
  Onnx__StringStringEntryProto *p = get(b, sizeof *p);
  if (!p) return NULL;
  onnx__string_string_entry_proto__init(p);
  p->key = str(b, key);
  p->value = str(b, val);
  return p;
}

/* "name0,name1,..." of the classes. */
static char *class_names(ob *b) {
  int K = b->m->net->classes;
  char *s = get(b, (size_t)K * 64 + 1);
  size_t o = 0;
  for (int k = 0; s && k < K; k++) {
    char num[16];
    snprintf(num, sizeof num, "%d", k);
    o += (size_t)snprintf(s + o, 64, "%s%.60s", k ? "," : "", b->m->classes ? b->m->classes[k] : num);
  }
  return s;
}

/* The genotypes: the model's, or each member's on a line of its own. */
static char *genotypes(ob *b, const rt_onnx_model *members, int n) {
  size_t cap = 1;
  char *t[64];
  for (int k = 0; k < n; k++) cap += (t[k] = gt_to_text(members[k].sp, members[k].g)) ? strlen(t[k]) + 1 : 1;
  char *all = get(b, cap);
  size_t o = 0;
  for (int k = 0; k < n; k++) {
    if (all) o += (size_t)snprintf(all + o, cap - o, "%s%s", k ? "\n" : "", t[k] ? t[k] : "");
    free(t[k]);
  }
  return all;
}

static Onnx__ModelProto *model(ob *b, const rt_onnx_model *members, int n) {
  const rt_onnx_model *m = &members[0];
  const char *output = networks(b, members, n);
  Onnx__GraphProto *g = get(b, sizeof *g);
  Onnx__ModelProto *mp = get(b, sizeof *mp);
  Onnx__OperatorSetIdProto *ops = get(b, sizeof *ops), **opsv = get(b, sizeof *opsv);
  Onnx__ValueInfoProto **in = get(b, sizeof *in), **out = get(b, sizeof *out);
  int64_t idims[3] = {m->net->input_channels, m->net->input_size, m->net->input_size}, odims[1] = {m->net->classes};
  int nprops = 5 + m->nmeta / 2;
  Onnx__StringStringEntryProto **props = get(b, sizeof *props * (size_t)nprops);
  if (b->failed || !output || !g || !mp || !ops || !opsv || !in || !out || !props) return NULL;
  onnx__graph_proto__init(g);
  onnx__model_proto__init(mp);
  onnx__operator_set_id_proto__init(ops);
  in[0] = value(b, "images", idims, 3);
  out[0] = value(b, output, odims, 1);
  char *gt = genotypes(b, members, n), *names = class_names(b), count[16];
  snprintf(count, sizeof count, "%d", n);
  props[0] = entry(b, n > 1 ? "genotypes" : "genotype", gt ? gt : "");
  props[1] = entry(b, "class_names", names ? names : "");
  props[2] = entry(b, "input",
                   "images: float32 NCHW, pixel values / 255 (0 to 1); the model subtracts input_mean "
                   "and divides by input_std itself");
  props[3] = entry(b, "output",
                   n > 1 ? "probabilities: float32 [batch, classes], the mean of the members' softmax"
                         : "logits: float32 [batch, classes], before the softmax");
  props[4] = entry(b, "members", count);
  for (int i = 0; i + 1 < 2 * (m->nmeta / 2); i += 2) props[5 + i / 2] = entry(b, m->meta[i], m->meta[i + 1]);
  g->name = str(b, m->sp->name);
  g->n_node = b->nnodes;
  g->node = b->nodes;
  g->n_initializer = b->ninits;
  g->initializer = b->inits;
  g->n_input = 1;
  g->input = in;
  g->n_output = 1;
  g->output = out;
  ops->domain = str(b, "");
  ops->has_version = 1;
  ops->version = OPSET;
  opsv[0] = ops;
  mp->has_ir_version = 1;
  mp->ir_version = IR_VERSION;
  mp->n_opset_import = 1;
  mp->opset_import = opsv;
  mp->producer_name = str(b, "parsec");
  mp->producer_version = str(b, PARSEC_VERSION);
  mp->graph = g;
  mp->n_metadata_props = (size_t)nprops;
  mp->metadata_props = props;
  for (int i = 0; i < nprops; i++)
    if (!props[i]) b->failed = 1;
  return b->failed || !in[0] || !out[0] ? NULL : mp;
}

int rt_onnx_write_ensemble(const char *path, const rt_onnx_model *members, int n, err_t *e) {
  if (n < 1 || n > 64) return err_set(e, "%s: an ONNX ensemble of %d members (1 to 64)", path, n);
  ob b = {0};
  Onnx__ModelProto *mp = model(&b, members, n);
  int rc = 0;
  if (!mp) {
    rc = err_set(e, "%s: out of memory building the ONNX model", path);
  } else {
    size_t size = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
      rc = err_set(e, "%s: out of memory packing the ONNX model (%zu bytes)", path, size);
    } else {
      onnx__model_proto__pack(mp, buf);
      io_part part = {buf, size};
      rc = io_write_parts(path, &part, 1, 0, e);
      free(buf);
    }
  }
  for (size_t i = 0; i < b.nmem; i++) free(b.mem[i]);
  free(b.mem);
  free(b.nodes);
  free(b.inits);
  return rc;
}

int rt_onnx_write(const char *path, const rt_onnx_model *m, err_t *e) { return rt_onnx_write_ensemble(path, m, 1, e); }
