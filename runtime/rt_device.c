#include "rt_device.h"
#include "rt_search.h"

#include <stdio.h>
#include <string.h>

static const char no_device_tag[] = "no usable GPU: ";

int rt_device_open(rt_backend **b, const char *device, int threads, int verbose, err_t *e) {
  const char *d = device ? device : "auto";
  if (strcmp(d, "cpu") == 0) return rt_cpu_open(b, CG_F32, threads, e);
  if (strcmp(d, "cuda") != 0 && strcmp(d, "auto") != 0)
    return err_set(e, "--device takes cpu, cuda or auto, not '%s'", d);
  err_t why = ERR_INIT;
  if (rt_cuda_open(b, 0, &why) == 0) {
    if (verbose) fprintf(stderr, "parsec: device %s: %s\n", d, (*b)->device);
    return 0;
  }
  if (strcmp(d, "cuda") == 0) {
    err_set(e, "%s%s (use --device cpu, or --device auto to fall back to the CPU)", no_device_tag, err_msg(&why));
    err_clear(&why);
    return -1;
  }
  if (verbose) fprintf(stderr, "parsec: device auto: using the CPU (%s)\n", err_msg(&why));
  err_clear(&why);
  return rt_cpu_open(b, CG_F32, threads, e);
}

int rt_device_error_code(const err_t *e) {
  return e && e->msg && strncmp(e->msg, no_device_tag, strlen(no_device_tag)) == 0 ? RT_NO_DEVICE : RT_FAILED;
}
