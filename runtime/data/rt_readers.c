/* The data-set file formats, read from memory: IDX (images and labels),
 * CIFAR-10/100 binary batches, NumPy .npy (uint8 or float32 images, integer labels).
 * Each reader checks every field against the bytes it has before it sizes
 * anything, and names the file (PATH) in its messages. */
#include "rt_readers.h"
#include "io.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Reads all of PATH (gzip'd or plain: zlib reads both). */
int rt_read_whole(const char *path, uint8_t **out, size_t *len, err_t *e) {
  int fd = io_open_regular(path, NULL, e);
  gzFile f = fd >= 0 ? gzdopen(fd, "rb") : NULL;
  if (!f) {
    if (fd >= 0) close(fd);
    return fd >= 0 ? err_set(e, "%s: cannot open: %s", path, strerror(errno)) : -1;
  }
  size_t cap = 1 << 20, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      gzclose(f);
      return err_set(e, "%s: out of memory", path);
    }
    if (n == cap) {
      uint8_t *b = realloc(buf, cap * 2);
      if (!b) {
        free(buf);
        buf = NULL;
        continue;
      }
      buf = b;
      cap *= 2;
    }
    int got = gzread(f, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
    if (got < 0) {
      int zerr;
      err_set(e, "%s: cannot read (%s): the file is damaged or truncated", path, gzerror(f, &zerr));
      free(buf);
      gzclose(f); /* after the message: gzerror's text belongs to F */
      return -1;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  int zerr = 0;
  gzerror(f, &zerr);
  gzclose(f);
  if (zerr != Z_OK && zerr != Z_BUF_ERROR) {
    free(buf);
    return err_set(e, "%s: the compressed stream is damaged or truncated", path);
  }
  *out = buf;
  *len = n;
  return 0;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* ---------- IDX ---------- */

int rt_read_idx_images(rt_dataset *d, const uint8_t *b, size_t n, const char *path, err_t *e) {
  if (n < 16 || be32(b) != 0x00000803) {
    const uint32_t magic = n >= 4 ? be32(b) : 0;
    return err_set(e, "%s: not an IDX image file (magic 0x%08x, expected 0x00000803 for unsigned bytes in 3 dims)",
                   path, magic);
  }
  uint32_t cnt = be32(b + 4), h = be32(b + 8), w = be32(b + 12);
  if (h == 0 || w == 0 || h > 4096 || w > 4096 || cnt > INT_MAX) {
    return err_set(e, "%s: implausible images: %u of %ux%u", path, cnt, h, w);
  }
  size_t need = 16 + (size_t)cnt * h * w;
  if (n < need) {
    return err_set(e, "%s: truncated: the header promises %u images of %ux%u (%zu bytes), the file holds %zu", path,
                   cnt, h, w, need, n);
  }
  d->n = (int)cnt;
  d->c = 1;
  d->h = (int)h;
  d->w = (int)w;
  d->images = malloc((size_t)cnt * h * w);
  if (!d->images) {
    return err_set(e, "out of memory");
  }
  memcpy(d->images, b + 16, (size_t)cnt * h * w);
  return 0;
}

int rt_read_idx_labels(rt_dataset *d, const uint8_t *b, size_t n, const char *path, err_t *e) {
  if (n < 8 || be32(b) != 0x00000801) {
    const uint32_t magic = n >= 4 ? be32(b) : 0;
    return err_set(e, "%s: not an IDX label file (magic 0x%08x, expected 0x00000801)", path, magic);
  }
  uint32_t cnt = be32(b + 4);
  if (n < 8 + (size_t)cnt) {
    return err_set(e, "%s: truncated: the header promises %u labels, the file holds %zu", path, cnt, n - 8);
  }
  if ((int)cnt != d->n) {
    return err_set(e, "%s: %u labels for %d images: the image and label files do not belong together", path, cnt, d->n);
  }
  d->labels = malloc(sizeof *d->labels * (cnt ? cnt : 1));
  if (!d->labels) {
    return err_set(e, "out of memory");
  }
  for (uint32_t i = 0; i < cnt; i++) d->labels[i] = b[8 + i];
  return 0;
}

/* ---------- CIFAR binary batches ---------- */

int rt_read_cifar(rt_dataset *d, const uint8_t *b, size_t n, int hundred, const char *path, err_t *e) {
  size_t rec = (hundred ? 2 : 1) + 3072;
  if (n == 0 || n % rec != 0)
    return err_set(e, "%s: %zu bytes is not a whole number of %zu-byte CIFAR-%d records: truncated or not CIFAR-%d",
                   path, n, rec, hundred ? 100 : 10, hundred ? 100 : 10);
  size_t cnt = n / rec;
  if (cnt > (size_t)(INT_MAX - d->n)) return err_set(e, "%s: more images than one data set may hold", path);
  uint8_t *im = realloc(d->images, (size_t)(d->n + (int)cnt) * 3072);
  if (im) d->images = im;
  int32_t *lb = realloc(d->labels, sizeof *lb * (size_t)(d->n + (int)cnt));
  if (lb) d->labels = lb;
  if (!im || !lb) return err_set(e, "out of memory");
  d->c = 3;
  d->h = d->w = 32;
  for (size_t i = 0; i < cnt; i++) {
    const uint8_t *r = b + i * rec;
    int label = hundred ? r[1] : r[0];
    if (label >= (hundred ? 100 : 10))
      return err_set(e, "%s: record %zu has label %d, out of range for CIFAR-%d: not a CIFAR-%d file?", path, i, label,
                     hundred ? 100 : 10, hundred ? 100 : 10);
    d->labels[d->n + i] = label;
    memcpy(d->images + (size_t)(d->n + i) * 3072, r + (hundred ? 2 : 1), 3072); /* R, G, B planes: NCHW */
  }
  d->n += (int)cnt;
  return 0;
}

/* ---------- .npy ---------- */

typedef struct {
  char descr[16];
  int fortran;
  int ndim;
  long shape[4];
  size_t offset;
} npy_header;

static int npy_parse(const uint8_t *b, size_t n, const char *path, npy_header *h, err_t *e) {
  if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0) return err_set(e, "%s: not a NumPy .npy file", path);
  size_t hl, start;
  if (b[6] == 1) {
    hl = b[8] | (size_t)b[9] << 8;
    start = 10;
  } else if (n >= 12 && (b[6] == 2 || b[6] == 3)) {
    hl = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    start = 12;
  } else {
    return err_set(e, "%s: unsupported .npy version %d", path, b[6]);
  }
  if (start + hl > n) return err_set(e, "%s: truncated .npy header", path);
  char hdr[4096];
  if (hl >= sizeof hdr) return err_set(e, "%s: a .npy header of %zu bytes (NumPy writes them under 4 KiB)", path, hl);
  snprintf(hdr, sizeof hdr, "%.*s", (int)hl, (const char *)b + start);
  memset(h, 0, sizeof *h);
  h->offset = start + hl;
  char *p = strstr(hdr, "'descr'");
  if (!p || !(p = strchr(p + 7, '\''))) return err_set(e, "%s: .npy header lacks 'descr'", path);
  char *q = strchr(p + 1, '\'');
  if (!q || q - p - 1 >= (long)sizeof h->descr) return err_set(e, "%s: bad 'descr' in the .npy header", path);
  snprintf(h->descr, sizeof h->descr, "%.*s", (int)(q - p - 1), p + 1);
  p = strstr(hdr, "'fortran_order'");
  if (p) {
    char *v = p + strlen("'fortran_order'");
    while (*v == ':' || *v == ' ') v++;
    h->fortran = strncmp(v, "True", 4) == 0;
  }
  p = strstr(hdr, "'shape'");
  if (!p || !(p = strchr(p, '('))) return err_set(e, "%s: .npy header lacks 'shape'", path);
  p++;
  while (*p && *p != ')') {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    if (!isdigit((unsigned char)*p) || h->ndim == 4) return err_set(e, "%s: unsupported .npy shape", path);
    errno = 0;
    h->shape[h->ndim] = strtol(p, &p, 10);
    /* every dimension, and the whole array, stays far inside int and size_t */
    if (errno || h->shape[h->ndim] > INT_MAX) return err_set(e, "%s: a .npy dimension out of range", path);
    h->ndim++;
  }
  double total = 1;
  for (int i = 0; i < h->ndim; i++) total *= (double)h->shape[i];
  if (total > (double)(1L << 40)) return err_set(e, "%s: a .npy shape of %.3g elements is out of range", path, total);
  return 0;
}

/* A float32 array's layout: (N, H, W) and (N, H, W, C) as the uint8 ones,
   or (N, C, H, W) as a PyTorch tensor's .numpy(), told apart by where the
   channels (1 to 4) are; *NCHW says which. */
static int float_layout(const npy_header *h, int *nchw, const char *path, err_t *e) {
  *nchw = 0;
  if (h->ndim != 4) return 0;
  int last = h->shape[3] >= 1 && h->shape[3] <= 4, second = h->shape[1] >= 1 && h->shape[1] <= 4;
  if (last && second)
    return err_set(e, "%s: float32 images of shape (%ld, %ld, %ld, %ld) could be NHWC or NCHW: give images of more "
                      "than 4 pixels a side",
                   path, h->shape[0], h->shape[1], h->shape[2], h->shape[3]);
  *nchw = second;
  return 0;
}

/* The float32 values, NaN and infinities refused: into D->fimages, NCHW */
static int float_images(rt_dataset *d, const uint8_t *src, int nchw, const char *path, err_t *e) {
  size_t hw = (size_t)d->h * d->w, total = (size_t)d->n * hw * d->c;
  d->fimages = malloc(sizeof(float) * total + 4);
  if (!d->fimages) return err_set(e, "out of memory");
  for (int i = 0; i < d->n; i++)
    for (int c = 0; c < d->c; c++)
      for (size_t k = 0; k < hw; k++) {
        size_t from = nchw ? ((size_t)i * d->c + c) * hw + k : ((size_t)i * hw + k) * d->c + c;
        float v;
        memcpy(&v, src + 4 * from, 4); /* little-endian, as '<f4' says (x86, ARM) */
        if (!isfinite(v))
          return err_set(e, "%s: image %d holds %s (channel %d, pixel %zu): only finite values are images", path, i,
                         isnan(v) ? "NaN" : "an infinity", c, k);
        d->fimages[((size_t)i * d->c + c) * hw + k] = v;
      }
  return 0;
}

int rt_read_npy_images(rt_dataset *d, const uint8_t *b, size_t n, const char *path, err_t *e) {
  npy_header h;
  if (npy_parse(b, n, path, &h, e) != 0) goto fail;
  int is_f32 = strcmp(h.descr, "<f4") == 0, nchw = 0;
  if (strcmp(h.descr, "|u1") != 0 && strcmp(h.descr, "<u1") != 0 && !is_f32) {
    err_set(e,
            "%s: images must be uint8 (0..255) or little-endian float32 (0..1, as torchvision's ToTensor gives), not "
            "dtype '%s'; convert with images.astype(numpy.uint8) or images.astype('<f4')",
            path, h.descr);
    goto fail;
  }
  if (h.fortran) {
    err_set(e, "%s: Fortran-ordered arrays are not supported; save numpy.ascontiguousarray(images)", path);
    goto fail;
  }
  if (h.ndim != 3 && h.ndim != 4) {
    err_set(e, "%s: images must have shape (N, H, W) or (N, H, W, C)%s, got %d dimensions", path,
            is_f32 ? " or (N, C, H, W)" : "", h.ndim);
    goto fail;
  }
  if (is_f32 && float_layout(&h, &nchw, path, e) != 0) goto fail;
  long hh = h.shape[nchw ? 2 : 1], ww = h.shape[nchw ? 3 : 2], cc = h.ndim == 4 ? h.shape[nchw ? 1 : 3] : 1;
  if (hh > 65536 || ww > 65536 || cc < 1 || cc > 8) {
    err_set(e, "%s: images of %ldx%ld with %ld channels: not images? (at most 65536x65536, 1 to 8 channels)", path, hh,
            ww, cc);
    goto fail;
  }
  d->n = (int)h.shape[0];
  d->h = (int)hh;
  d->w = (int)ww;
  d->c = (int)cc;
  size_t hw = (size_t)d->h * d->w, need = h.offset + (size_t)d->n * hw * d->c * (is_f32 ? 4 : 1);
  if (n < need) {
    err_set(e, "%s: truncated: shape promises %zu bytes of data, the file holds %zu", path, need - h.offset,
            n - h.offset);
    goto fail;
  }
  const uint8_t *src = b + h.offset;
  if (is_f32) return float_images(d, src, nchw, path, e);
  d->images = malloc((size_t)d->n * hw * d->c + 1);
  if (!d->images) {
    err_set(e, "out of memory");
    goto fail;
  }
  for (int i = 0; i < d->n; i++) /* NHWC -> NCHW */
    for (int c = 0; c < d->c; c++)
      for (size_t k = 0; k < hw; k++) d->images[((size_t)i * d->c + c) * hw + k] = src[((size_t)i * hw + k) * d->c + c];
  return 0;
fail:
  return -1;
}

int rt_read_npy_labels(rt_dataset *d, const uint8_t *b, size_t n, const char *path, err_t *e) {
  npy_header h;
  if (npy_parse(b, n, path, &h, e) != 0) goto fail;
  int size = 0, is_signed = 0;
  if (strcmp(h.descr, "|u1") == 0 || strcmp(h.descr, "<u1") == 0) size = 1;
  else if (strcmp(h.descr, "|i1") == 0 || strcmp(h.descr, "<i1") == 0) size = 1, is_signed = 1;
  else if (strcmp(h.descr, "<i2") == 0) size = 2, is_signed = 1;
  else if (strcmp(h.descr, "<u2") == 0) size = 2;
  else if (strcmp(h.descr, "<i4") == 0) size = 4, is_signed = 1;
  else if (strcmp(h.descr, "<u4") == 0) size = 4;
  else if (strcmp(h.descr, "<i8") == 0) size = 8, is_signed = 1;
  else if (strcmp(h.descr, "<u8") == 0) size = 8;
  if (!size || h.ndim != 1) {
    err_set(e, "%s: labels must be a 1-d array of little-endian integers, got dtype '%s' with %d dimensions", path,
            h.descr, h.ndim);
    goto fail;
  }
  if (h.shape[0] != d->n) {
    err_set(e, "%s: %ld labels for %d images: the image and label files do not belong together", path, h.shape[0], d->n);
    goto fail;
  }
  if (n < h.offset + (size_t)d->n * size) {
    err_set(e, "%s: truncated: %d labels need %zu bytes of data, the file holds %zu", path, d->n, (size_t)d->n * size,
            n - h.offset);
    goto fail;
  }
  d->labels = malloc(sizeof *d->labels * (size_t)(d->n ? d->n : 1));
  if (!d->labels) {
    err_set(e, "out of memory");
    goto fail;
  }
  const uint8_t *p = b + h.offset;
  for (int i = 0; i < d->n; i++, p += size) {
    uint64_t u = 0;
    for (int k = size - 1; k >= 0; k--) u = u << 8 | p[k];
    /* the value as its dtype reads it: signed types extend their sign */
    int negative = is_signed && (u >> (8 * size - 1)) & 1;
    if (negative || u > 1000000) {
      long long shown = negative ? (long long)(u | (size < 8 ? ~(uint64_t)0 << (8 * size) : 0)) : 0;
      if (negative)
        err_set(e, "%s: label %lld at index %d is out of range (labels are 0, 1, ..., classes - 1)", path, shown, i);
      else
        err_set(e, "%s: label %llu at index %d is out of range (labels are 0, 1, ..., classes - 1)", path,
                (unsigned long long)u, i);
      goto fail;
    }
    int64_t v = (int64_t)u;
    d->labels[i] = (int32_t)v;
  }
  return 0;
fail:
  return -1;
}

