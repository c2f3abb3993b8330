/* Choosing the backend once, at start-up: --device cpu, cuda, cuda:N or auto. */
#ifndef PARSEC_RT_DEVICE_H
#define PARSEC_RT_DEVICE_H
#include "rt_backend.h"

/* VERBOSE says which device `auto` picked and why.  A missing or unusable
 * GPU for --device cuda fails with the code ERR_NO_DEVICE. */
int rt_device_open(rt_backend **b, const char *device, int threads, int verbose, err_t *e);
/* The same on GPU INDEX of this machine (a rank's own GPU: its rank among
 * the ranks on the machine); CUDA_VISIBLE_DEVICES chooses which GPUs count. */
int rt_device_open_at(rt_backend **b, const char *device, int index, int threads, int verbose, err_t *e);

#endif
