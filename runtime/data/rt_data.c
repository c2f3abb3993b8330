#include "rt_data.h"
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

/* PATH read whole (gzip'd or not), then parsed by READ. */
static int load(rt_dataset *d, const char *path, int (*read)(rt_dataset *, const uint8_t *, size_t, const char *, err_t *),
                err_t *e) {
  uint8_t *b;
  size_t n;
  if (rt_read_whole(path, &b, &n, e) != 0) return -1;
  int rc = read(d, b, n, path, e);
  free(b);
  return rc;
}

static int cifar(rt_dataset *d, const char *dir, int hundred, rt_split split, err_t *e) {
  const char *files10[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                           "data_batch_5.bin"};
  const char *test10[] = {"test_batch.bin"}, *train100[] = {"train.bin"}, *test100[] = {"test.bin"};
  const char **files = hundred ? (split == RT_SPLIT_TRAIN ? train100 : test100)
                               : (split == RT_SPLIT_TRAIN ? files10 : test10);
  int nfiles = !hundred && split == RT_SPLIT_TRAIN ? 5 : 1;
  for (int f = 0; f < nfiles; f++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, files[f]);
    uint8_t *b;
    size_t n;
    if (rt_read_whole(path, &b, &n, e) != 0)
      return err_prefix(e, "CIFAR-%d (%s, with %s)", hundred ? 100 : 10, dir,
                        hundred ? "train.bin and test.bin" : "data_batch_1..5.bin and test_batch.bin");
    int rc = rt_read_cifar(d, b, n, hundred, path, e);
    free(b);
    if (rc) return -1;
  }
  return 0;
}

/* "a,b" -> a and b */
static int two_paths(const char *s, char *a, char *b, size_t cap, const char *what, err_t *e) {
  const char *c = strchr(s, ',');
  if (!c || c == s || !c[1])
    return err_set(e, "--data %s: expected two files separated by a comma (%s)", s, what);
  snprintf(a, cap, "%.*s", (int)(c - s), s);
  snprintf(b, cap, "%s", c + 1);
  return 0;
}

const char *const *rt_data_class_names(const char *spec, int classes) {
  static const char *const fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  static const char *const cifar10[10] = {"airplane", "automobile", "bird", "cat",  "deer",
                                          "dog",      "frog",       "horse", "ship", "truck"};
  if (classes != 10 || !spec) return NULL;
  if (strcmp(spec, "fashion-mnist") == 0 || strcmp(spec, "fashion_mnist") == 0) return fashion;
  return strncmp(spec, "cifar10:", 8) == 0 ? cifar10 : NULL;
}

int rt_data_is_cifar(const char *spec) { return strncmp(spec, "cifar10:", 8) == 0 || strncmp(spec, "cifar100:", 9) == 0; }

int rt_data_open(rt_dataset *d, const char *spec, rt_split split, err_t *e) {
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", spec);
  char a[2048], b[2048];
  int rc;
  if (strcmp(spec, "fashion-mnist") == 0 || strcmp(spec, "fashion_mnist") == 0) {
    const char *dir = getenv("PARSEC_FASHION_MNIST");
    if (!dir || !*dir) dir = RT_FMNIST_DIR;
    const char *pre = split == RT_SPLIT_TRAIN ? "train" : "t10k";
    snprintf(a, sizeof a, "%s/%s-images-idx3-ubyte.gz", dir, pre);
    snprintf(b, sizeof b, "%s/%s-labels-idx1-ubyte.gz", dir, pre);
    FILE *f = fopen(a, "rb");
    if (!f)
      return err_set(e, "Fashion-MNIST is not installed (%s is missing): install Debian's package "
                        "(apt-get install dataset-fashion-mnist), or give --data idx:IMAGES,LABELS",
                     a);
    fclose(f);
    rc = load(d, a, rt_read_idx_images, e) || load(d, b, rt_read_idx_labels, e);
  } else if (strncmp(spec, "idx:", 4) == 0) {
    if (split == RT_SPLIT_TEST) return err_set(e, "--data %s names one set; give the test set with --test-data", spec);
    rc = two_paths(spec + 4, a, b, sizeof a, "idx:IMAGES,LABELS", e) || load(d, a, rt_read_idx_images, e) ||
         load(d, b, rt_read_idx_labels, e);
  } else if (strncmp(spec, "cifar10:", 8) == 0) {
    rc = cifar(d, spec + 8, 0, split, e);
  } else if (strncmp(spec, "cifar100:", 9) == 0) {
    rc = cifar(d, spec + 9, 1, split, e);
  } else if (strncmp(spec, "npy:", 4) == 0) {
    if (split == RT_SPLIT_TEST) return err_set(e, "--data %s names one set; give the test set with --test-data", spec);
    rc = two_paths(spec + 4, a, b, sizeof a, "npy:IMAGES.npy,LABELS.npy", e) || load(d, a, rt_read_npy_images, e) ||
         load(d, b, rt_read_npy_labels, e);
  } else {
    return err_set(e, "unknown data set '%s': use fashion-mnist, idx:IMAGES,LABELS, cifar10:DIR, cifar100:DIR or "
                      "npy:IMAGES.npy,LABELS.npy",
                   spec);
  }
  if (rc) {
    rt_data_free(d);
    return -1;
  }
  if (d->n == 0) {
    rt_data_free(d);
    return err_set(e, "%s: the data set is empty", spec);
  }
  for (int i = 0; i < d->n; i++)
    if (d->labels[i] + 1 > d->classes) d->classes = d->labels[i] + 1;
  return 0;
}

void rt_data_free(rt_dataset *d) {
  free(d->images);
  free(d->labels);
  d->images = NULL;
  d->labels = NULL;
}

void rt_data_limit(rt_dataset *d, int n) {
  if (n > 0 && n < d->n) d->n = n;
}

void rt_data_stats(const rt_dataset *d, float *mean, float *std) {
  size_t hw = (size_t)d->h * d->w;
  for (int c = 0; c < d->c; c++) {
    double s = 0, ss = 0;
    for (int i = 0; i < d->n; i++) {
      const uint8_t *p = d->images + ((size_t)i * d->c + c) * hw;
      for (size_t k = 0; k < hw; k++) {
        double v = p[k] / 255.0;
        s += v;
        ss += v * v;
      }
    }
    double m = s / ((double)d->n * hw), var = ss / ((double)d->n * hw) - m * m;
    mean[c] = (float)m;
    std[c] = (float)sqrt(var > 1e-12 ? var : 1e-12);
  }
}

void rt_data_batch(const rt_dataset *d, const int *idx, int n, const float *mean, const float *std,
                   const rt_augment *aug, rng_t *rng, void *images, size_t elem, int32_t *labels) {
  int H = d->h, W = d->w, C = d->c;
  size_t hw = (size_t)H * W;
  for (int i = 0; i < n; i++) {
    const uint8_t *src = d->images + (size_t)idx[i] * C * hw;
    labels[i] = d->labels[idx[i]];
    int dy = 0, dx = 0, flip = 0, cy = -1, cx = -1;
    if (aug && aug->crop_pad > 0) {
      dy = (int)rng_below(rng, (uint32_t)(2 * aug->crop_pad + 1)) - aug->crop_pad;
      dx = (int)rng_below(rng, (uint32_t)(2 * aug->crop_pad + 1)) - aug->crop_pad;
    }
    if (aug && aug->flip) flip = (int)rng_below(rng, 2);
    if (aug && aug->cutout > 0) {
      cy = (int)rng_below(rng, (uint32_t)H);
      cx = (int)rng_below(rng, (uint32_t)W);
    }
    for (int c = 0; c < C; c++) {
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
          int sy = y + dy, sx = (flip ? W - 1 - x : x) + dx;
          /* padding of the random crop is zero before normalisation, as torchvision pads the image */
          double v = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[(size_t)c * hw + (size_t)sy * W + sx] / 255.0 : 0.0;
          v = (v - mean[c]) / std[c];
          /* cutout as DARTS: the square [c - L/2, c + L/2) around a random centre, clipped */
          if (cy >= 0 && y >= cy - aug->cutout / 2 && y < cy + aug->cutout / 2 && x >= cx - aug->cutout / 2 &&
              x < cx + aug->cutout / 2)
            v = 0;
          size_t o = (((size_t)c * n + i) * H + y) * W + x;
          if (elem == 8) ((double *)images)[o] = v;
          else ((float *)images)[o] = (float)v;
        }
    }
  }
}
