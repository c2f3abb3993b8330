/* IDX files: the first byte picks images alone (even) or images and labels
 * (odd: the rest split at its second byte's share). */
#include "fuzz.h"
#include "rt_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  rt_dataset d;
  memset(&d, 0, sizeof d);
  err_t e = ERR_INIT;
  const uint8_t *b = data + 2;
  size_t n = size - 2, cut = data[0] & 1 ? n * data[1] / 256 : n;
  if (rt_read_idx_images(&d, b, cut, "images.idx", &e) == 0 && (data[0] & 1))
    rt_read_idx_labels(&d, b + cut, n - cut, "labels.idx", &e);
  rt_data_free(&d);
  err_clear(&e);
  return 0;
}
