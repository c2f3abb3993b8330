/* Choosing the backend once, at start-up: --device cpu, cuda or auto. */
#ifndef PARSEC_RT_DEVICE_H
#define PARSEC_RT_DEVICE_H
#include "rt_backend.h"

/* VERBOSE says which device `auto` picked and why.  A missing or unusable
 * GPU for --device cuda is reported through rt_device_error_code. */
int rt_device_open(rt_backend **b, const char *device, int threads, int verbose, err_t *e);
/* RT_NO_DEVICE (3) when the last failure was a missing device, else 1. */
int rt_device_error_code(const err_t *e);

/* The CUDA backend (rt_cuda.c): opens the driver, NVRTC and cuBLAS at run
 * time; fails with a message naming what is missing. */
int rt_cuda_open(rt_backend **b, int device_index, err_t *e);

#endif
