/* The ranks of one job started by an MPI launcher (mpirun, srun): MPI when
 * the launcher's environment says the job has more than one rank, a single
 * rank otherwise (a plain parsec-run never initialises MPI).  A build
 * without MPI (no libopenmpi-dev at configure time) refuses to run as one of
 * several ranks and says how to get MPI.  Collectives are blocking and in
 * place; time spent in them is counted, for the logs. */
#ifndef PARSEC_RT_COMM_H
#define PARSEC_RT_COMM_H
#include "err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int rank, size;
  int local_rank; /* among the ranks on this machine (a GPU each) */
  double secs;    /* spent in collectives so far */
} rt_comm;

/* The job's ranks; the first call initialises MPI when launched as several. */
int rt_comm_open(rt_comm *c, err_t *e);
/* The number of ranks the launcher's environment gives (1: not launched). */
int rt_comm_launched(void);
/* Ends the whole job at once, every rank, with STATUS (a rank that failed
   would otherwise leave the others waiting in a collective). */
void rt_comm_abort(const rt_comm *c, int status);

/* Sums (or maxima) across ranks, in place; nothing on one rank. */
int rt_comm_sum(rt_comm *c, double *v, int n, err_t *e);
int rt_comm_sum_f32(rt_comm *c, float *v, size_t n, err_t *e);
int rt_comm_max(rt_comm *c, int *v, int n, err_t *e);
int rt_comm_min(rt_comm *c, int *v, int n, err_t *e);
/* ROOT's BYTES at P to every rank */
int rt_comm_bcast(rt_comm *c, void *p, size_t bytes, int root, err_t *e);
/* Every rank's N values of MINE, rank after rank, into ALL (N * size). */
int rt_comm_gather_f32(rt_comm *c, const float *mine, size_t n, float *all, err_t *e);
int rt_comm_gather_u64(rt_comm *c, const uint64_t *mine, int n, uint64_t *all, err_t *e);
/* seconds on a monotonic clock, for the time spent in exchanges */
double rt_comm_clock(void);
/* FNV-1a of N bytes at P, continuing from H (start: RT_COMM_HASH0) */
#define RT_COMM_HASH0 1469598103934665603ULL
uint64_t rt_comm_hash(uint64_t h, const void *p, size_t n);
/* Whether every rank holds the same HASH: -1 with WHAT and the first rank
   that differs from rank 0 in E otherwise (ERR_USAGE when USAGE). */
int rt_comm_same(rt_comm *c, uint64_t hash, const char *what, int usage, err_t *e);

#endif
