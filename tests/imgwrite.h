/* Writing JPEG and PNG files for the tests and benchmarks of image folders
 * (tests/mkfolder.c, tests/test_image.c, bench/loader_bench.c). */
#ifndef PARSEC_IMGWRITE_H
#define PARSEC_IMGWRITE_H
#include <stdint.h>

/* PX: H rows of W pixels of COMPS bytes (1 gray, 3 RGB, 4 CMYK, written
   with Adobe's marker); 0, or -1 when PATH cannot be written. */
int iw_jpeg(const char *path, const uint8_t *px, int w, int h, int comps, int quality);
/* PX: rows of CHANNELS bytes (1 gray, 3 RGB, 4 RGBA). */
int iw_png(const char *path, const uint8_t *px, int w, int h, int channels);

#endif
