/* A trained evaluation network as an ONNX model (opset 17) for inference
 * in onnxruntime, TensorRT or OpenVINO.  The graph follows the network
 * layer by layer: the input normalisation (Sub, Div) at the front, the stem,
 * each cell's preprocessing and its genotype's ops (Relu, Conv, BatchNorm-
 * alization nodes kept as they are, not folded, so the weights keep the
 * names of DARTS's state_dict; AveragePool without the padding in the
 * count, MaxPool, the factorized reduce as two strided 1x1 convs and a
 * Concat), Sum per node, Concat per cell, then GlobalAveragePool, Flatten
 * and Gemm.  Written with protobuf-c from ONNX's own schema. */
#ifndef PARSEC_RT_ONNX_H
#define PARSEC_RT_ONNX_H
#include "gt_genotype.h"
#include "nw_layout.h"

typedef struct {
  const sp_space *sp;
  const sp_net *net; /* the network as trained, without the auxiliary head */
  const gt_genotype *g;
  const nw_layout *lay; /* its tensors: PARAMS and STATS hold their values */
  const float *params, *stats;
  const float *mean, *std; /* the input normalisation, per channel */
  const char *const *classes; /* the class names, or NULL (then "0", "1", ...) */
  const char *const *meta;    /* more metadata: "key", "value" pairs */
  int nmeta;
} rt_onnx_model;

/* Writes M to PATH (through a temporary file and a rename): input
 * "images", output "logits". */
int rt_onnx_write(const char *path, const rt_onnx_model *m, err_t *e);
/* An ensemble of N members (sharing the input and the classes) as one
 * graph: each member's network under the prefix "memberK/", its Softmax,
 * and the output "probabilities", their Mean.  N = 1 is rt_onnx_write. */
int rt_onnx_write_ensemble(const char *path, const rt_onnx_model *members, int n, err_t *e);

#endif
