#include "rt_data.h"
#include "rt_augment.h"
#include "rt_folder.h"
#include "rt_image.h"
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

int rt_data_has_test(const char *spec) {
  if (strncmp(spec, "folder:", 7) == 0) return rt_folder_has_splits(spec + 7);
  return strncmp(spec, "idx:", 4) != 0 && strncmp(spec, "npy:", 4) != 0;
}

static int folder(rt_dataset *d, const char *dir, rt_split split, err_t *e) {
  rt_folder *f = calloc(1, sizeof *f);
  if (!f) return err_set(e, "out of memory");
  if (rt_folder_open(f, dir, split == RT_SPLIT_TEST, isatty(2), e) != 0) {
    free(f);
    return -1;
  }
  d->folder = f;
  d->n = f->n;
  d->labels = f->labels; /* the data set's from now on */
  f->labels = NULL;
  return 0;
}

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
  } else if (strncmp(spec, "folder:", 7) == 0) {
    rc = folder(d, spec + 7, split, e);
  } else {
    return err_set(e, "unknown data set '%s': use fashion-mnist, idx:IMAGES,LABELS, cifar10:DIR, cifar100:DIR, "
                      "npy:IMAGES.npy,LABELS.npy or folder:DIR",
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
  if (d->folder) d->classes = d->folder->nclasses; /* an empty class directory still counts */
  return 0;
}

void rt_data_free(rt_dataset *d) {
  free(d->images);
  free(d->fimages);
  d->fimages = NULL;
  free(d->labels);
  if (d->folder) rt_folder_free(d->folder);
  free(d->folder);
  d->images = NULL;
  d->labels = NULL;
  d->folder = NULL;
}

void rt_data_fit(rt_dataset *d, int c, int s) {
  if (!d->folder) return;
  d->c = c;
  d->h = d->w = d->resize = s;
}

void rt_data_fit_test(rt_dataset *d, int c, int s, const rt_augment *train_aug) {
  rt_data_fit(d, c, s);
  if (d->folder && train_aug->resized_crop) d->resize = (int)lround(s / 0.875);
}

void rt_data_describe(const rt_dataset *d, const rt_augment *a, char *buf, size_t cap) {
  char aug[256];
  rt_augment_describe(a, aug, sizeof aug);
  int n = snprintf(buf, cap, "data: %dx%dx%d %simages, augmentation: %s", d->c, d->h, d->w, d->fimages ? "float32 " : "",
                   aug);
  const rt_folder *f = d->folder;
  if (!f || n < 0 || (size_t)n >= cap) return;
  n += snprintf(buf + n, cap - (size_t)n,
                "; %s: %d classes (index %s), images decoded per batch, the shorter side resized to %d", f->dir,
                f->nclasses, f->cached ? "from .parsec-index" : "built", d->h);
  if (f->skipped && (size_t)n < cap)
    n += snprintf(buf + n, cap - (size_t)n, "; %d file%s named like an image but not one skipped (the first: %s)",
                  f->skipped, f->skipped == 1 ? "" : "s", f->first_skipped);
  if (f->ignored && (size_t)n < cap)
    snprintf(buf + n, cap - (size_t)n, "; %d other file%s ignored", f->ignored, f->ignored == 1 ? "" : "s");
}

int rt_data_check_augment(const rt_dataset *d, const rt_augment *a, err_t *e) {
  if (d->fimages && (a->resized_crop || a->jitter[0] + a->jitter[1] + a->jitter[2] + a->jitter[3] > 0))
    return err_set_code(e, ERR_USAGE,
                        "%s: the imagenet augmentation (random resized crop, colour jitter) works on 8-bit images, and "
                        "these are float32: give --augment crop-flip, flip or none, or uint8 images",
                        d->name);
  return 0;
}

long rt_data_unreadable(const rt_dataset *d) { return d->folder ? d->folder->unreadable : -1; }

int rt_data_check_unreadable(const rt_dataset *d, err_t *e) {
  const rt_folder *f = d->folder;
  if (!f || f->unreadable <= 10 || f->unreadable <= RT_FOLDER_MAX_SKIPPED * (double)f->staged) return 0;
  return err_set(e, "%s: %ld of %ld images staged failed to decode (one of them: %s); at most %g%% may: fix or remove them",
                 f->dir, f->unreadable, f->staged, f->first_unreadable, 100 * RT_FOLDER_MAX_SKIPPED);
}

int rt_data_write_classes(const rt_dataset *d, const char *dir, err_t *e) {
  if (!d->folder) return 0;
  size_t cap = 64, len = 0;
  for (int k = 0; k < d->folder->nclasses; k++) cap += strlen(rt_folder_class(d->folder, k)) + 16;
  char *text = malloc(cap), path[4200];
  if (!text) return err_set(e, "out of memory");
  for (int k = 0; k < d->folder->nclasses; k++)
    len += (size_t)snprintf(text + len, cap - len, "%d %s\n", k, rt_folder_class(d->folder, k));
  snprintf(path, sizeof path, "%s/classes.txt", dir);
  int rc = io_write_text(path, text, e);
  free(text);
  return rc;
}

/* Image IDX's pixels: a folder's decoded (the shorter side at least the
   data set's size: libjpeg's DCT scaling); an in-memory one's, in rows */
static int source(const rt_dataset *d, int idx, rt_image *im, err_t *e) {
  if (d->folder) return rt_image_read(rt_folder_path(d->folder, idx), d->c, d->resize, im, e);
  if (!d->images) return err_set(e, "%s: float32 images are not cut or jittered (rt_data_check_augment)", d->name);
  size_t hw = (size_t)d->h * d->w;
  const uint8_t *src = d->images + (size_t)idx * d->c * hw;
  *im = (rt_image){d->w, d->h, d->c, malloc(hw * (size_t)d->c)};
  if (!im->px) return err_set(e, "out of memory");
  for (size_t p = 0; p < hw; p++)
    for (int c = 0; c < d->c; c++) im->px[p * (size_t)d->c + c] = src[(size_t)c * hw + p];
  return 0;
}

int rt_data_prepare(const rt_dataset *d, int idx, const rt_augment *aug, const rt_augment_draw *dr, uint8_t *out) {
  err_t e = ERR_INIT;
  rt_image im;
  int S = d->h;
  if (d->folder) {
#pragma omp atomic
    d->folder->staged++;
  }
  if (source(d, idx, &im, &e) != 0) {
    long k = 0;
    if (d->folder) {
#pragma omp atomic capture
      k = ++d->folder->unreadable;
      if (k == 1) snprintf(d->folder->first_unreadable, sizeof d->folder->first_unreadable, "%s", rt_folder_path(d->folder, idx));
    }
    if (k <= 10)
      fprintf(stderr, "warning: %s (staged as zeros%s)\n", err_msg(&e), k == 10 ? "; no more such warnings" : "");
    err_clear(&e);
    memset(out, 0, (size_t)d->c * S * S);
    return 0;
  }
  if (aug && aug->resized_crop) {
    int x0, y0, bw, bh;
    rt_augment_box(dr, im.w, im.h, &x0, &y0, &bw, &bh);
    rt_image_crop_resize(&im, x0, y0, bw, bh, S, dr->flip, out);
  } else {
    rt_image_fit(&im, d->folder ? d->resize : S, S, out); /* an in-memory image: itself */
  }
  if (aug) rt_augment_jitter(aug, dr, out, d->c, S);
  rt_image_free(&im);
  return 1;
}

int rt_data_prepared(const rt_dataset *d, const rt_augment *aug) {
  return d->folder || (aug && (aug->resized_crop || aug->jitter[0] + aug->jitter[1] + aug->jitter[2] + aug->jitter[3] > 0));
}

/* The images IDX[0..n) prepared in parallel into [n, c, h, w]; OK[i]:
   whether image i could be read */
static uint8_t *prepare_batch(const rt_dataset *d, const int *idx, int n, const rt_augment *aug,
                              const rt_augment_draw *dr, uint8_t *ok) {
  size_t one = (size_t)d->c * d->h * d->w;
  uint8_t *px = malloc(one * (size_t)(n ? n : 1));
  if (!px) return NULL;
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n; i++) ok[i] = (uint8_t)rt_data_prepare(d, idx[i], aug, dr ? &dr[i] : NULL, px + one * (size_t)i);
  return px;
}

void rt_data_limit(rt_dataset *d, int n) {
  if (n <= 0 || n >= d->n) return;
  if (d->folder) /* its files are in class order: every (total / n)-th keeps every class */
    for (int i = 0; i < n; i++) {
      int k = (int)((long)i * d->n / n);
      d->folder->path[i] = d->folder->path[k];
      d->labels[i] = d->labels[k];
    }
  d->n = n;
}

/* an image folder: a sample of at most this many images, evenly spaced */
#define STATS_SAMPLE 1000

void rt_data_stats(const rt_dataset *d, float *mean, float *std) {
  size_t hw = (size_t)d->h * d->w;
  const uint8_t *images = d->images;
  int n = d->n;
  uint8_t *sample = NULL, *ok = NULL; /* a folder's sample, and which of it could be read */
  if (d->folder) {
    n = d->n < STATS_SAMPLE ? d->n : STATS_SAMPLE;
    int *idx = malloc(sizeof *idx * (size_t)n);
    ok = malloc((size_t)n + 1);
    for (int i = 0; idx && i < n; i++) idx[i] = (int)((long)i * d->n / n);
    images = sample = idx && ok ? prepare_batch(d, idx, n, NULL, NULL, ok) : NULL;
    free(idx);
    if (!sample) n = 0;
  }
  for (int c = 0; c < d->c; c++) {
    double s = 0, ss = 0;
    long used = 0;
    for (int i = 0; i < n; i++) {
      if (ok && !ok[i]) continue;
      const uint8_t *p = images ? images + ((size_t)i * d->c + c) * hw : NULL;
      const float *f = p ? NULL : d->fimages + ((size_t)i * d->c + c) * hw;
      for (size_t k = 0; k < hw; k++) {
        double v = p ? p[k] / 255.0 : f[k];
        s += v;
        ss += v * v;
      }
      used++;
    }
    double m = used ? s / ((double)used * hw) : 0.5, var = used ? ss / ((double)used * hw) - m * m : 0.25;
    mean[c] = (float)m;
    std[c] = (float)sqrt(var > 1e-12 ? var : 1e-12);
  }
  free(sample);
  free(ok);
}

void rt_data_normalise(const rt_dataset *d, const int *idx, int n, const uint8_t *px, const uint8_t *ok,
                       const rt_augment *aug, const rt_augment_draw *dr, const float *mean, const float *std, void *images,
                       size_t elem, int32_t *labels) {
  int H = d->h, W = d->w, C = d->c;
  size_t hw = (size_t)H * W;
  for (int i = 0; i < n; i++) labels[i] = d->labels[idx[i]];
  /* an 8-bit value's normalised float, per channel: the formula below, looked up */
  float lut[8][256];
  for (int c = 0; c < C && c < 8; c++)
    for (int k = 0; k < 256; k++) lut[c][k] = (float)((k / 255.0 - mean[c]) / std[c]);
#pragma omp parallel for schedule(static) if ((long)n * C * (long)hw > 100000)
  for (int i = 0; i < n; i++) {
    const uint8_t *src = px ? px + (size_t)i * C * hw : d->images ? d->images + (size_t)idx[i] * C * hw : NULL;
    const float *fsrc = src ? NULL : d->fimages + (size_t)idx[i] * C * hw;
    const rt_augment_draw *r = &dr[i];
    int flip = aug && !aug->resized_crop && r->flip, bad = px && !ok[i], half = aug ? aug->cutout / 2 : 0;
    if (src && !bad && !flip && r->dy == 0 && r->dx == 0 && r->cy < 0 && C <= 8 && elem == 4) {
      for (int c = 0; c < C; c++) { /* the image as it is: a plane at a time */
        float *o = (float *)images + ((size_t)c * n + i) * hw;
        const uint8_t *p = src + (size_t)c * hw;
        for (size_t k = 0; k < hw; k++) o[k] = lut[c][p[k]];
      }
      continue;
    }
    for (int c = 0; c < C; c++) {
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
          int sy = y + r->dy, sx = (flip ? W - 1 - x : x) + r->dx;
          /* padding of the random crop is zero before normalisation, as torchvision pads the image */
          size_t at = (size_t)c * hw + (size_t)sy * W + sx;
          double v = sy >= 0 && sy < H && sx >= 0 && sx < W ? (src ? src[at] / 255.0 : fsrc[at]) : 0.0;
          v = (v - mean[c]) / std[c];
          /* cutout as DARTS: the square [c - L/2, c + L/2) around a random centre, clipped; an
             unreadable image: zeros after normalising */
          if (bad || (r->cy >= 0 && y >= r->cy - half && y < r->cy + half && x >= r->cx - half && x < r->cx + half))
            v = 0;
          size_t o = (((size_t)c * n + i) * H + y) * W + x;
          if (elem == 8) ((double *)images)[o] = v;
          else ((float *)images)[o] = (float)v;
        }
    }
  }
}

/* "a,b,c" (or "imagenet": IMAGENET) into C values; FLAG names it in messages */
static int parse_values(const char *text, const float *imagenet, int c, const char *flag, int positive, float *out,
                        err_t *e) {
  if (strcmp(text, "imagenet") == 0) {
    if (c != 3)
      return err_set_code(e, ERR_USAGE, "%s imagenet: the images have %d channel%s, not 3", flag, c, c == 1 ? "" : "s");
    memcpy(out, imagenet, 3 * sizeof *out);
    return 0;
  }
  const char *p = text;
  int k = 0;
  for (; k < c; k++) {
    char *end;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v) || (positive && !(v > 0)))
      return err_set_code(e, ERR_USAGE, "%s %s: value %d is not a %snumber", flag, text, k + 1,
                          positive ? "positive " : "");
    out[k] = (float)v;
    p = end;
    if (k + 1 < c) {
      if (*p != ',') break;
      p++;
    }
  }
  if (k < c || *p)
    return err_set_code(e, ERR_USAGE, "%s %s: give %d comma-separated values (one a channel), or imagenet", flag, text,
                        c);
  return 0;
}

int rt_data_norm(const rt_dataset *d, const char *mean, const char *std, float *m, float *s, err_t *e) {
  static const float im_mean[3] = {0.485f, 0.456f, 0.406f}, im_std[3] = {0.229f, 0.224f, 0.225f};
  int has_m = mean && *mean, has_s = std && *std;
  if (!has_m && !has_s) {
    rt_data_stats(d, m, s);
    return 0;
  }
  if (!has_m || !has_s) return err_set_code(e, ERR_USAGE, "give --mean and --std together (or neither: the data's own)");
  if (d->c > 8) return err_set(e, "%d channels: at most 8 can be normalised", d->c);
  return parse_values(mean, im_mean, d->c, "--mean", 0, m, e) || parse_values(std, im_std, d->c, "--std", 1, s, e) ? -1
                                                                                                                    : 0;
}

void rt_data_batch(const rt_dataset *d, const int *idx, int n, const float *mean, const float *std,
                   const rt_augment *aug, rng_t *rng, void *images, size_t elem, int32_t *labels) {
  /* every image's draws first, in order: the same batch whatever decodes it */
  rt_augment_draw *dr = calloc((size_t)n + 1, sizeof *dr);
  uint8_t *ok = malloc((size_t)n + 1), *px = NULL;
  int need = rt_data_prepared(d, aug);
  if (dr && ok) {
    for (int i = 0; i < n; i++) rt_augment_draws(aug, rng, d->h, d->w, &dr[i]);
    if (need) px = prepare_batch(d, idx, n, aug, dr, ok);
  }
  if (!dr || !ok || (need && !px)) { /* no memory for the batch: staged as zeros, and counted */
    if (d->folder) d->folder->unreadable += n;
    memset(images, 0, elem * (size_t)d->c * n * d->h * d->w);
    for (int i = 0; i < n; i++) labels[i] = d->labels[idx[i]];
  } else {
    rt_data_normalise(d, idx, n, px, ok, aug, dr, mean, std, images, elem, labels);
  }
  free(px);
  free(dr);
  free(ok);
}
