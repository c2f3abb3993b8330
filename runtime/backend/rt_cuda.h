/* The CUDA backend: NVRTC-compiled kernels launched through the driver API,
 * GEMMs through cuBLAS, all opened at run time (see rt_cuda.c). */
#ifndef PARSEC_RT_CUDA_H
#define PARSEC_RT_CUDA_H
#include "rt_backend.h"

/* GPU DEVICE_INDEX; fails with a message naming what is missing (no driver,
 * no GPU, no cuBLAS or NVRTC). */
int rt_cuda_open(rt_backend **b, int device_index, err_t *e);

#endif
