/* MPI behind rt_comm.h.  Built with MPI when CMake finds it (PARSEC_HAVE_MPI);
 * the launcher is recognised by the variables it sets in each rank's
 * environment. */
#include "rt_comm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef PARSEC_HAVE_MPI
#include <mpi.h>
#endif

/* the job's size from the launcher's environment: 1 when not launched
   (Open MPI's mpirun, MPICH's or Slurm's PMI, Slurm's srun --mpi=pmix) */
int rt_comm_launched(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && atoi(v) > 1) return atoi(v);
  }
  const char *tasks = getenv("SLURM_STEP_NUM_TASKS");
  if (getenv("PMIX_RANK") && tasks && atoi(tasks) > 1) return atoi(tasks);
  return 1;
}

double rt_comm_clock(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#ifdef PARSEC_HAVE_MPI
static void finish(void) {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

static int check(int rc, const char *call, err_t *e) {
  if (rc == MPI_SUCCESS) return 0;
  char s[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, s, &n);
  return err_set(e, "%s failed: %.*s", call, n, s);
}
#endif

int rt_comm_open(rt_comm *c, err_t *e) {
  memset(c, 0, sizeof *c);
  c->size = 1;
  const int n = rt_comm_launched();
  if (n == 1) return 0;
#ifdef PARSEC_HAVE_MPI
  /* once: finding the machine-local rank is itself a collective, which a
     later call (a failing rank's abort) must not enter alone */
  static rt_comm once;
  static int done;
  if (!done) {
    int init = 0;
    MPI_Initialized(&init);
    if (!init) {
      if (check(MPI_Init(NULL, NULL), "MPI_Init", e) != 0) return -1;
      atexit(finish);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &once.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &once.size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, once.rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
      MPI_Comm_rank(local, &once.local_rank);
      MPI_Comm_free(&local);
    }
    done = 1;
  }
  *c = once;
  return 0;
#else
  return err_set(e,
                 "launched as one of %d ranks, but this parsec-run was built without MPI: install MPI (Debian: "
                 "apt-get install libopenmpi-dev openmpi-bin) and build again, or run it without mpirun/srun",
                 n);
#endif
}

void rt_comm_abort(const rt_comm *c, int status) {
#ifdef PARSEC_HAVE_MPI
  if (c->size > 1) MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
#endif
  (void)c;
  (void)status;
}

#ifdef PARSEC_HAVE_MPI
static int allreduce(rt_comm *c, void *v, size_t n, MPI_Datatype t, MPI_Op op, err_t *e) {
  double t0 = rt_comm_clock();
  int rc = 0;
  /* MPI counts are ints: long buffers go in pieces */
  const size_t piece = (size_t)1 << 28;
  int size = 0;
  MPI_Type_size(t, &size);
  for (size_t at = 0; at < n && rc == 0; at += piece) {
    size_t k = n - at < piece ? n - at : piece;
    rc = check(MPI_Allreduce(MPI_IN_PLACE, (char *)v + at * (size_t)size, (int)k, t, op, MPI_COMM_WORLD),
               "MPI_Allreduce", e);
  }
  c->secs += rt_comm_clock() - t0;
  return rc;
}
#endif

int rt_comm_sum(rt_comm *c, double *v, int n, err_t *e) {
#ifdef PARSEC_HAVE_MPI
  if (c->size > 1) return allreduce(c, v, (size_t)n, MPI_DOUBLE, MPI_SUM, e);
#endif
  (void)c, (void)v, (void)n, (void)e;
  return 0;
}

int rt_comm_sum_f32(rt_comm *c, float *v, size_t n, err_t *e) {
#ifdef PARSEC_HAVE_MPI
  if (c->size > 1) return allreduce(c, v, n, MPI_FLOAT, MPI_SUM, e);
#endif
  (void)c, (void)v, (void)n, (void)e;
  return 0;
}

int rt_comm_max(rt_comm *c, int *v, int n, err_t *e) {
#ifdef PARSEC_HAVE_MPI
  if (c->size > 1) return allreduce(c, v, (size_t)n, MPI_INT, MPI_MAX, e);
#endif
  (void)c, (void)v, (void)n, (void)e;
  return 0;
}

int rt_comm_min(rt_comm *c, int *v, int n, err_t *e) {
#ifdef PARSEC_HAVE_MPI
  if (c->size > 1) return allreduce(c, v, (size_t)n, MPI_INT, MPI_MIN, e);
#endif
  (void)c, (void)v, (void)n, (void)e;
  return 0;
}

int rt_comm_bcast(rt_comm *c, void *p, size_t bytes, int root, err_t *e) {
#ifdef PARSEC_HAVE_MPI
  if (c->size > 1) {
    if (bytes > (size_t)1 << 30) return err_set(e, "rt_comm_bcast: %zu bytes are too many", bytes);
    double t0 = rt_comm_clock();
    int rc = check(MPI_Bcast(p, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast", e);
    c->secs += rt_comm_clock() - t0;
    return rc;
  }
#endif
  (void)c, (void)p, (void)bytes, (void)root, (void)e;
  return 0;
}

int rt_comm_gather_f32(rt_comm *c, const float *mine, size_t n, float *all, err_t *e) {
  if (c->size == 1) {
    memcpy(all, mine, n * sizeof *mine);
    return 0;
  }
#ifdef PARSEC_HAVE_MPI
  if (n > (size_t)1 << 30) return err_set(e, "rt_comm_gather_f32: %zu values are too many", n);
  double t0 = rt_comm_clock();
  int rc = check(MPI_Allgather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, MPI_COMM_WORLD), "MPI_Allgather", e);
  c->secs += rt_comm_clock() - t0;
  return rc;
#else
  return err_set(e, "no MPI");
#endif
}

int rt_comm_gather_u64(rt_comm *c, const uint64_t *mine, int n, uint64_t *all, err_t *e) {
  if (c->size == 1) {
    memcpy(all, mine, (size_t)n * sizeof *mine);
    return 0;
  }
#ifdef PARSEC_HAVE_MPI
  double t0 = rt_comm_clock();
  int rc = check(MPI_Allgather(mine, n, MPI_UINT64_T, all, n, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather", e);
  c->secs += rt_comm_clock() - t0;
  return rc;
#else
  return err_set(e, "no MPI");
#endif
}

uint64_t rt_comm_hash(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

int rt_comm_same(rt_comm *c, uint64_t hash, const char *what, int usage, err_t *e) {
  if (c->size == 1) return 0;
  uint64_t *all = malloc(sizeof *all * (size_t)c->size);
  if (!all) return err_set(e, "out of memory");
  int rc = rt_comm_gather_u64(c, &hash, 1, all, e);
  for (int r = 1; r < c->size && rc == 0; r++)
    if (all[r] != all[0]) rc = err_set_code(e, usage ? ERR_USAGE : ERR_FAILED, "rank %d %s", r, what);
  free(all);
  return rc;
}
