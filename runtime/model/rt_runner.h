/* Running plans on staged batches: the one arena (grown to the largest plan
 * run so far), the host staging of images, labels and drop-path scales, and
 * the per-sample results read back.  Shared by search and training.
 *
 * Plans may be queued several at a time (rt_runner_submit, one result slot
 * each) and their results read together (rt_runner_wait): on a GPU the host
 * then builds and queues the next plan while the last one runs.  Queued
 * plans share the arena, which their order on the backend makes safe. */
#ifndef PARSEC_RT_RUNNER_H
#define PARSEC_RT_RUNNER_H
#include "rt_model.h"

typedef struct {
  double loglik, correct;    /* sums over the batch */
  double aux_loglik;         /* the auxiliary head's, when the plan has one */
  size_t arena_bytes;        /* what this plan needed for this batch */
} rt_result;

typedef struct {
  long n;      /* 0: nothing queued in this slot */
  int has_aux;
  size_t arena_bytes;
} rt_slot;

/* a recorded plan run: valid for this plan, batch and scalars, in the
   arena of its time (the runner drops its recordings when the arena moves) */
typedef struct {
  unsigned long serial;
  long n;
  float loss_scale, bn_momentum;
  void *graph;
} rt_recording;

#define RT_RECORDINGS 4

typedef struct {
  rt_backend *b;
  rt_model *m;
  void *arena;
  size_t cap;
  int batch;     /* the largest batch the staging holds */
  void *himg;    /* staged images, CNHW, backend precision */
  int32_t *hlab; /* staged labels */
  void *hmask;   /* staged drop-path scales, [ndrops][N] */
  int nmask;
  size_t device_peak; /* device memory in use, the most seen at a wait (0: the backend cannot say) */
  int nslots;
  rt_slot *slots;
  void *hres;          /* per slot: loglik[batch], aux[batch] (backend precision), correct[batch] (int32) */
  rt_result *results;  /* per slot, filled by rt_runner_wait */
  /* graphs (rt_runner_use_graphs): each plan run recorded once, then
     launched as one graph */
  int graphs;
  rt_recording rec[RT_RECORDINGS];
  int rec_next;
  long graph_launches;
  char graphs_off[256]; /* why recording stopped, when it failed */
} rt_runner;

/* SLOTS: how many plans may be queued before a wait. */
int rt_runner_init(rt_runner *r, rt_backend *b, rt_model *m, int batch, long image_elems, int slots, err_t *e);
void rt_runner_free(rt_runner *r);
/* Queues PLAN on the staged batch of N (images in r->himg, labels in
 * r->hlab, drop-path scales in r->hmask when the plan has drops); its
 * results go to SLOT.  The staging must not change until rt_runner_wait. */
int rt_runner_submit(rt_runner *r, const pl_plan *p, long N, float loss_scale, float bn_momentum, int slot, err_t *e);
/* Waits for everything queued and fills r->results[s] for each slot s
 * submitted since the last wait. */
int rt_runner_wait(rt_runner *r, err_t *e);
/* For plans that repeat (training the found network): a plan's first run
 * at a batch size goes step by step, the second is recorded as a graph,
 * later runs launch the recording.  A no-op
 * on a backend without graphs; if recording fails, the runner says why in
 * r->graphs_off and runs plans step by step from then on. */
void rt_runner_use_graphs(rt_runner *r, int on);
/* One plan: submit to slot 0, wait, and the result. */
int rt_runner_run(rt_runner *r, const pl_plan *p, long N, float loss_scale, float bn_momentum, rt_result *res,
                  err_t *e);
/* Fills the drop-path scales of PLAN for N samples: 0 with probability
 * DROP, else 1 / (1 - DROP). */
int rt_runner_drops(rt_runner *r, const pl_plan *p, long N, double drop, rng_t *rng, err_t *e);

#endif
