/* Training augmentation, for every data format: torchvision's recipes.
 *
 *   crop-flip  random crop of the image padded by S/8 (4 for 32 px: CIFAR),
 *              horizontal flip (DARTS's CIFAR recipe; cutout on top by flag)
 *   imagenet   RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3), flip, and
 *              ColorJitter (brightness, contrast, saturation 0.4, hue 0.2):
 *              DARTS's ImageNet recipe
 *   flip       horizontal flip only
 *   none
 *   auto       crop-flip for CIFAR, imagenet for image folders whose images
 *              are fitted to 64 px or more (crop-flip below), none otherwise
 *
 * A batch's random draws are made in order, one image after the other, from
 * the job's generator before any image is decoded: the same seed gives the
 * same batches however many threads decode them. */
#ifndef PARSEC_RT_AUGMENT_H
#define PARSEC_RT_AUGMENT_H
#include "err.h"
#include "rng.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int crop_pad;     /* random crop with this padding (0: none) */
  int flip;         /* random horizontal flip */
  int cutout;       /* a random square of this side set to 0 (0: none) */
  int resized_crop; /* RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) */
  float jitter[4];  /* ColorJitter: brightness, contrast, saturation, hue (0: none) */
} rt_augment;

#define RT_AUGMENT_KINDS "auto|none|flip|crop-flip|imagenet"

/* The recipe KIND ("" or NULL: auto) for data SPEC fitted to SIZE pixels;
   an unknown kind is an error naming the choices. */
int rt_augment_for(const char *kind, const char *spec, int size, rt_augment *a, err_t *e);
/* "crop-flip, cutout 16", for the logs */
void rt_augment_describe(const rt_augment *a, char *buf, size_t cap);

/* One image's draws. */
typedef struct {
  int dy, dx, flip, cy, cx;
  double rrc[40];   /* RandomResizedCrop's 10 tries: scale, log-ratio, top, left */
  float factor[4];  /* the jitter's factors, in perm's order */
  int perm[4];
} rt_augment_draw;

/* Draws an image's parameters from R (nothing for a NULL A). */
void rt_augment_draws(const rt_augment *a, rng_t *r, int h, int w, rt_augment_draw *d);
/* RandomResizedCrop's box in a W x H image from the draws (torchvision's
   get_params: ten tries, then the centre crop within the ratios). */
void rt_augment_box(const rt_augment_draw *d, int w, int h, int *x0, int *y0, int *bw, int *bh);
/* ColorJitter on C planes [c, S, S] (C 1: brightness and contrast only). */
void rt_augment_jitter(const rt_augment *a, const rt_augment_draw *d, uint8_t *px, int c, int s);

#endif
