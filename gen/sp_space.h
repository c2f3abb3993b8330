/* The search space: the typed, validated intermediate representation that a
 * space file (Lua) compiles to, and that the planner, the kernel generator and
 * the runtime read.  Written to and read from JSON (sp_json.c) with a format
 * version, so `parsec-run` can take a directory that `parsecgen` wrote. */
#ifndef PARSEC_SP_SPACE_H
#define PARSEC_SP_SPACE_H
#include "err.h"
#include <stdbool.h>

#define SP_FORMAT_VERSION 1
#define SP_NAME_MAX 64
#define SP_SRC_MAX 256

typedef enum {
  SP_RELU,
  SP_CONV,
  SP_BN,
  SP_AVG_POOL,
  SP_MAX_POOL,
  SP_IDENTITY,
  SP_FACTORIZED_REDUCE,
  SP_NLAYER_KINDS
} sp_layer_kind;

/* Affine BN: the DARTS convention is non-affine during search and affine in
 * the evaluation network (SP_AFFINE_EVAL). */
typedef enum { SP_AFFINE_EVAL, SP_AFFINE_ALWAYS, SP_AFFINE_NEVER } sp_affine;

typedef struct {
  sp_layer_kind kind;
  int kh, kw; /* kernel (conv, pools) */
  int sh, sw; /* stride */
  int ph, pw; /* padding */
  int dh, dw; /* dilation (conv) */
  int groups; /* conv: 1 dense, 0 depthwise, g > 1 grouped */
  sp_affine affine;  /* bn */
  bool search_only;  /* bn: present only in the search network */
  int line;          /* where the layer was written, for error messages */
  char src[SP_SRC_MAX];
} sp_layer;

typedef struct {
  char name[SP_NAME_MAX];
  char darts_name[SP_NAME_MAX]; /* name in DARTS genotypes (identity: skip_connect) */
  int nlayers[2];               /* [0]: stride 1, [1]: stride 2 */
  sp_layer *layers[2];
  int line;
  char src[SP_SRC_MAX];
} sp_prim;

/* One network configuration: the search network, or the evaluation one. */
typedef struct {
  int input_channels, input_size, classes;
  int channels; /* C of the first cell */
  int cells;
  int stem_multiplier;
  int nreductions;
  int reductions[16]; /* 0-based indices of reduction cells, sorted */
  bool auxiliary;
  double auxiliary_weight;
  double drop_path;
  double label_smoothing; /* training loss: 1 - eps on the label, eps / classes on every class */
  int imagenet_stem;      /* 0: DARTS's CIFAR stem; 1: NetworkImageNet's stems and auxiliary head */
} sp_net;

typedef struct {
  int samples, epochs, batch;
  double lr, lr_min, momentum, weight_decay, grad_clip;
  double arch_lr, arch_beta1, arch_beta2;
  double temperature, split;
  char data[SP_SRC_MAX];
  int seed, limit;
  /* against early collapse onto parameter-free ops; all off by default, the
     paper's Algorithm 1 */
  int warmup;             /* epochs of uniformly weighted samples, pi frozen */
  double temperature_end; /* > 0: the temperature moves linearly to this by the last epoch */
  bool uniform_weights;   /* weight gradients averaged uniformly over the K samples */
  char augment[16];       /* the training images' augmentation (rt_augment.h's recipes): "auto" by default */
} sp_search;

typedef struct {
  int cutout, batch, epochs;
  double lr, lr_min, momentum, weight_decay, grad_clip;
  double lr_decay; /* > 0: lr x lr_decay^epoch (DARTS's ImageNet schedule); 0: cosine to lr_min */
  char augment[16]; /* as the search's */
} sp_train;

typedef struct {
  int cutout, batch, epochs, samples;
  double arch_lr;
} sp_transfer;

typedef struct {
  char name[SP_NAME_MAX];
  char src[SP_SRC_MAX]; /* the space file it came from */
  int nprims;
  sp_prim *prims;
  int nodes;  /* intermediate nodes per cell */
  int inputs; /* inputs per node */
  sp_net net;       /* the search network */
  sp_search search; /* its recipe */
  sp_net eval_net;  /* the evaluation (train-from-scratch) network */
  sp_train train;
  sp_net transfer_net; /* the network a transfer search tunes on */
  sp_transfer transfer;
} sp_space;

/* Reading a space file runs it in the sandbox (sp_lua.c). */
int sp_load_file(sp_space *sp, const char *path, err_t *e);
int sp_load_string(sp_space *sp, const char *chunkname, const char *text, err_t *e);
/* A bundled example by name ("darts", "small", "custom_op", "darts_imagenet"). */
int sp_load_example(sp_space *sp, const char *name, err_t *e);
void sp_free(sp_space *sp);

/* Shape checks across the whole network (channels, resolutions, strides). */
int sp_validate(const sp_space *sp, err_t *e);
int sp_validate_net(const sp_space *sp, const sp_net *net, const char *what, err_t *e);

/* Network structure shared by the planner, the parameter layout and the summary. */
bool sp_is_reduction(const sp_net *net, int cell);
/* Channels C and resolution of cell I, and of its two inputs. */
typedef struct {
  int C;            /* channels of each node of the cell */
  int reduction;    /* 1 when this cell halves the resolution */
  int reduction_prev;
  int c_prev_prev, c_prev; /* channels of the cell's inputs */
  int h_in;  /* resolution of input 1 (and of input 0 unless reduction_prev) */
  int h_in0; /* resolution of input 0 */
  int h_out;
} sp_cell_shape;
void sp_cell_shapes(const sp_net *net, int nodes, sp_cell_shape *out /* [net->cells] */);
int sp_out_size(int in, int k, int s, int p, int d);

/* Index of the categorical of (node, slot) within a cell type, and its size. */
int sp_cat_size(const sp_space *sp, int node);
int sp_ncats(const sp_space *sp); /* per cell type */
/* log10 of the number of cells in the space, per cell type. */
double sp_log10_cell_space(const sp_space *sp);

/* Index of a primitive by name (name or darts_name), or -1. */
int sp_prim_index(const sp_space *sp, const char *name);

const char *sp_layer_kind_name(sp_layer_kind k);
int sp_layer_kind_from_name(const char *name);

#endif
