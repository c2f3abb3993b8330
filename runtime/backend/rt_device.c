#include "rt_device.h"
#include "rt_cpu.h"
#include "rt_cuda.h"

#include <stdio.h>
#include <string.h>

int rt_device_open(rt_backend **b, const char *device, int threads, int verbose, err_t *e) {
  return rt_device_open_at(b, device, 0, threads, verbose, e);
}

int rt_device_open_at(rt_backend **b, const char *device, int index, int threads, int verbose, err_t *e) {
  const char *d = device ? device : "auto";
  if (strcmp(d, "cpu") == 0) return rt_cpu_open(b, CG_F32, threads, e);
  if (strcmp(d, "cuda") != 0 && strcmp(d, "auto") != 0)
    return err_set_code(e, ERR_USAGE, "--device takes cpu, cuda or auto, not '%s'", d);
  err_t why = ERR_INIT;
  if (rt_cuda_open(b, index, &why) == 0) {
    if (verbose) fprintf(stderr, "parsec: device %s: %s\n", d, (*b)->device);
    return 0;
  }
  if (strcmp(d, "cuda") == 0) {
    err_set_code(e, ERR_NO_DEVICE,
                 "no usable GPU%s: %s (use --device cpu, or --device auto to fall back to the CPU; one GPU per rank "
                 "on a machine)",
                 index ? " for this rank" : "", err_msg(&why));
    err_clear(&why);
    return -1;
  }
  if (verbose) fprintf(stderr, "parsec: device auto: using the CPU (%s)\n", err_msg(&why));
  err_clear(&why);
  return rt_cpu_open(b, CG_F32, threads, e);
}
