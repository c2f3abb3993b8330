/* Writes an image folder from Fashion-MNIST for the tests:
 *
 *   mkfolder OUT N [--splits]
 *
 * OUT/<class>/NNNNN.{png,jpg}, the first N training images (with --splits:
 * OUT/train/<class>/... and, from the test set, N/4 images in OUT/val/),
 * class directories named by Fashion-MNIST's class names.  The files
 * rotate through the forms a user's folder holds: grayscale PNG, RGB PNG
 * (the gray value tinted), RGBA PNG, grayscale JPEG, RGB JPEG, CMYK JPEG
 * (Adobe's inverted form), and some at twice the size.  The first training
 * class also holds a corrupt JPEG (the right first bytes, then garbage), a
 * text file named .png, and a README.txt. */
#include "imgwrite.h"
#include "rt_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void die(const char *what, const char *path) {
  fprintf(stderr, "mkfolder: %s %s\n", what, path);
  exit(1);
}

static void write_png(const char *path, const uint8_t *px, int w, int h, int channels) {
  if (iw_png(path, px, w, h, channels) != 0) die("cannot write", path);
}

static void write_jpeg(const char *path, const uint8_t *px, int w, int h, int comps) {
  if (iw_jpeg(path, px, w, h, comps, 95) != 0) die("cannot write", path);
}

/* image I (gray, side s) in form I % 7, at twice the size when I % 5 == 4 */
static void write_image(const char *dir, int i, const uint8_t *gray, int s) {
  int k = i % 5 == 4 ? 2 : 1, S = s * k;
  uint8_t *g = malloc((size_t)S * S), *rgb = malloc((size_t)S * S * 4);
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++) g[y * S + x] = gray[(y / k) * s + x / k];
  char path[4200];
  int form = i % 7;
  for (int p = 0; p < S * S; p++) { /* a tint, so that the channels differ */
    rgb[4 * p] = g[p], rgb[4 * p + 1] = (uint8_t)(g[p] * 3 / 4), rgb[4 * p + 2] = (uint8_t)(255 - g[p]), rgb[4 * p + 3] = 255;
  }
  if (form <= 2) {
    snprintf(path, sizeof path, "%s/%05d.png", dir, i);
    if (form == 0) write_png(path, g, S, S, 1);
    else if (form == 2) write_png(path, rgb, S, S, 4);
    else {
      for (int p = 0; p < S * S; p++) memmove(rgb + 3 * p, rgb + 4 * p, 3);
      write_png(path, rgb, S, S, 3);
    }
  } else {
    snprintf(path, sizeof path, "%s/%05d.%s", dir, i, form == 4 ? "JPEG" : "jpg");
    if (form == 3 || form == 6) write_jpeg(path, g, S, S, 1);
    else if (form == 5) write_jpeg(path, rgb, S, S, 4); /* inverted: (r, g, b, 255) is RGB (r, g, b) */
    else {
      for (int p = 0; p < S * S; p++) memmove(rgb + 3 * p, rgb + 4 * p, 3);
      write_jpeg(path, rgb, S, S, 3);
    }
  }
  free(g);
  free(rgb);
}

/* OUT/NAME, a '/' in the name (T-shirt/top) written '_' */
static void class_dir(char *dir, size_t cap, const char *out, const char *name) {
  size_t at = (size_t)snprintf(dir, cap, "%s/", out);
  snprintf(dir + at, cap - at, "%s", name);
  for (char *p = dir + at; (p = strchr(p, '/'));) *p = '_';
}

static void write_set(const char *out, rt_split split, int n, int extras) {
  err_t e = ERR_INIT;
  rt_dataset d;
  if (rt_data_open(&d, "fashion-mnist", split, &e) != 0) die(err_msg(&e), "");
  const char *const *names = rt_data_class_names("fashion-mnist", 10);
  char dir[4200];
  mkdir(out, 0755);
  for (int c = 0; c < 10; c++) {
    class_dir(dir, sizeof dir, out, names[c]);
    mkdir(dir, 0755);
  }
  for (int i = 0; i < n && i < d.n; i++) {
    class_dir(dir, sizeof dir, out, names[d.labels[i]]);
    write_image(dir, i, d.images + (size_t)i * d.h * d.w, d.w);
  }
  if (extras) {
    class_dir(dir, sizeof dir, out, names[0]);
    char path[4300];
    snprintf(path, sizeof path, "%s/corrupt.jpg", dir);
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write", path);
    fputs("\xff\xd8\xff\xe0 this is not the rest of a JPEG file", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/notes.png", dir);
    if (!(f = fopen(path, "w"))) die("cannot write", path);
    fputs("a text file with an image's name\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/README.txt", dir);
    if (!(f = fopen(path, "w"))) die("cannot write", path);
    fputs("not an image\n", f);
    fclose(f);
  }
  rt_data_free(&d);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mkfolder OUT N [--splits]\n");
    return 2;
  }
  int n = atoi(argv[2]), splits = argc > 3 && strcmp(argv[3], "--splits") == 0;
  if (!splits) {
    write_set(argv[1], RT_SPLIT_TRAIN, n, 1);
    return 0;
  }
  char a[4200];
  mkdir(argv[1], 0755);
  snprintf(a, sizeof a, "%s/train", argv[1]);
  write_set(a, RT_SPLIT_TRAIN, n, 1);
  snprintf(a, sizeof a, "%s/val", argv[1]);
  write_set(a, RT_SPLIT_TEST, n / 4, 0);
  return 0;
}
