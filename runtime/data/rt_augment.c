/* The augmentation recipes and their draws (rt_augment.h); the colour
 * jitter follows torchvision's functional ops on PIL images step by step,
 * each rounding to 8 bits as PIL does. */
#include "rt_augment.h"
#include "rt_data.h"
#include "rt_image.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const float IMAGENET_JITTER[4] = {0.4f, 0.4f, 0.4f, 0.2f};

int rt_augment_for(const char *kind, const char *spec, int size, rt_augment *a, err_t *e) {
  memset(a, 0, sizeof *a);
  if (!kind || !*kind || strcmp(kind, "auto") == 0) {
    int folder = strncmp(spec, "folder:", 7) == 0;
    kind = rt_data_is_cifar(spec) || (folder && size < 64) ? "crop-flip" : folder ? "imagenet" : "none";
  }
  if (strcmp(kind, "none") == 0) return 0;
  if (strcmp(kind, "flip") == 0) a->flip = 1;
  else if (strcmp(kind, "crop-flip") == 0) a->crop_pad = size >= 8 ? size / 8 : 1, a->flip = 1;
  else if (strcmp(kind, "imagenet") == 0) {
    a->resized_crop = a->flip = 1;
    memcpy(a->jitter, IMAGENET_JITTER, sizeof a->jitter);
  } else
    return err_set_code(e, ERR_USAGE, "--augment %s: unknown; use one of %s", kind, RT_AUGMENT_KINDS);
  return 0;
}

void rt_augment_describe(const rt_augment *a, char *buf, size_t cap) {
  int n = 0;
  buf[0] = 0;
  if (a->resized_crop) n += snprintf(buf + n, cap - (size_t)n, "random resized crop, ");
  if (a->crop_pad) n += snprintf(buf + n, cap - (size_t)n, "random crop (padding %d), ", a->crop_pad);
  if (a->flip) n += snprintf(buf + n, cap - (size_t)n, "flip, ");
  if (a->jitter[0] + a->jitter[1] + a->jitter[2] + a->jitter[3] > 0)
    n += snprintf(buf + n, cap - (size_t)n, "colour jitter %g/%g/%g/%g, ", a->jitter[0], a->jitter[1], a->jitter[2],
                  a->jitter[3]);
  if (a->cutout) n += snprintf(buf + n, cap - (size_t)n, "cutout %d, ", a->cutout);
  if (n >= 2 && (size_t)n <= cap) buf[n - 2] = 0;
  else snprintf(buf, cap, "none");
}

/* U(lo, hi) as torch.empty(1).uniform_(lo, hi) */
static double uniform(rng_t *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

void rt_augment_draws(const rt_augment *a, rng_t *r, int h, int w, rt_augment_draw *d) {
  memset(d, 0, sizeof *d);
  d->cy = d->cx = -1;
  if (!a) return;
  /* the order the in-memory formats always drew in: crop, flip, cutout */
  if (a->crop_pad > 0) {
    d->dy = (int)rng_below(r, (uint32_t)(2 * a->crop_pad + 1)) - a->crop_pad;
    d->dx = (int)rng_below(r, (uint32_t)(2 * a->crop_pad + 1)) - a->crop_pad;
  }
  if (a->resized_crop)
    for (int k = 0; k < 40; k++) d->rrc[k] = rng_uniform(r);
  if (a->flip) d->flip = (int)rng_below(r, 2);
  if (a->cutout > 0) {
    d->cy = (int)rng_below(r, (uint32_t)h);
    d->cx = (int)rng_below(r, (uint32_t)w);
  }
  if (a->jitter[0] + a->jitter[1] + a->jitter[2] + a->jitter[3] > 0) {
    int p[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) { /* torch.randperm(4) */
      int j = (int)rng_below(r, (uint32_t)(i + 1)), t = p[i];
      p[i] = p[j], p[j] = t;
    }
    memcpy(d->perm, p, sizeof p);
    for (int k = 0; k < 3; k++) {
      double f = a->jitter[k];
      d->factor[k] = f > 0 ? (float)uniform(r, f < 1 ? 1 - f : 0, 1 + f) : 1;
    }
    d->factor[3] = a->jitter[3] > 0 ? (float)uniform(r, -a->jitter[3], a->jitter[3]) : 0;
  }
}

void rt_augment_box(const rt_augment_draw *d, int w, int h, int *x0, int *y0, int *bw, int *bh) {
  const double area = (double)w * h, lr0 = log(3.0 / 4), lr1 = log(4.0 / 3);
  for (int t = 0; t < 10; t++) {
    const double *u = d->rrc + 4 * t;
    double target = area * (0.08 + 0.92 * u[0]), ratio = exp(lr0 + (lr1 - lr0) * u[1]);
    int cw = (int)lround(sqrt(target * ratio)), ch = (int)lround(sqrt(target / ratio));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      *y0 = (int)(u[2] * (h - ch + 1));
      *x0 = (int)(u[3] * (w - cw + 1));
      *bw = cw, *bh = ch;
      return;
    }
  }
  /* the centre crop, within the ratios */
  double in = (double)w / h;
  if (in < 3.0 / 4) *bw = w, *bh = (int)lround(w / (3.0 / 4));
  else if (in > 4.0 / 3) *bh = h, *bw = (int)lround(h * (4.0 / 3));
  else *bw = w, *bh = h;
  *y0 = (h - *bh) / 2;
  *x0 = (w - *bw) / 2;
}

/* PIL's Image.blend(a, b, alpha) of one value: a + alpha (b - a), truncated into 0..255 */
static uint8_t blend(double a, double b, double alpha) {
  double v = a + alpha * (b - a);
  return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
}

static uint8_t luma(const uint8_t *px, size_t i, size_t n) { return rt_image_luma(px[i], px[n + i], px[2 * n + i]); }

static void brightness(uint8_t *px, int c, size_t n, float f) {
  for (size_t i = 0; i < (size_t)c * n; i++) px[i] = blend(0, px[i], f);
}

static void contrast(uint8_t *px, int c, size_t n, float f) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += c == 3 ? luma(px, i, n) : px[i];
  double mean = (int)(s / (double)n + 0.5);
  for (size_t i = 0; i < (size_t)c * n; i++) px[i] = blend(mean, px[i], f);
}

static void saturation(uint8_t *px, size_t n, float f) {
  for (size_t i = 0; i < n; i++) {
    uint8_t l = luma(px, i, n);
    for (int k = 0; k < 3; k++) px[k * n + i] = blend(l, px[k * n + i], f);
  }
}

static uint8_t clip8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* PIL's RGB -> HSV -> RGB (Convert.c) with the hue moved by F * 255 (mod 256) */
static void hue(uint8_t *px, size_t n, float f) {
  int shift = (int)(f * 255.0f);
  for (size_t i = 0; i < n; i++) {
    int r = px[i], g = px[n + i], b = px[2 * n + i];
    int mx = r > g ? (r > b ? r : b) : (g > b ? g : b), mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
    if (mx == mn) continue; /* gray: no hue */
    float cr = (float)(mx - mn), s = cr / (float)mx, rc = (float)(mx - r) / cr, gc = (float)(mx - g) / cr,
          bc = (float)(mx - b) / cr, h;
    if (r == mx) h = bc - gc;
    else if (g == mx) h = 2.0f + rc - bc;
    else h = 4.0f + gc - rc;
    h = h / 6.0f + 1.0f; /* fmod(h / 6 + 1, 1): h / 6 + 1 lies in (0.8, 1.9], and x - 1 is exact there */
    if (h >= 1.0f) h -= 1.0f;
    uint8_t uh = clip8((int)(h * 255.0f)), us = clip8((int)(s * 255.0f)), v = (uint8_t)mx;
    uh = (uint8_t)((uh + shift) & 255);
    if (us == 0) {
      px[i] = px[n + i] = px[2 * n + i] = v;
      continue;
    }
    int k = (int)floorf((float)uh * 6.0f / 255.0f);
    float fr = (float)uh * 6.0f / 255.0f - (float)k, fs = (float)us / 255.0f;
    uint8_t p = clip8((int)lroundf(v * (1.0f - fs))), q = clip8((int)lroundf(v * (1.0f - fs * fr))),
            t = clip8((int)lroundf(v * (1.0f - fs * (1.0f - fr))));
    uint8_t *R = px + i, *G = px + n + i, *B = px + 2 * n + i;
    switch (k % 6) {
    case 0: *R = v, *G = t, *B = p; break;
    case 1: *R = q, *G = v, *B = p; break;
    case 2: *R = p, *G = v, *B = t; break;
    case 3: *R = p, *G = q, *B = v; break;
    case 4: *R = t, *G = p, *B = v; break;
    default: *R = v, *G = p, *B = q; break;
    }
  }
}

void rt_augment_jitter(const rt_augment *a, const rt_augment_draw *d, uint8_t *px, int c, int s) {
  if (a->jitter[0] + a->jitter[1] + a->jitter[2] + a->jitter[3] <= 0) return;
  size_t n = (size_t)s * s;
  for (int k = 0; k < 4; k++) switch (d->perm[k]) {
    case 0: if (a->jitter[0] > 0) brightness(px, c, n, d->factor[0]); break;
    case 1: if (a->jitter[1] > 0) contrast(px, c, n, d->factor[1]); break;
    case 2: if (a->jitter[2] > 0 && c == 3) saturation(px, n, d->factor[2]); break;
    default: if (a->jitter[3] > 0 && c == 3) hue(px, n, d->factor[3]); break;
    }
}
