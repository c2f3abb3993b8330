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

/* The whole export (rt_export_ensemble.c): an ensemble run as one model,
 * anything else through rt_export_network. */
int rt_export_run(const rt_export_opts *o, err_t *e);
/* One trained network (a training run, or a genotype with weights). */
int rt_export_network(const rt_export_opts *o, err_t *e);

/* ---------- the parts, for rt_export_ensemble.c ---------- */

/* 0 when NAME is a target export knows, else E says which there are. */
int rt_export_check_target(const char *name, err_t *e);
typedef struct {
  const char *name, *value;
} rt_export_var;
/* The embedded template PATH with every @NAME@ of VARS[N] replaced (an @
 * of the code kept); NULL with E set when out of memory. */
char *rt_export_fill(const char *path, const rt_export_var *vars, int n, err_t *e);
/* One network's sources for TARGET ("c", "cuda") into the existing DIR;
 * INTERNAL: the kernels with internal linkage (several networks in one
 * program). */
int rt_export_sources(const rt_trained *t, const char *target, const char *dir, int internal, err_t *e);
/* The export's new directory (an existing one is refused), and what a
 * failed export wrote, removed again. */
int rt_export_make_dir(const char *dir, err_t *e);
void rt_export_unmake_dir(const char *dir);

#endif
