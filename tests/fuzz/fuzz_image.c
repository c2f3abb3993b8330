/* JPEG and PNG files (image folders): the first byte picks gray or RGB and
 * whether the JPEG is decoded small; what decodes is then fitted and cut
 * as the augmentation does. */
#include "fuzz.h"
#include "rt_image.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  rt_image im;
  err_t e = ERR_INIT;
  int c = data[0] & 1 ? 3 : 1, min_side = data[0] & 2 ? 7 : 0;
  if (rt_image_decode(data + 1, size - 1, "image", c, min_side, &im, &e) == 0) {
    uint8_t *out = malloc((size_t)c * 9 * 9);
    if (out) {
      rt_image_fit(&im, 10, 9, out);
      rt_image_crop_resize(&im, data[0] >> 4, 1, im.w / 2 + 1, im.h, 9, 1, out);
    }
    free(out);
    rt_image_free(&im);
  }
  err_clear(&e);
  return 0;
}
