/* Image files: JPEG (libjpeg-turbo, with its DCT scaling so a large photo is
 * decoded only as large as needed) and PNG (libpng), decoded to 8-bit
 * grayscale or RGB as PIL's convert("L") / convert("RGB") gives them (alpha
 * dropped, CMYK inverted as Adobe writes it, L = 0.299 R + 0.587 G +
 * 0.114 B rounded), and resampled as torchvision's Resize of a PIL image does
 * (bilinear, widened when shrinking). */
#ifndef PARSEC_RT_IMAGE_H
#define PARSEC_RT_IMAGE_H
#include "err.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int w, h, c;  /* c: 1 (gray) or 3 (RGB) */
  uint8_t *px;  /* [h, w, c] */
} rt_image;

typedef enum { RT_IMAGE_NONE, RT_IMAGE_JPEG, RT_IMAGE_PNG } rt_image_kind;

/* PIL's gray value of an RGB pixel (its fixed-point L = 0.299 R + 0.587 G + 0.114 B, rounded). */
uint8_t rt_image_luma(int r, int g, int b);

/* The kind of image the first bytes B[0..n) start (magic numbers). */
rt_image_kind rt_image_sniff(const uint8_t *b, size_t n);

/* Decodes the file's bytes B[0..n) (PATH names it in messages) to C
   channels (1 or 3).  A JPEG is decoded at the smallest of libjpeg's scales
   (k/8) whose shorter side still has MIN_SIDE pixels (0: full size). */
int rt_image_decode(const uint8_t *b, size_t n, const char *path, int c, int min_side, rt_image *im, err_t *e);
/* The same, reading PATH first. */
int rt_image_read(const char *path, int c, int min_side, rt_image *im, err_t *e);
void rt_image_free(rt_image *im);

/* The box X0, Y0, W x H of IM (clipped to the image) resampled to S x S,
   flipped left to right when FLIP, into OUT as C planes [c, S, S]
   (torchvision's resized_crop on a PIL image: the box cropped, then a
   bilinear filter whose support widens by the shrink factor). */
void rt_image_crop_resize(const rt_image *im, int x0, int y0, int w, int h, int S, int flip, uint8_t *out);
/* Test-time: the shorter side resized to R (>= S), then the centre S x S
   (torchvision's Resize(R) and CenterCrop(S)). */
void rt_image_fit(const rt_image *im, int R, int S, uint8_t *out);

#endif
