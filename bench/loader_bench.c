/* The image-folder loader's throughput and memory.
 *
 *   loader_bench make DIR N W H      writes N JPEGs of W x H (quality 90: a
 *                                    smooth scene with noise, ~ImageNet's
 *                                    bytes per pixel) in 100 classes
 *   loader_bench run DIR S THREADS B [IMAGES [jitter]]
 *                                    stages batches of B from DIR at S px
 *                                    with random resized crops and flips
 *                                    (and the colour jitter of the imagenet
 *                                    recipe with "jitter") on THREADS
 *                                    threads, each batch prepared ahead as
 *                                    a search or training does, until
 *                                    IMAGES (default: all) are staged
 *   loader_bench index DIR           indexes DIR only
 *
 * `run` prints images/s, images/s per thread, and the peak RSS (the index,
 * the loader's batch and the normalised batch included). */
#include "imgwrite.h"
#include "rt_loader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long peak_rss_mb(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

static int make(const char *dir, int n, int w, int h) {
  mkdir(dir, 0755);
  uint8_t *px = malloc((size_t)w * h * 3);
  unsigned seed = 1;
  for (int i = 0; i < n; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/c%03d", dir, i % 100);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/c%03d/%07d.jpg", dir, i % 100, i);
    /* a smooth scene with noise: about ImageNet's bytes per pixel at quality 90 */
    double fx = 0.01 + 0.002 * (i % 13), fy = 0.015 + 0.003 * (i % 7);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        for (int k = 0; k < 3; k++) {
          seed = seed * 1103515245u + 12345u;
          double v = 128 + 70 * sin(fx * x * (k + 1) + fy * y) + 40 * cos(0.05 * (x + y) + i) + (int)(seed >> 27) - 16;
          px[((size_t)y * w + x) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    if (iw_jpeg(path, px, w, h, 3, 90) != 0) {
      perror(path);
      return 1;
    }
  }
  free(px);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "make") == 0) return make(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  err_t e = ERR_INIT;
  char spec[4200];
  if (argc >= 3 && strcmp(argv[1], "index") == 0) {
    snprintf(spec, sizeof spec, "folder:%s", argv[2]);
    rt_dataset d;
    double t0 = now();
    if (rt_data_open(&d, spec, RT_SPLIT_TRAIN, &e) != 0) {
      fprintf(stderr, "%s\n", err_msg(&e));
      return 1;
    }
    printf("indexed %d images in %.2f s; peak RSS %ld MB\n", d.n, now() - t0, peak_rss_mb());
    rt_data_free(&d);
    return 0;
  }
  if (argc < 6 || strcmp(argv[1], "run") != 0) {
    fprintf(stderr, "usage: loader_bench make DIR N W H | run DIR S THREADS B [IMAGES] | index DIR\n");
    return 2;
  }
  int S = atoi(argv[3]), threads = atoi(argv[4]), B = atoi(argv[5]);
  snprintf(spec, sizeof spec, "folder:%s", argv[2]);
  rt_dataset d;
  if (rt_data_open(&d, spec, RT_SPLIT_TRAIN, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return 1;
  }
  long total = argc > 6 ? atol(argv[6]) : d.n;
  rt_data_fit(&d, 3, S);
  rt_augment a;
  rt_loader *l;
  if (rt_augment_for("imagenet", spec, S, &a, &e) != 0 || rt_loader_open(&l, threads, 1, &e) != 0) {
    fprintf(stderr, "%s\n", err_msg(&e));
    return 1;
  }
  int jitter = argc > 7 && strcmp(argv[7], "jitter") == 0;
  if (!jitter) memset(a.jitter, 0, sizeof a.jitter);
  float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  float *images = malloc(sizeof(float) * 3 * (size_t)S * S * (size_t)B);
  int32_t *labels = malloc(sizeof(int32_t) * (size_t)B);
  int *order = malloc(sizeof(int) * (size_t)d.n);
  rng_t r;
  rng_seed(&r, 1);
  for (int i = 0; i < d.n; i++) order[i] = i;
  rng_shuffle(&r, order, d.n);
  long staged = 0;
  double t0 = now();
  for (int at = 0; staged < total; at = (at + B) % (d.n - B + 1)) {
    rt_loader_batch(l, &d, order + at, B, mean, std, &a, &r, images, 4, labels);
    staged += B;
    int next = (at + B) % (d.n - B + 1);
    if (staged < total) rt_loader_ahead(l, &d, order + next, B, &a, &r);
  }
  double secs = now() - t0;
  printf("%ld images at %d px (decode, random resized crop, flip%s) on %d threads: %.0f images/s, %.0f per thread; "
         "peak RSS %ld MB (%d files indexed)\n",
         staged, S, jitter ? ", colour jitter" : "", threads, staged / secs, staged / secs / threads, peak_rss_mb(), d.n);
  rt_loader_close(l);
  rt_data_free(&d);
  free(images);
  free(labels);
  free(order);
  return 0;
}
