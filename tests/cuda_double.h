/* A test double of the CUDA driver API and of cuBLAS (cuda_double.c): what
 * it is and what running the backend through it proves are said at the top
 * of test_cuda_double.c.  The tests read its counters and its state. */
#ifndef PARSEC_CUDA_DOUBLE_H
#define PARSEC_CUDA_DOUBLE_H
#include "ktest.h"
#include "emu/emu.h"
#include "gt_genotype.h"
#include "rt_cuda_driver.h"

/* what the backend did through the double */
extern long cd_launches, cd_short_grids, cd_gemms, cd_block_launches, cd_bad_blocks, cd_gpu_forms;
extern long cd_busy_frees, cd_pinned_uploads, cd_off_stream, cd_stream_syncs, cd_bad_captures, cd_captures,
    cd_graph_runs;
/* PARSEC_CD_EMULATE=1 at setup: launches run the kernels' CUDA rendering on
   emulated CUDA threads (emu/cuda_emu.h) on the grid the backend asked for,
   instead of their C rendering, while cd_emulate is set (a test may clear
   it to run the C rendering of the same forms); cd_emulated counts them */
extern int cd_emulate;
extern long cd_emulated;
/* GPUs the double says there are (1), and the one whose context was taken last */
extern int cd_devices, cd_device;
/* set: the next stream capture fails, as a driver that refuses one would */
extern int cd_refuse_capture;
/* kernels the double knows (0: NVRTC is missing, and the tests skip) */
extern int cd_ntable;
extern rt_backend *cd_cpu; /* the CPU backend that compiles the kernels the double runs */
extern sp_space cd_space;  /* tests/spaces/tiny.lua */
extern nw_layout cd_layout;

/* SPECS join the kernels the double can run. */
int cd_add_kernels(const cg_spec *specs, int n, err_t *e);
/* The evaluation network of cd_space with genotype G: its kernels join too. */
int cd_add_eval_kernels(const gt_genotype *g, err_t *e);
/* FN(ARG) queued on STREAM, run when the stream's queued work runs (a
   double of another library queuing work on the backend's stream) */
void cd_enqueue_call(void *stream, void (*fn)(void *), void *arg);

/* The last value of "KEY": in a run's log.jsonl (NAN when absent). */
double cd_last_logged(const char *dir, const char *key);
/* DIR (a mkdtemp template) made, holding N synthetic 2x8x8 images of 5
   classes from SEED (tests/mkdata); DATA names them for --data */
void cd_scratch_data(char *dir, char *data, size_t cap, int n, int seed);
void cd_scratch_remove(const char *dir);

/* cmocka group setup and teardown: the space, its kernels, the double installed. */
int cd_setup(void **state);
int cd_teardown(void **state);

#endif
