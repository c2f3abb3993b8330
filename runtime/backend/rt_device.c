#include "rt_device.h"
#include "rt_cpu.h"
#include "rt_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rt_device_open(rt_backend **b, const char *device, int threads, int verbose, err_t *e) {
  return rt_device_open_at(b, device, 0, threads, verbose, e);
}

int rt_device_open_at(rt_backend **b, const char *device, int index, int threads, int verbose, err_t *e) {
  const char *d = device ? device : "auto";
  if (strncmp(d, "cuda:", 5) == 0) { /* a GPU named by its number, before any rank's own */
    char *end;
    long n = strtol(d + 5, &end, 10);
    if (d[5] < '0' || d[5] > '9' || *end || n > 1023)
      return err_set_code(e, ERR_USAGE, "--device cuda:N takes the number of a GPU, not '%s'", d + 5);
    index = (int)n;
    d = "cuda";
  }
  if (strcmp(d, "cpu") == 0) return rt_cpu_open(b, CG_F32, threads, e);
  if (strcmp(d, "cuda") != 0 && strcmp(d, "auto") != 0)
    return err_set_code(e, ERR_USAGE, "--device takes cpu, cuda, cuda:N or auto, not '%s'", d);
  err_t why = ERR_INIT;
  if (rt_cuda_open(b, index, &why) == 0) {
    if (verbose) fprintf(stderr, "parsec: device %s: %s\n", d, (*b)->device);
    return 0;
  }
  if (strcmp(d, "cuda") == 0) {
    err_set_code(e, ERR_NO_DEVICE,
                 "no usable GPU %d: %s (use --device cpu, or --device auto to fall back to the CPU; "
                 "CUDA_VISIBLE_DEVICES says which GPUs count, and ranks take one each on a machine)",
                 index, err_msg(&why));
    err_clear(&why);
    return -1;
  }
  if (verbose) fprintf(stderr, "parsec: device auto: using the CPU (%s)\n", err_msg(&why));
  err_clear(&why);
  return rt_cpu_open(b, CG_F32, threads, e);
}
