/* `parsec-run export`: a trained network as standalone sources, with no
 * dependency on parsec: the generated, shape-specialised kernels of this one
 * network (C with optional OpenMP, or CUDA with cuBLAS), a forward pass
 * written out step by step, a small API (network.h), the weights, a
 * `predict` program and a Makefile. */
#ifndef PARSEC_RT_EXPORT_H
#define PARSEC_RT_EXPORT_H
#include "gt_genotype.h"
#include "nw_layout.h"

/* A trained evaluation network on the host. */
typedef struct {
  sp_space sp;
  gt_genotype g;
  sp_net net;
  nw_layout lay; /* without the auxiliary head: inference does not use it */
  float *params, *stats;
  int nmean;
  float mean[8], std[8];
} rt_trained;

/* From a training run (RUN/weights.safetensors and its checkpoint), or from
 * a genotype file and safetensors weights for SPACE (default darts). */
int rt_trained_open(rt_trained *t, const char *run, const char *genotype, const char *weights, const char *space,
                    err_t *e);
void rt_trained_free(rt_trained *t);

typedef struct {
  const char *run, *genotype, *weights, *space;
  const char *target; /* "c" or "cuda" */
  const char *out;
} rt_export_opts;

int rt_export_run(const rt_export_opts *o, err_t *e);

#endif
