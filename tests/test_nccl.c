/* Several ranks' GPUs summing their gradients with NCCL, without GPUs: run
 * on two MPI ranks (tests/mpi_run.sh), each rank's CUDA backend on the
 * driver double (cuda_double.c) and NCCL on the double below.
 *
 * The NCCL double does what the library does, on the double's "device"
 * memory (host memory): the communicator is made from rank 0's unique id,
 * which every rank must hold (the bootstrap over MPI), and an all-reduce
 * is queued on the CUDA stream it is given, to run only when the work
 * queued before it has run (MPI_Allreduce on a communicator of its own).
 * So a backend that read the sums before waiting for its stream, or queued
 * the sum before the gradients were written, gets other numbers.
 *
 * What this proves: `parsec-run search` and `train` on two ranks through
 * the CUDA backend sum each step's gradients once, on the device, in the
 * stream's order, with one NCCL communicator bootstrapped from rank 0's id,
 * and end where two CPU ranks summing through host memory end; when one
 * rank lacks NCCL every rank falls back to host memory and says why.  What
 * it does not prove: NCCL's own transport, or its speed. */
#include "cuda_double.h"
#include "rt_comm.h"
#include "rt_nccl.h"
#include "rt_search.h"
#include "rt_train.h"

#include <mpi.h>
#include <unistd.h>

rt_backend *KB; /* unused: ktest.h's double backend */

/* ---------- the NCCL double ---------- */

static long nd_ids, nd_inits, nd_sums, nd_bad;
static size_t nd_count; /* the last all-reduce's length */

typedef struct {
  MPI_Comm comm;
} nd_comm;

typedef struct {
  void *send, *recv;
  size_t count;
  nd_comm *c;
} nd_sum;

static int nd_version(int *v) {
  *v = 22809;
  return 0;
}

static int world_rank(void) {
  int r = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

/* only rank 0 makes the id */
static int nd_id(rt_nccl_id *id) {
  nd_bad += world_rank() != 0;
  memset(id, 0, sizeof *id);
  snprintf(id->internal, sizeof id->internal, "nccl double of pid %d, id %ld", (int)getpid(), nd_ids++);
  return 0;
}

/* every rank must hold rank 0's id, and its own place */
static int nd_init(void **out, int nranks, rt_nccl_id id, int rank) {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (nranks != size || rank != world_rank()) return 4; /* ncclInvalidArgument */
  nd_comm *c = calloc(1, sizeof *c);
  MPI_Comm_dup(MPI_COMM_WORLD, &c->comm);
  rt_nccl_id first = id;
  MPI_Bcast(&first, sizeof first, MPI_BYTE, 0, c->comm);
  if (memcmp(&first, &id, sizeof id) != 0 || id.internal[0] == 0) {
    MPI_Comm_free(&c->comm);
    free(c);
    return 4;
  }
  nd_inits++;
  *out = c;
  return 0;
}

static void nd_run_sum(void *arg) {
  nd_sum *s = arg;
  MPI_Allreduce(s->send == s->recv ? MPI_IN_PLACE : s->send, s->recv, (int)s->count, MPI_FLOAT, MPI_SUM, s->c->comm);
  free(s);
}

static int nd_allreduce(const void *send, void *recv, size_t count, int type, int op, void *comm, void *stream) {
  if (type != 7 || op != 0 || !comm) return 4; /* ncclFloat32, ncclSum */
  nd_sum *s = malloc(sizeof *s);
  *s = (nd_sum){(void *)send, recv, count, comm};
  nd_sums++;
  nd_count = count;
  cd_enqueue_call(stream, nd_run_sum, s);
  return 0;
}

static int nd_async(void *comm, int *err) {
  *err = 0;
  return 0;
}

static int nd_destroy(void *comm) {
  nd_comm *c = comm;
  MPI_Comm_free(&c->comm);
  free(c);
  return 0;
}

static const char *nd_error(int rc) { return rc == 4 ? "invalid argument (double)" : "error (double)"; }

static const rt_nccl_api DOUBLE = {nd_version, nd_id, nd_init, nd_allreduce, nd_async, nd_destroy, nd_destroy, nd_error};

/* ---------- the runs ---------- */

static rt_comm comm;

/* A run that failed on this rank only would leave the other waiting in a
   collective: the job ends now, naming the failure. */
static void fail_job(const char *what, const err_t *e) {
  fprintf(stderr, "rank %d: %s: %s\n", comm.rank, what, err_msg(e));
  fflush(stderr);
  rt_comm_abort(&comm, 1);
}

/* rank 0's scratch directory and data, known to every rank */
static void shared_scratch(char *dir, char *data, size_t cap, int n, int seed) {
  err_t e = ERR_INIT;
  if (comm.rank == 0) cd_scratch_data(dir, data, cap, n, seed);
  if (rt_comm_bcast(&comm, dir, strlen(dir) + 1, 0, &e) != 0 || rt_comm_bcast(&comm, data, cap, 0, &e) != 0)
    fail_job("scratch data", &e);
}

static void search(const char *data, const char *out, const char *device, int epochs) {
  rt_search_opts o = {.space = PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", .data = data, .out = out,
                      .epochs = epochs, .samples = 4, .batch = 16, .limit = -1, .seed = 5, .threads = 1,
                      .temperature = NAN, .split = NAN, .arch_lr = NAN, .device = device, .quiet = 1};
  err_t e = ERR_INIT;
  if (rt_search_run(&o, &e) != 0) fail_job(device, &e);
  assert_int_equal(cd_device, strcmp(device, "cuda") == 0 ? comm.local_rank : cd_device); /* a GPU each */
}

/* the log's "gradient_sums" (rank 0 writes the run) */
static void logged_sums(const char *dir, char *s, size_t cap) {
  char path[700], line[8192];
  snprintf(path, sizeof path, "%s/log.jsonl", dir);
  FILE *f = fopen(path, "r");
  s[0] = 0;
  while (f && fgets(line, sizeof line, f)) {
    const char *at = strstr(line, "\"gradient_sums\":\"");
    if (at) snprintf(s, cap, "%.*s", (int)strcspn(at + 17, "\""), at + 17);
  }
  if (f) fclose(f);
}

/* 2 ranks, 2 epochs of 8 steps, K = 4: through the CUDA backend with NCCL
   as on the CPU through host memory; one sum a step, of every parameter */
static void test_search_sums_on_the_device(void **state) {
  (void)state;
  if (!cd_ntable) skip(); /* no NVRTC */
  char dir[600] = "/tmp/parsec-nccl-XXXXXX", data[600], out[2][700];
  shared_scratch(dir, data, sizeof data, 256, 1);
  const char *devices[2] = {"cpu", "cuda"};
  long sums0 = nd_sums, off0 = cd_off_stream;
  for (int i = 0; i < 2; i++) {
    snprintf(out[i], sizeof out[i], "%s/search-%s", dir, devices[i]);
    search(data, out[i], devices[i], 2);
  }
  assert_int_equal(nd_sums - sums0, 16);
  assert_int_equal(nd_count, cd_layout.nparams);
  assert_int_equal(nd_inits, 1);
  assert_int_equal(nd_ids, comm.rank == 0);
  assert_int_equal(nd_bad, 0);
  assert_int_equal(cd_off_stream - off0, 0);
  if (comm.rank == 0) {
    double h[2] = {cd_last_logged(out[0], "entropy"), cd_last_logged(out[1], "entropy")};
    double l[2] = {cd_last_logged(out[0], "train_loss"), cd_last_logged(out[1], "train_loss")};
    if (!(fabs(h[0] - h[1]) < 1e-4 * h[0]) || !(fabs(l[0] - l[1]) < 1e-3 * l[0]))
      fail_msg("2 ranks: entropy %.7g / train loss %.7g on the CPU, %.7g / %.7g through CUDA and NCCL", h[0], l[0], h[1],
               l[1]);
    char how[2][200];
    logged_sums(out[0], how[0], sizeof how[0]);
    logged_sums(out[1], how[1], sizeof how[1]);
    assert_string_equal(how[0], "MPI, through host memory");
    assert_string_equal(how[1], "NCCL 2.28.9, on the GPUs");
    cd_scratch_remove(dir);
  }
}

/* rank 1 without NCCL: neither rank uses it, and the log says which lacks it */
static void test_search_without_nccl_on_a_rank(void **state) {
  (void)state;
  if (!cd_ntable) skip(); /* no NVRTC */
  char dir[600] = "/tmp/parsec-nccl-XXXXXX", data[600], out[700];
  shared_scratch(dir, data, sizeof data, 64, 1);
  snprintf(out, sizeof out, "%s/search", dir);
  long sums0 = nd_sums;
  rt_nccl_set(comm.rank == 1 ? NULL : &DOUBLE);
  search(data, out, "cuda", 1);
  rt_nccl_set(&DOUBLE);
  assert_int_equal(nd_sums - sums0, 0);
  if (comm.rank == 0) {
    char how[200];
    logged_sums(out, how, sizeof how);
    if (!strstr(how, "MPI, through host memory (no NCCL: rank 1: "))
      fail_msg("the log says the sums went by \"%s\"", how);
    cd_scratch_remove(dir);
  }
}

/* `train` on 2 ranks: 2 epochs of 5 steps through CUDA and NCCL, as on the CPU */
static void test_training_sums_on_the_device(void **state) {
  (void)state;
  if (!cd_ntable) skip(); /* no NVRTC */
  static const char *v2 =
      "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
      "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
      "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
  err_t e = ERR_INIT;
  gt_genotype g;
  if (gt_parse(&cd_space, v2, &g, "DARTS_V2", &e) != 0 || cd_add_eval_kernels(&g, &e) != 0) fail_msg("%s", err_msg(&e));
  char dir[600] = "/tmp/parsec-nccl-XXXXXX", data[600], geno[700], out[2][700];
  shared_scratch(dir, data, sizeof data, 80, 2);
  snprintf(geno, sizeof geno, "%s/genotype.txt", dir);
  if (comm.rank == 0) {
    FILE *f = fopen(geno, "w");
    if (!f || fputs(v2, f) < 0 || fclose(f) != 0) fail_msg("cannot write %s", geno);
  }
  int written = 1; /* a sum waits for every rank: rank 0 has written it */
  if (rt_comm_max(&comm, &written, 1, &e) != 0) fail_msg("%s", err_msg(&e));
  const char *devices[2] = {"cpu", "cuda"};
  long sums0 = nd_sums;
  for (int i = 0; i < 2; i++) {
    snprintf(out[i], sizeof out[i], "%s/train-%s", dir, devices[i]);
    rt_train_opts o = {.genotype = geno, .space = PARSEC_SOURCE_DIR "/tests/spaces/tiny.lua", .data = data,
                       .out = out[i], .layers = -1, .channels = -1, .epochs = 2, .batch = 16, .cutout = -1,
                       .limit = -1, .seed = 4, .threads = 1, .lr = NAN, .drop_path = 0.3, .auxiliary = 1,
                       .device = devices[i], .progress = 0, .quiet = 1};
    if (rt_train_run(&o, &e) != 0) fail_job(devices[i], &e);
  }
  assert_int_equal(nd_sums - sums0, 10);
  if (comm.rank == 0) {
    double l[2] = {cd_last_logged(out[0], "train_loss"), cd_last_logged(out[1], "train_loss")};
    if (!(fabs(l[0] - l[1]) < 1e-3 * l[0]))
      fail_msg("2 ranks: train loss %.7g on the CPU, %.7g through CUDA and NCCL", l[0], l[1]);
    cd_scratch_remove(dir);
  }
}

int main(void) {
  if (rt_comm_launched() != 2) {
    fprintf(stderr, "skipped: run on 2 MPI ranks (tests/mpi_run.sh)\n");
    return 77;
  }
  err_t e = ERR_INIT;
  if (rt_comm_open(&comm, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return 1;
  }
  rt_nccl_set(&DOUBLE);
  cd_devices = 2; /* a GPU per rank */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_search_sums_on_the_device),
      cmocka_unit_test(test_search_without_nccl_on_a_rank),
      cmocka_unit_test(test_training_sums_on_the_device),
  };
  int rc = cmocka_run_group_tests(tests, cd_setup, cd_teardown);
  /* a rank that failed would leave the other waiting in a collective */
  if (rc != 0) rt_comm_abort(&comm, 1);
  return rc;
}
