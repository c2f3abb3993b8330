/* NumPy .npy images, then labels: the first byte's share of the rest is
 * the images file. */
#include "fuzz.h"
#include "rt_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  rt_dataset d;
  memset(&d, 0, sizeof d);
  err_t e = ERR_INIT;
  const uint8_t *b = data + 1;
  size_t n = size - 1, cut = n * data[0] / 256;
  if (rt_read_npy_images(&d, b, cut, "images.npy", &e) == 0) rt_read_npy_labels(&d, b + cut, n - cut, "labels.npy", &e);
  rt_data_free(&d);
  err_clear(&e);
  return 0;
}
