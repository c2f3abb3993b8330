/* Choosing the backend once, at start-up: --device cpu, cuda or auto. */
#ifndef PARSEC_RT_DEVICE_H
#define PARSEC_RT_DEVICE_H
#include "rt_backend.h"

/* VERBOSE says which device `auto` picked and why.  A missing or unusable
 * GPU for --device cuda fails with the code ERR_NO_DEVICE. */
int rt_device_open(rt_backend **b, const char *device, int threads, int verbose, err_t *e);

#endif
