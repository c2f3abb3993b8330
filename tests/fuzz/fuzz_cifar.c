/* CIFAR binary batches: the first byte picks CIFAR-10 or CIFAR-100. */
#include "fuzz.h"
#include "rt_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  rt_dataset d;
  memset(&d, 0, sizeof d);
  err_t e = ERR_INIT;
  rt_read_cifar(&d, data + 1, size - 1, data[0] & 1, "batch.bin", &e);
  rt_data_free(&d);
  err_clear(&e);
  return 0;
}
