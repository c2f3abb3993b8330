/* Decoding and resampling behind rt_image.h. */
#include "rt_image.h"
#include "io.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

rt_image_kind rt_image_sniff(const uint8_t *b, size_t n) {
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return RT_IMAGE_JPEG;
  if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return RT_IMAGE_PNG;
  return RT_IMAGE_NONE;
}

void rt_image_free(rt_image *im) {
  free(im->px);
  im->px = NULL;
}

/* PIL's ITU-R 601-2 luma in 16-bit fixed point, rounded (Convert.c's L24) */
uint8_t rt_image_luma(int r, int g, int b) { return (uint8_t)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16); }

/* SRC with SC channels (1..4, the 2nd or 4th alpha when ALPHA) to IM's c */
static void convert(const uint8_t *src, int sc, int alpha, size_t npx, rt_image *im) {
  for (size_t i = 0; i < npx; i++) {
    const uint8_t *p = src + i * (size_t)sc;
    int gray = sc - alpha == 1;
    if (im->c == 1) im->px[i] = gray ? p[0] : rt_image_luma(p[0], p[1], p[2]);
    else
      for (int k = 0; k < 3; k++) im->px[i * 3 + k] = gray ? p[0] : p[k];
  }
}

/* ---------- JPEG ---------- */

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_fail(j_common_ptr cinfo) {
  jpeg_err *je = (jpeg_err *)cinfo->err;
  je->pub.format_message(cinfo, je->msg);
  longjmp(je->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo) { (void)cinfo; } /* warnings (a short file is filled in) */

static int decode_jpeg(const uint8_t *b, size_t n, const char *path, int c, int min_side, rt_image *im, err_t *e) {
  struct jpeg_decompress_struct cinfo;
  jpeg_err je;
  uint8_t *volatile row = NULL;
  cinfo.err = jpeg_std_error(&je.pub);
  je.pub.error_exit = jpeg_fail;
  je.pub.output_message = jpeg_quiet;
  if (setjmp(je.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(row);
    rt_image_free(im);
    return err_set(e, "%s: not a readable JPEG (%s)", path, je.msg);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, b, (unsigned long)n);
  jpeg_read_header(&cinfo, TRUE);
  int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  /* the DCT's own downscaling: k/8 with the shorter side still >= min_side */
  unsigned shorter = cinfo.image_width < cinfo.image_height ? cinfo.image_width : cinfo.image_height;
  unsigned k = 8;
  while (min_side > 0 && k > 1 && shorter * (k - 1) / 8 >= (unsigned)min_side) k--;
  cinfo.scale_num = k;
  cinfo.scale_denom = 8;
  jpeg_start_decompress(&cinfo);
  int w = (int)cinfo.output_width, h = (int)cinfo.output_height, sc = cinfo.output_components;
  if (w <= 0 || h <= 0 || (long)w * h > (1L << 28)) {
    snprintf(je.msg, sizeof je.msg, "an image of %d x %d pixels", w, h);
    longjmp(je.jump, 1);
  }
  im->w = w, im->h = h, im->c = c;
  im->px = malloc((size_t)w * h * (size_t)c);
  row = malloc((size_t)w * (size_t)sc);
  if (!im->px || !row) {
    snprintf(je.msg, sizeof je.msg, "out of memory");
    longjmp(je.jump, 1);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW r = row;
    size_t y = cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &r, 1);
    uint8_t *dst = im->px + y * (size_t)w * (size_t)c;
    if (!cmyk) memcpy(dst, row, (size_t)w * (size_t)c); /* libjpeg converted it to C channels */
    else
      for (int x = 0; x < w; x++) { /* Adobe's inverted CMYK, as PIL converts it */
        const uint8_t *p = row + 4 * x;
        int r0 = p[0] * p[3] / 255, g0 = p[1] * p[3] / 255, b0 = p[2] * p[3] / 255;
        if (c == 1) dst[x] = rt_image_luma(r0, g0, b0);
        else dst[3 * x] = (uint8_t)r0, dst[3 * x + 1] = (uint8_t)g0, dst[3 * x + 2] = (uint8_t)b0;
      }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  free(row);
  return 0;
}

/* ---------- PNG ---------- */

static int decode_png(const uint8_t *b, size_t n, const char *path, int c, rt_image *im, err_t *e) {
  png_image p;
  memset(&p, 0, sizeof p);
  p.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&p, b, n)) return err_set(e, "%s: not a readable PNG (%s)", path, p.message);
  /* 8 bits, the file's own colour, with alpha (dropped below, as PIL does) */
  int color = (p.format & PNG_FORMAT_FLAG_COLOR) != 0;
  p.format = color ? PNG_FORMAT_RGBA : PNG_FORMAT_GA;
  int sc = color ? 4 : 2;
  if (p.width == 0 || p.height == 0 || (unsigned long)p.width * p.height > (1UL << 28)) {
    png_image_free(&p);
    return err_set(e, "%s: a PNG of %u x %u pixels", path, p.width, p.height);
  }
  uint8_t *buf = malloc((size_t)p.width * p.height * (size_t)sc);
  im->w = (int)p.width, im->h = (int)p.height, im->c = c;
  im->px = malloc((size_t)p.width * p.height * (size_t)c);
  if (!buf || !im->px) {
    png_image_free(&p);
    free(buf);
    rt_image_free(im);
    return err_set(e, "%s: out of memory", path);
  }
  if (!png_image_finish_read(&p, NULL, buf, 0, NULL)) {
    free(buf);
    rt_image_free(im);
    return err_set(e, "%s: not a readable PNG (%s)", path, p.message);
  }
  convert(buf, sc, 1, (size_t)p.width * p.height, im);
  free(buf);
  return 0;
}

int rt_image_decode(const uint8_t *b, size_t n, const char *path, int c, int min_side, rt_image *im, err_t *e) {
  memset(im, 0, sizeof *im);
  if (c != 1 && c != 3) return err_set(e, "%s: images decode to 1 or 3 channels, not %d", path, c);
  switch (rt_image_sniff(b, n)) {
  case RT_IMAGE_JPEG: return decode_jpeg(b, n, path, c, min_side, im, e);
  case RT_IMAGE_PNG: return decode_png(b, n, path, c, im, e);
  default: return err_set(e, "%s: neither a JPEG nor a PNG file", path);
  }
}

int rt_image_read(const char *path, int c, int min_side, rt_image *im, err_t *e) {
  size_t n;
  memset(im, 0, sizeof *im);
  uint8_t *b = (uint8_t *)io_read_file(path, "the image", (size_t)256 << 20, &n, e);
  if (!b) return -1;
  int rc = rt_image_decode(b, n, path, c, min_side, im, e);
  free(b);
  return rc;
}

/* ---------- resampling ---------- */

/* One axis of PIL's resampling: output pixel i (of the OUT pixels starting
   at OFF of a resize of the box [in0, in0 + len) of an axis to FULL pixels)
   takes pixels lo[i] .. lo[i] + cnt[i] - 1, weighted w[i * maxn ..]
   (bilinear: the triangle, widened by the shrink factor).  As PIL resizes a
   crop, the taps stay inside the box. */
typedef struct {
  int *lo, *cnt, maxn;
  float *w;
} taps;

static int taps_make(taps *t, int in0, int len, int full, int off, int out) {
  double scale = (double)len / full, fs = scale > 1 ? scale : 1, support = fs;
  t->maxn = (int)ceil(support) * 2 + 1;
  t->lo = malloc(sizeof(int) * (size_t)out);
  t->cnt = malloc(sizeof(int) * (size_t)out);
  t->w = malloc(sizeof(float) * (size_t)out * (size_t)t->maxn);
  if (!t->lo || !t->cnt || !t->w) return -1;
  for (int i = 0; i < out; i++) {
    double center = (i + off + 0.5) * scale;
    int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > len) hi = len;
    if (hi - lo > t->maxn) hi = lo + t->maxn;
    if (hi <= lo) lo = hi > 0 ? hi - 1 : 0, hi = lo + 1;
    double sum = 0;
    float *w = t->w + (size_t)i * t->maxn;
    for (int x = lo; x < hi; x++) {
      double d = fabs((x - center + 0.5) / fs);
      w[x - lo] = (float)(d < 1 ? 1 - d : 0);
      sum += w[x - lo];
    }
    for (int x = lo; x < hi; x++) w[x - lo] = sum > 0 ? (float)(w[x - lo] / sum) : 1.0f / (float)(hi - lo);
    t->lo[i] = in0 + lo;
    t->cnt[i] = hi - lo;
  }
  return 0;
}

static void taps_free(taps *t) {
  free(t->lo);
  free(t->cnt);
  free(t->w);
}

static uint8_t clamp8(float v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5f); }

/* The S x S outputs at (offx, offy) of the box resized to FW x FH, as planes */
static void resample(const rt_image *im, int x0, int y0, int bw, int bh, int fw, int fh, int offx, int offy, int S,
                     int flip, uint8_t *out) {
  taps tx, ty;
  int C = im->c;
  memset(&tx, 0, sizeof tx);
  memset(&ty, 0, sizeof ty);
  /* the rows the vertical pass reads, resampled horizontally first (as PIL) */
  uint8_t *mid = NULL;
  if (taps_make(&tx, x0, bw, fw, offx, S) != 0 || taps_make(&ty, y0, bh, fh, offy, S) != 0) goto done;
  int r0 = ty.lo[0], r1 = ty.lo[S - 1] + ty.cnt[S - 1];
  for (int i = 0; i < S; i++) {
    if (ty.lo[i] < r0) r0 = ty.lo[i];
    if (ty.lo[i] + ty.cnt[i] > r1) r1 = ty.lo[i] + ty.cnt[i];
  }
  mid = malloc((size_t)(r1 - r0) * S * C);
  float *acc = malloc(sizeof(float) * (size_t)S * C);
  if (!mid || !acc) {
    free(acc);
    goto done;
  }
  /* each output the taps in order, all channels together; the vertical pass
     row by row (the same sums, in the same order, vectorised) */
  for (int y = r0; y < r1; y++) {
    const uint8_t *src = im->px + (size_t)y * im->w * C;
    uint8_t *dst = mid + (size_t)(y - r0) * S * C;
    for (int i = 0; i < S; i++) {
      const float *w = tx.w + (size_t)i * tx.maxn;
      const uint8_t *p = src + (size_t)tx.lo[i] * C;
      if (C == 3) {
        float v0 = 0, v1 = 0, v2 = 0;
        for (int k = 0; k < tx.cnt[i]; k++, p += 3) v0 += w[k] * p[0], v1 += w[k] * p[1], v2 += w[k] * p[2];
        dst[3 * i] = clamp8(v0), dst[3 * i + 1] = clamp8(v1), dst[3 * i + 2] = clamp8(v2);
      } else {
        float v = 0;
        for (int k = 0; k < tx.cnt[i]; k++) v += w[k] * p[k];
        dst[i] = clamp8(v);
      }
    }
  }
  const size_t row = (size_t)S * C;
  for (int j = 0; j < S; j++) {
    const float *w = ty.w + (size_t)j * ty.maxn;
    for (size_t t = 0; t < row; t++) acc[t] = 0;
    for (int k = 0; k < ty.cnt[j]; k++) {
      const uint8_t *m = mid + (size_t)(ty.lo[j] + k - r0) * row;
      const float wk = w[k];
      for (size_t t = 0; t < row; t++) acc[t] += wk * m[t];
    }
    for (int i = 0; i < S; i++)
      for (int c = 0; c < C; c++) out[((size_t)c * S + j) * S + (flip ? S - 1 - i : i)] = clamp8(acc[(size_t)i * C + c]);
  }
  free(acc);
done:
  free(mid);
  taps_free(&tx);
  taps_free(&ty);
}

void rt_image_crop_resize(const rt_image *im, int x0, int y0, int w, int h, int S, int flip, uint8_t *out) {
  /* the box inside the image, at least a pixel */
  if (x0 < 0) w += x0, x0 = 0;
  if (y0 < 0) h += y0, y0 = 0;
  if (x0 > im->w - 1) x0 = im->w - 1;
  if (y0 > im->h - 1) y0 = im->h - 1;
  if (w > im->w - x0) w = im->w - x0;
  if (h > im->h - y0) h = im->h - y0;
  resample(im, x0, y0, w < 1 ? 1 : w, h < 1 ? 1 : h, S, S, 0, 0, S, flip, out);
}

void rt_image_fit(const rt_image *im, int R, int S, uint8_t *out) {
  /* torchvision: Resize(R) makes the shorter side R, the longer
     int(R * long / short); CenterCrop(S) starts at round((side - S) / 2) */
  int fw, fh;
  if (R < S) R = S;
  if (im->w <= im->h) fw = R, fh = (int)((long)R * im->h / im->w);
  else fh = R, fw = (int)((long)R * im->w / im->h);
  int offx = (int)lround((fw - S) / 2.0), offy = (int)lround((fh - S) / 2.0);
  resample(im, 0, 0, im->w, im->h, fw, fh, offx, offy, S, 0, out);
}
