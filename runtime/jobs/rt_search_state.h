/* The inside of a search, shared by its two files: rt_search.c (the
 * settings, the data, Algorithm 1 and the run's loop) and rt_search_files.c
 * (what a search writes and reads back: outputs, the log, checkpoints, the
 * run record).  Not a public interface. */
#ifndef PARSEC_RT_SEARCH_STATE_H
#define PARSEC_RT_SEARCH_STATE_H
#include "rt_ckpt.h"
#include "rt_comm.h"
#include "rt_data.h"
#include "rt_dist.h"
#include "rt_job.h"
#include "rt_model.h"
#include "rt_rundir.h"
#include "rt_runner.h"
#include "rt_search.h"

struct cJSON;

#define MAXK 256

/* the resolved settings of a run (what a checkpoint records) */
typedef struct {
  char data[RT_FIELD_STR_MAX];
  int epochs, samples, batch, limit, seed;
  double temperature, split, arch_lr;
  double lr, lr_min, momentum, weight_decay, grad_clip, beta1, beta2;
  char init_from[RT_FIELD_STR_MAX];
  int warmup, uniform_weights;
  double temperature_end;
  char augment[RT_FIELD_STR_MAX]; /* rt_augment.h's recipes; "": auto */
  int image_size;                 /* the networks' input size; 0: the space's */
  char mean[RT_FIELD_STR_MAX], std[RT_FIELD_STR_MAX]; /* given normalisation; "": the data's */
} settings;

/* The settings' table: the recipe's keys, the options that override them,
 * their ranges in a checkpoint. */
extern const rt_field rt_search_fields[];
extern const int rt_search_nfields;

typedef struct {
  const rt_search_opts *o;
  settings st;
  sp_space sp;
  const sp_net *net;
  nw_layout lay;
  rt_backend *b;
  rt_model m;
  rt_dist d;
  rt_dataset data;
  struct rt_loader *loader; /* stages the next batch while a step computes */
  int *train_idx, *search_idx;
  int ntrain, nsearch;
  float mean[8], std[8];
  rt_augment aug;
  rng_t sample_rng, aug_rng;
  rt_runner run;
  char dir[4096];
  /* position: the next step to run */
  int epoch, step;
  /* this epoch so far */
  double loss_sum, acc_sum, wall;
  long steps_done, children;
  /* memory, this epoch */
  size_t step_peak, child_alone, supernet_bytes;
  double worst_ratio;
  rt_cache_stats cache0;
  rt_job job;
  rt_rundir rd; /* the run directory, locked while the search runs (rank 0) */
  /* several ranks (mpirun): each trains children [k0, k1) of a step */
  rt_comm comm;
  int k0, k1;
  float *xfer;       /* host staging of the running statistics (ranks_setup) */
  float *stat_count; /* per running-statistic element: how often this rank's children updated it */
  size_t *stat_len;  /* per running-statistic element: its tensor's length where the tensor starts, else 0 */
  double comm_secs0; /* s->comm.secs at the epoch's start */
  uint64_t *rank_peak; /* each rank's step peak of activations this epoch (rank 0 logs them) */
} search;

static inline int rt_search_steps(const search *s) { return (s->ntrain + s->st.batch - 1) / s->st.batch; }

/* The temperature of epoch EPOCH: constant, or moving linearly from
 * `temperature` to `temperature_end` over the epochs after the warm-up. */
static inline double rt_search_temperature(const settings *st, int epoch) {
  if (st->temperature_end <= 0 || st->epochs - st->warmup <= 1) return st->temperature;
  double f = (double)(epoch - st->warmup) / (st->epochs - st->warmup - 1);
  if (f < 0) f = 0;
  return st->temperature + (st->temperature_end - st->temperature) * (f > 1 ? 1 : f);
}

/* ---------- rt_search_files.c ---------- */

/* distribution.json, genotype.txt and the cells, weights.safetensors and pi's history line. */
int rt_search_write_outputs(search *s, const gt_genotype *mode, err_t *e);
/* The epoch's line of log.jsonl. */
int rt_search_log_epoch(search *s, double lr, const gt_genotype *mode, double macc, double mloss, err_t *e);
/* The state at the start of step STEP of epoch EPOCH (0-based). */
int rt_search_save_checkpoint(search *s, int epoch, int step, err_t *e);
/* The space and settings of RUN/checkpoint.bin now; its blocks wait in C. */
int rt_search_load_checkpoint(search *s, rt_ckpt *c, struct cJSON **hdr, err_t *e);
/* The blocks and the position, once the model exists. */
int rt_search_restore_state(search *s, rt_ckpt *c, const struct cJSON *h, err_t *e);
/* --resume: the options given agree with the run's. */
int rt_search_same_run(search *s, err_t *e);
/* config.json and pi's epoch 0; or, resumed, the history cut back and the resume noted. */
int rt_search_start_record(search *s, err_t *e);
int rt_search_resume_record(search *s, err_t *e);

#endif
