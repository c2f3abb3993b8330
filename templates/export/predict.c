/* predict: classifies images with the exported network and reports its
 * accuracy.  Written by parsec-run export; needs only a C compiler, libm and
 * zlib (and the CUDA toolkit for a CUDA export).
 *
 *   predict WEIGHTS.bin IMAGES [LABELS] [--logits OUT.npy] [--limit N] [-q]
 *
 * IMAGES: an IDX image file (.gz or not), a CIFAR-10 binary batch (.bin:
 * labels come with it), or a NumPy .npy of uint8 images (N, H, W) or
 * (N, H, W, C).  LABELS: an IDX label file or an .npy of integers. */
#include "network.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* All of PATH, gzip'd or not; a message and NULL when it cannot be read
 * (a FIFO or a device is refused: it would block or never end). */
static unsigned char *slurp(const char *path, size_t *len) {
  struct stat st;
  errno = 0;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
    fprintf(stderr, "predict: %s: %s\n", path, errno ? strerror(errno) : "not a regular file");
    return NULL;
  }
  gzFile f = gzopen(path, "rb");
  if (!f) {
    fprintf(stderr, "predict: cannot open %s\n", path);
    return NULL;
  }
  size_t cap = 1 << 20, n = 0;
  unsigned char *b = malloc(cap);
  int got = 0;
  while (b && (got = gzread(f, b + n, (unsigned)(cap - n))) > 0) {
    n += (size_t)got;
    if (n == cap) {
      unsigned char *nb = realloc(b, cap *= 2);
      if (!nb) free(b);
      b = nb;
    }
  }
  gzclose(f);
  if (!b || got < 0) {
    fprintf(stderr, "predict: cannot read %s (damaged, or out of memory)\n", path);
    free(b);
    return NULL;
  }
  *len = n;
  return b;
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static int ends(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* .npy: header fields we need */
static const unsigned char *npy(const unsigned char *b, size_t n, char *descr, long *shape, int *ndim) {
  if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0) return NULL;
  size_t hl = b[6] == 1 ? (size_t)(b[8] | b[9] << 8) : (size_t)(b[8] | b[9] << 8 | b[10] << 16 | b[11] << 24);
  size_t start = b[6] == 1 ? 10 : 12;
  if (start + hl > n || hl >= 4096) return NULL;
  char h[4096];
  snprintf(h, sizeof h, "%.*s", (int)hl, (const char *)b + start);
  char *d = strstr(h, "'descr'"), *s = strstr(h, "'shape'");
  if (!d || !s || !(d = strchr(d + 7, '\'')) || !(s = strchr(s, '('))) return NULL;
  sscanf(d + 1, "%15[^']", descr);
  *ndim = 0;
  for (char *p = s + 1; *p && *p != ')' && *ndim < 4;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    errno = 0;
    long v = strtol(p, &p, 10);
    if (errno || v < 0 || v > INT_MAX) return NULL;
    shape[(*ndim)++] = v;
  }
  return b + start + hl;
}

/* images as uint8 [n, C, H, W]; labels (or NULL) */
static unsigned char *load_images(const char *path, int *n, int32_t **labels) {
  size_t len;
  unsigned char *b = slurp(path, &len);
  if (!b) return NULL;
  int C = PARSEC_NET_CHANNELS, H = PARSEC_NET_SIZE, W = PARSEC_NET_SIZE;
  size_t per = (size_t)C * H * W;
  unsigned char *out = NULL;
  *labels = NULL;
  if (len >= 16 && be32(b) == 0x803) { /* IDX */
    if ((int)be32(b + 8) != H || (int)be32(b + 12) != W || C != 1 || be32(b + 4) > INT_MAX ||
        be32(b + 4) > (len - 16) / per)
      goto bad;
    *n = (int)be32(b + 4);
    out = malloc(per * (size_t)*n);
    memcpy(out, b + 16, per * (size_t)*n);
  } else if (ends(path, ".bin")) { /* CIFAR-10: a label byte, then the planes */
    if (len % (per + 1) || C != 3) goto bad;
    *n = (int)(len / (per + 1));
    out = malloc(per * (size_t)*n);
    *labels = malloc(sizeof **labels * (size_t)*n);
    for (int i = 0; i < *n; i++) {
      (*labels)[i] = b[i * (per + 1)];
      memcpy(out + per * i, b + i * (per + 1) + 1, per);
    }
  } else { /* .npy, uint8 NHWC */
    char descr[16] = "";
    long shape[4];
    int nd;
    const unsigned char *d = npy(b, len, descr, shape, &nd);
    if (!d || strstr(descr, "u1") == NULL || nd < 3 || shape[1] != H || shape[2] != W || (nd == 4 ? shape[3] : 1) != C)
      goto bad;
    *n = (int)shape[0];
    if ((size_t)*n > (len - (size_t)(d - b)) / per) goto bad; /* more images than the file holds */
    out = malloc(per * (size_t)*n);
    for (int i = 0; i < *n; i++)
      for (int c = 0; c < C; c++)
        for (int k = 0; k < H * W; k++) out[(size_t)i * per + (size_t)c * H * W + k] = d[((size_t)i * H * W + k) * C + c];
  }
  free(b);
  return out;
bad:
  fprintf(stderr, "predict: %s is not %d x %d x %d images in IDX, CIFAR-10 or .npy (uint8) form\n", path, C, H, W);
  free(b);
  free(out);
  return NULL;
}

static int32_t *load_labels(const char *path, int n) {
  size_t len;
  unsigned char *b = slurp(path, &len);
  if (!b) return NULL;
  int32_t *l = malloc(sizeof *l * (size_t)n);
  if (len >= 8 && be32(b) == 0x801 && (int)be32(b + 4) == n && len >= 8 + (size_t)n) {
    for (int i = 0; i < n; i++) l[i] = b[8 + i];
  } else {
    char descr[16] = "";
    long shape[4];
    int nd, size = 0;
    const unsigned char *d = npy(b, len, descr, shape, &nd);
    if (d && (descr[0] == '<' || descr[0] == '|') && (descr[1] == 'i' || descr[1] == 'u') && !descr[3])
      size = descr[2] - '0';
    if (!d || nd != 1 || shape[0] != n || (size != 1 && size != 2 && size != 4 && size != 8) ||
        (size_t)(d - b) + (size_t)n * (size_t)size > len) {
      fprintf(stderr, "predict: %s is not %d labels in IDX or .npy form\n", path, n);
      free(b);
      free(l);
      return NULL;
    }
    for (int i = 0; i < n; i++) {
      uint64_t u = 0;
      for (int k = size - 1; k >= 0; k--) u = u << 8 | d[(size_t)i * size + k];
      int64_t v = (int64_t)u;
      if (descr[1] == 'i' && size < 8 && (u >> (8 * size - 1)) & 1) v -= (int64_t)1 << (8 * size); /* sign */
      if ((descr[1] == 'u' && size == 8 && u > INT64_MAX) || v < 0 || v >= PARSEC_NET_CLASSES) {
        fprintf(stderr, "predict: %s: label %lld at index %d is outside 0..%d, the network's classes\n", path,
                descr[1] == 'u' && size == 8 ? (long long)(u > INT64_MAX ? INT64_MAX : u) : (long long)v, i,
                PARSEC_NET_CLASSES - 1);
        free(b);
        free(l);
        return NULL;
      }
      l[i] = (int32_t)v;
    }
  }
  free(b);
  return l;
}

static int write_npy(FILE *f, const float *v, int n, int k) {
  char h[128];
  int hl = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, k);
  int pad = (64 - (10 + hl + 1) % 64) % 64;
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  unsigned short t = (unsigned short)(hl + pad + 1);
  fputc(t & 255, f);
  fputc(t >> 8, f);
  fwrite(h, 1, (size_t)hl, f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  fwrite(v, sizeof *v, (size_t)n * k, f);
  return fclose(f);
}

/* Every label names a class of the network: 0 .. K - 1. */
static int labels_in_range(const char *path, const int32_t *lab, int n) {
  for (int i = 0; i < n; i++)
    if (lab[i] < 0 || lab[i] >= PARSEC_NET_CLASSES) {
      fprintf(stderr, "predict: %s: label %d at index %d is outside 0..%d, the network's classes\n", path, (int)lab[i],
              i, PARSEC_NET_CLASSES - 1);
      return 0;
    }
  return 1;
}

static int usage(void) {
  fprintf(stderr, "usage: predict WEIGHTS.bin IMAGES [LABELS] [--logits OUT.npy] [--limit N] [-q]\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *weights = NULL, *images = NULL, *labels = NULL, *out = NULL;
  int limit = 0, quiet = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--logits") && i + 1 < argc) {
      out = argv[++i];
    } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
      char *end;
      errno = 0;
      long v = strtol(argv[++i], &end, 10);
      if (errno || end == argv[i] || *end || v < 1 || v > INT_MAX) {
        fprintf(stderr, "predict: --limit takes a whole number of images, at least 1, not '%s'\n", argv[i]);
        return 2;
      }
      limit = (int)v;
    } else if (!strcmp(argv[i], "-q")) {
      quiet = 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "predict: unknown option '%s' (or it lacks its value)\n", argv[i]);
      return usage();
    } else if (!weights) weights = argv[i];
    else if (!images) images = argv[i];
    else if (!labels) labels = argv[i];
    else return usage();
  }
  if (!weights || !images) return usage();
  FILE *logits_file = NULL; /* opened before any work: a place it cannot go fails now */
  if (out && !(logits_file = fopen(out, "wb"))) {
    fprintf(stderr, "predict: cannot write %s: %s\n", out, strerror(errno));
    return 1;
  }
  char err[512];
  parsec_net *net = parsec_net_load(weights, err, sizeof err);
  if (!net) {
    fprintf(stderr, "predict: %s\n", err);
    return 1;
  }
  int n = 0;
  int32_t *lab = NULL;
  unsigned char *px = load_images(images, &n, &lab);
  if (!px) return 1;
  if (labels && !(lab = load_labels(labels, n))) return 1;
  if (lab && !labels_in_range(labels ? labels : images, lab, n)) return 1;
  if (limit > 0 && limit < n) n = limit;
  int K = PARSEC_NET_CLASSES, B = 256, right = 0;
  size_t per = (size_t)PARSEC_NET_CHANNELS * PARSEC_NET_SIZE * PARSEC_NET_SIZE;
  float *x = malloc(sizeof *x * per * B), *logits = malloc(sizeof *logits * (size_t)n * K);
  if (!x || !logits) {
    fprintf(stderr, "predict: out of memory for %d images\n", n);
    return 1;
  }
  for (int at = 0; at < n; at += B) {
    int m = n - at < B ? n - at : B;
    parsec_net_normalise(px + per * at, m, x);
    if (parsec_net_forward(net, x, m, logits + (size_t)at * K, err, sizeof err) != 0) {
      fprintf(stderr, "predict: %s\n", err);
      return 1;
    }
  }
  for (int i = 0; i < n; i++) {
    int best = 0;
    for (int k = 1; k < K; k++)
      if (logits[(size_t)i * K + k] > logits[(size_t)i * K + best]) best = k;
    if (!quiet) printf("%d %d\n", i, best);
    if (lab) right += best == lab[i];
  }
  if (lab) printf("accuracy %.4f (%d of %d)\n", (double)right / n, right, n);
  if (logits_file && write_npy(logits_file, logits, n, K) != 0) {
    fprintf(stderr, "predict: cannot write %s\n", out);
    return 1;
  }
  parsec_net_free(net);
  return 0;
}
