/* Image files and folders: PNG decodes exactly (gray, RGB, RGBA with its
 * alpha dropped, RGB to gray by PIL's fixed-point L = 0.299 R + 0.587 G +
 * 0.114 B);
 * JPEG within its compression's error (gray, RGB, Adobe's inverted CMYK),
 * and at the DCT scale asked for; resampling against values worked out by
 * hand from PIL's bilinear filter; the augmentation recipes, their random
 * resized crop and colour jitter against torchvision's arithmetic worked
 * out by hand, and a batch that does not depend on the threads decoding
 * it; a folder's index (classes in byte order,
 * nested directories, files skipped and ignored, the test split); a corrupt
 * file staged as the mean image and counted. */
#include "imgwrite.h"
#include "rt_augment.h"
#include "rt_data.h"
#include "rt_folder.h"
#include "rt_image.h"
#include "rt_loader.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>
#include <omp.h>

static char dir[64];

static const char *path_of(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

/* a test pattern: channel c of pixel (x, y) */
static uint8_t pattern(int x, int y, int c) { return (uint8_t)((x * 37 + y * 11 + c * 85) % 256); }

static void write_png(const char *name, int w, int h, int channels) {
  uint8_t *px = malloc((size_t)w * h * channels);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < channels; c++) px[((size_t)y * w + x) * channels + c] = pattern(x, y, c);
  assert_int_equal(iw_png(path_of(name), px, w, h, channels), 0);
  free(px);
}

/* smooth, so that JPEG keeps it well */
static uint8_t smooth(int x, int y, int c) { return (uint8_t)(64 + x * 2 + y + c * 30); }

/* CMYK (4 components): (r, g, b, 255) as Adobe stores RGB (r, g, b) */
static void write_jpeg(const char *name, int w, int h, int comps) {
  uint8_t *px = malloc((size_t)w * h * comps);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int k = 0; k < comps; k++) px[((size_t)y * w + x) * comps + k] = comps == 4 && k == 3 ? 255 : smooth(x, y, k);
  assert_int_equal(iw_jpeg(path_of(name), px, w, h, comps, 98), 0);
  free(px);
}

static void test_png_exact(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  rt_image im;
  write_png("g.png", 5, 3, 1);
  write_png("rgb.png", 5, 3, 3);
  write_png("rgba.png", 5, 3, 4);
  assert_int_equal(rt_image_read(path_of("g.png"), 1, 0, &im, &e), 0);
  assert_true(im.w == 5 && im.h == 3 && im.c == 1);
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 5; x++) assert_int_equal(im.px[y * 5 + x], pattern(x, y, 0));
  rt_image_free(&im);
  /* gray to RGB: the value thrice */
  assert_int_equal(rt_image_read(path_of("g.png"), 3, 0, &im, &e), 0);
  for (int k = 0; k < 3; k++) assert_int_equal(im.px[(2 * 5 + 4) * 3 + k], pattern(4, 2, 0));
  rt_image_free(&im);
  for (int a = 0; a < 2; a++) {
    const char *name = a ? "rgba.png" : "rgb.png";
    assert_int_equal(rt_image_read(path_of(name), 3, 0, &im, &e), 0);
    for (int y = 0; y < 3; y++)
      for (int x = 0; x < 5; x++)
        for (int c = 0; c < 3; c++) assert_int_equal(im.px[(y * 5 + x) * 3 + c], pattern(x, y, c));
    rt_image_free(&im);
    assert_int_equal(rt_image_read(path_of(name), 1, 0, &im, &e), 0);
    for (int y = 0; y < 3; y++)
      for (int x = 0; x < 5; x++) {
        int l = (pattern(x, y, 0) * 19595 + pattern(x, y, 1) * 38470 + pattern(x, y, 2) * 7471 + 0x8000) >> 16;
        assert_int_equal(im.px[y * 5 + x], l);
      }
    rt_image_free(&im);
  }
}

/* the largest difference from the smooth pattern */
static int jpeg_error(const rt_image *im, int gray_of_rgb) {
  int worst = 0;
  for (int y = 0; y < im->h; y++)
    for (int x = 0; x < im->w; x++)
      for (int c = 0; c < im->c; c++) {
        int want = gray_of_rgb ? (smooth(x, y, 0) * 19595 + smooth(x, y, 1) * 38470 + smooth(x, y, 2) * 7471 + 0x8000) >> 16
                               : smooth(x, y, c);
        int d = abs(im->px[(y * im->w + x) * im->c + c] - want);
        if (d > worst) worst = d;
      }
  return worst;
}

static void test_jpeg_forms(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  rt_image im;
  write_jpeg("g.jpg", 40, 24, 1);
  write_jpeg("rgb.jpg", 40, 24, 3);
  write_jpeg("cmyk.jpg", 40, 24, 4);
  assert_int_equal(rt_image_read(path_of("g.jpg"), 1, 0, &im, &e), 0);
  assert_true(im.w == 40 && im.h == 24);
  assert_in_range(jpeg_error(&im, 0), 0, 3);
  rt_image_free(&im);
  assert_int_equal(rt_image_read(path_of("rgb.jpg"), 3, 0, &im, &e), 0);
  assert_in_range(jpeg_error(&im, 0), 0, 6); /* chroma subsampled */
  rt_image_free(&im);
  assert_int_equal(rt_image_read(path_of("rgb.jpg"), 1, 0, &im, &e), 0);
  assert_in_range(jpeg_error(&im, 1), 0, 3);
  rt_image_free(&im);
  /* Adobe's inverted CMYK: (r, g, b, 255) stored is RGB (r, g, b) */
  assert_int_equal(rt_image_read(path_of("cmyk.jpg"), 3, 0, &im, &e), 0);
  assert_in_range(jpeg_error(&im, 0), 0, 6);
  rt_image_free(&im);
  assert_int_equal(rt_image_read(path_of("cmyk.jpg"), 1, 0, &im, &e), 0);
  assert_in_range(jpeg_error(&im, 1), 0, 6);
  rt_image_free(&im);
  /* DCT scaling: the smallest k/8 keeping the shorter side >= 12: 2/8 */
  assert_int_equal(rt_image_read(path_of("rgb.jpg"), 3, 12, &im, &e), 0);
  assert_int_equal(im.h, 12);
  assert_int_equal(im.w, 20);
  rt_image_free(&im);
  assert_int_equal(rt_image_read(path_of("rgb.jpg"), 3, 13, &im, &e), 0);
  assert_int_equal(im.h, 15); /* 5/8 */
  assert_int_equal(im.w, 25);
  rt_image_free(&im);
}

static void test_bad_files_named(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  rt_image im;
  FILE *f = fopen(path_of("bad.jpg"), "wb");
  fputs("\xff\xd8\xff\xe0 not the rest of a JPEG", f);
  fclose(f);
  assert_int_equal(rt_image_read(path_of("bad.jpg"), 3, 0, &im, &e), -1);
  assert_non_null(strstr(err_msg(&e), "bad.jpg: not a readable JPEG"));
  err_clear(&e);
  f = fopen(path_of("text.png"), "w");
  fputs("hello", f);
  fclose(f);
  assert_int_equal(rt_image_read(path_of("text.png"), 3, 0, &im, &e), -1);
  assert_non_null(strstr(err_msg(&e), "text.png: neither a JPEG nor a PNG"));
  err_clear(&e);
  /* a PNG cut short */
  write_png("cut.png", 64, 64, 3);
  struct stat st;
  assert_int_equal(stat(path_of("cut.png"), &st), 0);
  assert_int_equal(truncate(path_of("cut.png"), st.st_size / 2), 0);
  assert_int_equal(rt_image_read(path_of("cut.png"), 3, 0, &im, &e), -1);
  assert_non_null(strstr(err_msg(&e), "cut.png: not a readable PNG"));
  err_clear(&e);
}

/* PIL's bilinear resize of the row [0, 100, 200, 100] to 2 pixels: centres
   1 and 3, the triangle widened to 2 pixels, weights (3, 3, 1) / 7 and
   (1, 3, 3) / 7: 500 / 7 = 71.4 and 1000 / 7 = 142.9 */
static void test_resample_by_hand(void **state) {
  (void)state;
  uint8_t px[16], out[4];
  for (int y = 0; y < 4; y++) px[y * 4] = 0, px[y * 4 + 1] = 100, px[y * 4 + 2] = 200, px[y * 4 + 3] = 100;
  rt_image im = {4, 4, 1, px};
  rt_image_crop_resize(&im, 0, 0, 4, 4, 2, 0, out);
  assert_int_equal(out[0], 71);
  assert_int_equal(out[1], 143);
  assert_int_equal(out[2], 71);
  assert_int_equal(out[3], 143);
  rt_image_crop_resize(&im, 0, 0, 4, 4, 2, 1, out); /* flipped */
  assert_int_equal(out[0], 143);
  assert_int_equal(out[1], 71);
  /* the identity box: the pixels themselves; a 2 x 2 box at (1, 1) too */
  uint8_t same[16];
  rt_image_crop_resize(&im, 0, 0, 4, 4, 4, 0, same);
  assert_memory_equal(same, px, 16);
  rt_image_crop_resize(&im, 1, 1, 2, 2, 2, 0, out);
  assert_int_equal(out[0], 100);
  assert_int_equal(out[1], 200);
  /* fit: a 4 x 2 image to 2: the shorter side is 2 already, the centre
     columns 1 and 2 kept (torchvision's CenterCrop: round((4 - 2) / 2)) */
  uint8_t wide[8] = {1, 2, 3, 4, 5, 6, 7, 8}, fit[4];
  rt_image w = {4, 2, 1, wide};
  rt_image_fit(&w, 2, 2, fit);
  assert_int_equal(fit[0], 2);
  assert_int_equal(fit[1], 3);
  assert_int_equal(fit[2], 6);
  assert_int_equal(fit[3], 7);
  /* RGB planes out: channel-major */
  uint8_t rgb[2 * 2 * 3] = {10, 20, 30, 11, 21, 31, 12, 22, 32, 13, 23, 33}, planes[12];
  rt_image c3 = {2, 2, 3, rgb};
  rt_image_fit(&c3, 2, 2, planes);
  const uint8_t want[12] = {10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33};
  assert_memory_equal(planes, want, 12);
  /* Resize(4) then CenterCrop(2) of the 4 x 2 image: of the 8 x 4 resize,
     columns 3..4 and rows 1..2; by hand: the rows resampled to 2.25 2.75
     (-> 2 3) and 6.25 6.75 (-> 6 7), then the columns at weights 3/4 1/4
     and 1/4 3/4: 3 4 / 5 6 */
  uint8_t centre[4];
  rt_image_fit(&w, 4, 2, centre);
  const uint8_t want_centre[4] = {3, 4, 5, 6};
  assert_memory_equal(centre, want_centre, 4);
}

static void touch(const char *name, const char *text) {
  FILE *f = fopen(path_of(name), "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* classes in byte order, images below them at any depth in sorted order,
   a text file named .png skipped, other files ignored */
static void test_folder_index(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  const char *dirs[] = {"f", "f/b", "f/a", "f/a/deep", "f/B", "f/empty"};
  for (int i = 0; i < 6; i++) assert_int_equal(mkdir(path_of(dirs[i]), 0755), 0);
  write_png("f/b/1.png", 3, 3, 1);
  write_png("f/a/deep/0.PNG", 3, 3, 3);
  write_jpeg("f/a/z.jpeg", 8, 8, 1);
  write_jpeg("f/B/x.jpg", 8, 8, 3);
  touch("f/a/notes.png", "text");
  touch("f/a/README", "text");
  touch("f/loose.txt", "text");
  rt_folder f;
  assert_int_equal(rt_folder_open(&f, path_of("f"), 0, 0, &e), 0);
  assert_int_equal(f.nclasses, 4);
  assert_string_equal(rt_folder_class(&f, 0), "B");
  assert_string_equal(rt_folder_class(&f, 1), "a");
  assert_string_equal(rt_folder_class(&f, 2), "b");
  assert_string_equal(rt_folder_class(&f, 3), "empty");
  assert_int_equal(f.n, 4);
  const char *want[] = {"f/B/x.jpg", "f/a/deep/0.PNG", "f/a/z.jpeg", "f/b/1.png"};
  const int labels[] = {0, 1, 1, 2};
  for (int i = 0; i < 4; i++) {
    assert_string_equal(rt_folder_path(&f, i), path_of(want[i]));
    assert_int_equal(f.labels[i], labels[i]);
  }
  assert_int_equal(f.skipped, 1);
  assert_non_null(strstr(f.first_skipped, "notes.png"));
  assert_int_equal(f.ignored, 2);
  assert_false(f.cached);
  rt_folder_free(&f);
  /* again: the same index, from f/.parsec-index */
  assert_int_equal(rt_folder_open(&f, path_of("f"), 0, 0, &e), 0);
  assert_true(f.cached && f.n == 4 && f.nclasses == 4 && f.skipped == 1 && f.ignored == 2);
  for (int i = 0; i < 4; i++) {
    assert_string_equal(rt_folder_path(&f, i), path_of(want[i]));
    assert_int_equal(f.labels[i], labels[i]);
  }
  assert_string_equal(rt_folder_class(&f, 1), "a");
  assert_non_null(strstr(f.first_skipped, "notes.png"));
  rt_folder_free(&f);
  /* an image added deep down changes its directory: indexed again */
  write_png("f/a/deep/1.png", 3, 3, 1);
  assert_int_equal(rt_folder_open(&f, path_of("f"), 0, 0, &e), 0);
  assert_true(!f.cached && f.n == 5);
  assert_string_equal(rt_folder_path(&f, 2), path_of("f/a/deep/1.png"));
  rt_folder_free(&f);
  /* a class added: again */
  assert_int_equal(mkdir(path_of("f/c"), 0755), 0);
  write_png("f/c/2.png", 3, 3, 1);
  assert_int_equal(rt_folder_open(&f, path_of("f"), 0, 0, &e), 0);
  assert_true(!f.cached && f.n == 6 && f.nclasses == 5);
  rt_folder_free(&f);
  /* a damaged index: built again, never trusted */
  FILE *ix = fopen(path_of("f/.parsec-index"), "a");
  assert_non_null(ix);
  fputs("I 99 ../../etc/passwd\n", ix);
  fclose(ix);
  assert_int_equal(rt_folder_open(&f, path_of("f"), 0, 0, &e), 0);
  assert_true(!f.cached && f.n == 6);
  rt_folder_free(&f);
  /* no val/: no test split, said with what to do */
  assert_int_equal(rt_folder_open(&f, path_of("f"), 1, 0, &e), -1);
  assert_non_null(strstr(err_msg(&e), "has no test split"));
  err_clear(&e);
  assert_int_equal(rt_folder_open(&f, path_of("f/empty"), 0, 0, &e), -1);
  assert_non_null(strstr(err_msg(&e), "no class directories"));
  err_clear(&e);
}

/* a folder data set: the network's shape, a batch decoded, the corrupt
   file staged as the mean (0 after normalising) and counted */
static void test_folder_batch(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  assert_int_equal(mkdir(path_of("g"), 0755), 0);
  assert_int_equal(mkdir(path_of("g/train"), 0755), 0);
  assert_int_equal(mkdir(path_of("g/val"), 0755), 0);
  assert_int_equal(mkdir(path_of("g/train/one"), 0755), 0);
  assert_int_equal(mkdir(path_of("g/val/one"), 0755), 0);
  write_png("g/train/one/a.png", 6, 6, 1);
  touch("g/train/one/b.jpg", "\xff\xd8\xff\xe0 garbage");
  write_png("g/val/one/c.png", 6, 6, 1);
  char spec[128];
  snprintf(spec, sizeof spec, "folder:%s", path_of("g"));
  assert_true(rt_data_has_test(spec));
  rt_dataset d;
  assert_int_equal(rt_data_open(&d, spec, RT_SPLIT_TRAIN, &e), 0);
  assert_int_equal(d.n, 2);
  assert_int_equal(d.classes, 1);
  assert_int_equal(rt_data_unreadable(&d), 0);
  rt_data_fit(&d, 1, 6);
  float mean = 0.25f, std = 0.5f, img[2 * 36];
  int idx[2] = {0, 1};
  int32_t lab[2];
  rt_data_batch(&d, idx, 2, &mean, &std, NULL, NULL, img, 4, lab);
  assert_int_equal(rt_data_unreadable(&d), 1);
  for (int p = 0; p < 36; p++) {
    assert_float_equal(img[p], (pattern(p % 6, p / 6, 0) / 255.0 - mean) / std, 1e-5);
    assert_float_equal(img[36 + p], 0, 0);
  }
  assert_int_equal(rt_data_check_unreadable(&d, &e), 0); /* 1 of 2: under the 10 always allowed */
  rt_data_free(&d);
  assert_int_equal(rt_data_open(&d, spec, RT_SPLIT_TEST, &e), 0);
  assert_int_equal(d.n, 1);
  rt_data_free(&d);
  /* 11 corrupt JPEGs of 12: more than the cap, an error naming the first */
  assert_int_equal(mkdir(path_of("k"), 0755), 0);
  assert_int_equal(mkdir(path_of("k/c"), 0755), 0);
  write_png("k/c/00.png", 6, 6, 1);
  for (int i = 1; i < 12; i++) {
    char name[64];
    snprintf(name, sizeof name, "k/c/%02d.jpg", i);
    touch(name, "\xff\xd8\xff\xe0 garbage");
  }
  snprintf(spec, sizeof spec, "folder:%s", path_of("k"));
  assert_int_equal(rt_data_open(&d, spec, RT_SPLIT_TRAIN, &e), 0);
  rt_data_fit(&d, 1, 6);
  int all[12];
  float many[12 * 36];
  int32_t labs[12];
  for (int i = 0; i < 12; i++) all[i] = i;
  rt_data_batch(&d, all, 12, &mean, &std, NULL, NULL, many, 4, labs);
  assert_int_equal(rt_data_check_unreadable(&d, &e), -1);
  assert_non_null(strstr(err_msg(&e), "11 of 12 images staged failed to decode (one of them: "));
  assert_non_null(strstr(err_msg(&e), ".jpg); at most 1% may"));
  err_clear(&e);
  rt_data_free(&d);
}

/* the recipes by name and by data set */
static void test_augment_recipes(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  rt_augment a;
  assert_int_equal(rt_augment_for(NULL, "cifar10:x", 32, &a, &e), 0);
  assert_true(a.crop_pad == 4 && a.flip && !a.resized_crop && a.jitter[0] == 0);
  assert_int_equal(rt_augment_for("auto", "folder:x", 224, &a, &e), 0);
  assert_true(a.resized_crop && a.flip && !a.crop_pad);
  assert_float_equal(a.jitter[0], 0.4, 1e-6);
  assert_float_equal(a.jitter[3], 0.2, 1e-6);
  assert_int_equal(rt_augment_for("", "folder:x", 28, &a, &e), 0);
  assert_true(a.crop_pad == 3 && a.flip && !a.resized_crop);
  assert_int_equal(rt_augment_for(NULL, "fashion-mnist", 28, &a, &e), 0);
  assert_true(!a.crop_pad && !a.flip && !a.resized_crop);
  assert_int_equal(rt_augment_for("imagenet", "npy:a,b", 28, &a, &e), 0);
  assert_true(a.resized_crop);
  assert_int_equal(rt_augment_for("rotate", "npy:a,b", 28, &a, &e), -1);
  assert_non_null(strstr(err_msg(&e), "--augment rotate: unknown; use one of auto|none|flip|crop-flip|imagenet"));
  err_clear(&e);
}

/* RandomResizedCrop's box, worked out by hand from torchvision's get_params */
static void test_resized_crop_box(void **state) {
  (void)state;
  rt_augment_draw d;
  memset(&d, 0, sizeof d);
  int x0, y0, w, h;
  /* try 1: area 5000 x (0.08 + 0.92 x 0.5) = 2700, ratio 1: 52 x 52 does not fit a
     height of 50; try 2: area 400, ratio 1: 20 x 20 at top 0, left int(0.999 x 81) */
  double tries[8] = {0.5, 0.5, 0, 0, 0, 0.5, 0, 0.999};
  memcpy(d.rrc, tries, sizeof tries);
  for (int t = 2; t < 10; t++) d.rrc[4 * t] = 1; /* never reached */
  rt_augment_box(&d, 100, 50, &x0, &y0, &w, &h);
  assert_true(x0 == 80 && y0 == 0 && w == 20 && h == 20);
  /* every try the whole area, ratio 1: 70.7 x 70.7 never fits 100 x 50; the
     centre crop within the ratios: 67 x 50 (4/3), left (100 - 67) / 2 */
  for (int t = 0; t < 10; t++) d.rrc[4 * t] = 0.9999999, d.rrc[4 * t + 1] = 0.5;
  rt_augment_box(&d, 100, 50, &x0, &y0, &w, &h);
  assert_true(x0 == 16 && y0 == 0 && w == 67 && h == 50);
}

/* ColorJitter's steps on single pixels, against PIL's arithmetic */
static void test_jitter_steps(void **state) {
  (void)state;
  rt_augment a = {0};
  rt_augment_draw d;
  memset(&d, 0, sizeof d);
  uint8_t px[6] = {200, 10, 40, 100, 250, 30}; /* two RGB pixels, planar */
  int perm[4] = {0, 1, 2, 3};
  memcpy(d.perm, perm, sizeof perm);
  d.factor[0] = 0.5f, d.factor[1] = d.factor[2] = 1, d.factor[3] = 0;
  a.jitter[0] = 0.4f; /* brightness alone: x 0.5, truncated */
  rt_augment_jitter(&a, &d, px, 3, 1);
  assert_int_equal(px[0], 100);
  a.jitter[0] = 0, a.jitter[2] = 0.4f, d.factor[2] = 0; /* saturation 0: PIL's L in all channels */
  uint8_t q[3] = {255, 0, 0};
  rt_augment_jitter(&a, &d, q, 3, 1);
  assert_true(q[0] == 76 && q[1] == 76 && q[2] == 76); /* 0.299 x 255 rounded */
  a.jitter[2] = 0, a.jitter[3] = 0.5f, d.factor[3] = 0.5f; /* hue + 127 of pure red: h 127 -> (0, 255, 252) */
  uint8_t r[3] = {255, 0, 0};
  rt_augment_jitter(&a, &d, r, 3, 1);
  assert_true(r[0] == 0 && r[1] == 255 && r[2] == 252);
  a.jitter[3] = 0, a.jitter[1] = 0.4f, d.factor[1] = 0; /* contrast 0: the mean of L everywhere */
  uint8_t g[2] = {10, 31};
  rt_augment_jitter(&a, &d, g, 1, 1); /* a 1 x 1 gray image: itself */
  assert_int_equal(g[0], 10);
}

/* the imagenet recipe on in-memory images: the same batch on 1 thread and on 2 */
static void test_augmented_batch_thread_independent(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  uint8_t img[4 * 3 * 16 * 16];
  for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(i * 7 % 251);
  int32_t lab[4] = {0, 1, 2, 3};
  rt_dataset d = {.n = 4, .c = 3, .h = 16, .w = 16, .classes = 4, .images = img, .labels = lab};
  rt_augment a;
  assert_int_equal(rt_augment_for("imagenet", "npy:a,b", 16, &a, &e), 0);
  a.cutout = 4;
  float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.25f, 0.25f, 0.25f}, out[2][4 * 3 * 256];
  int idx[4] = {3, 1, 0, 2};
  int32_t got[4];
  for (int k = 0; k < 2; k++) {
    omp_set_num_threads(k + 1);
    rng_t r;
    rng_seed(&r, 42);
    rt_data_batch(&d, idx, 4, mean, std, &a, &r, out[k], 4, got);
  }
  omp_set_num_threads(2);
  assert_memory_equal(out[0], out[1], sizeof out[0]);
  assert_int_equal(got[0], 3);
  /* and it is not the images themselves */
  int same = 1;
  for (int p = 0; p < 256 && same; p++) same = fabsf(out[0][p] - ((float)img[3 * 768 + p] / 255 - 0.5f) / 0.25f) < 1e-5f;
  assert_false(same);
}

/* Batches through the loader, prepared ahead (hits), ahead of the wrong
   batch (dropped), or not at all, equal rt_data_batch's, and leave the
   generator where it leaves it */
static void test_loader_equals_plain_batches(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  assert_int_equal(mkdir(path_of("h"), 0755), 0);
  const char *cls[3] = {"h/a", "h/b", "h/c"};
  for (int k = 0; k < 3; k++) assert_int_equal(mkdir(path_of(cls[k]), 0755), 0);
  for (int i = 0; i < 12; i++) {
    char name[64];
    snprintf(name, sizeof name, "%s/%02d.%s", cls[i % 3], i, i % 2 ? "png" : "jpg");
    if (i % 2) write_png(name, 20 + i, 17, 3);
    else write_jpeg(name, 30, 18 + i, 3);
  }
  char spec[128];
  snprintf(spec, sizeof spec, "folder:%s", path_of("h"));
  rt_dataset d;
  assert_int_equal(rt_data_open(&d, spec, RT_SPLIT_TRAIN, &e), 0);
  rt_data_fit(&d, 3, 12);
  rt_augment a;
  assert_int_equal(rt_augment_for("imagenet", spec, 12, &a, &e), 0);
  rt_loader *l;
  assert_int_equal(rt_loader_open(&l, 2, 1, &e), 0);
  float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.2f, 0.25f, 0.3f};
  static float want[4 * 3 * 144], got[4 * 3 * 144];
  int32_t wl[4], gl[4];
  const int batches[4][4] = {{0, 5, 7, 11}, {3, 2, 1, 9}, {4, 8, 10, 6}, {11, 0, 2, 4}};
  rng_t plain, r;
  rng_seed(&plain, 9);
  rng_seed(&r, 9);
  for (int b = 0; b < 4; b++) {
    rt_data_batch(&d, batches[b], 4, mean, std, &a, &plain, want, 4, wl);
    rt_loader_batch(l, &d, batches[b], 4, mean, std, &a, &r, got, 4, gl);
    assert_memory_equal(want, got, sizeof want);
    assert_memory_equal(wl, gl, sizeof wl);
    assert_memory_equal(&plain, &r, sizeof r);
    /* ahead: the next batch, except before batch 3, a batch never asked for */
    if (b < 3) rt_loader_ahead(l, &d, b == 1 ? batches[0] : batches[b + 1], 4, &a, &r);
  }
  long ahead, all;
  rt_loader_counts(l, &ahead, &all);
  assert_int_equal(all, 4);
  assert_int_equal(ahead, 2); /* batches 1 and 3 came ready; 2 did not */
  /* what it holds: one batch of 4 images of 3 x 12 x 12 bytes, with their
     indices and draws, however many batches went through it */
  assert_int_equal(rt_loader_bytes(l), 4 * (3 * 12 * 12 + sizeof(int) + sizeof(rt_augment_draw) + 1));
  rt_loader_close(l);
  rt_data_free(&d);
}

/* the normalisation given: per channel, imagenet's, or refused with the flag */
static void test_given_normalisation(void **state) {
  (void)state;
  err_t e = ERR_INIT;
  rt_dataset d = {.c = 3};
  float m[8], s[8];
  assert_int_equal(rt_data_norm(&d, "0.5,0.25,1", "1,2,0.5", m, s, &e), 0);
  assert_true(m[0] == 0.5f && m[1] == 0.25f && m[2] == 1 && s[0] == 1 && s[1] == 2 && s[2] == 0.5f);
  assert_int_equal(rt_data_norm(&d, "imagenet", "imagenet", m, s, &e), 0);
  assert_float_equal(m[0], 0.485, 1e-6);
  assert_float_equal(s[2], 0.225, 1e-6);
  const struct {
    const char *mean, *std, *needle;
  } bad[] = {{"0.5", "1,1,1", "--mean 0.5: give 3 comma-separated values"},
             {"0.5,0.5,0.5,0.5", "1,1,1", "give 3 comma-separated values"},
             {"0.5,x,0.5", "1,1,1", "--mean 0.5,x,0.5: value 2 is not a number"},
             {"0.5,0.5,0.5", "1,0,1", "--std 1,0,1: value 2 is not a positive number"},
             {"0.5,0.5,0.5", "1,nan,1", "value 2 is not a positive number"},
             {"0.5,0.5,0.5", NULL, "give --mean and --std together"}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    assert_int_equal(rt_data_norm(&d, bad[k].mean, bad[k].std, m, s, &e), -1);
    if (!strstr(err_msg(&e), bad[k].needle)) fail_msg("'%s' lacks '%s'", err_msg(&e), bad[k].needle);
    err_clear(&e);
  }
  d.c = 1;
  assert_int_equal(rt_data_norm(&d, "imagenet", "imagenet", m, s, &e), -1);
  assert_non_null(strstr(err_msg(&e), "--mean imagenet: the images have 1 channel, not 3"));
  err_clear(&e);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/parsec-image-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_png_exact),       cmocka_unit_test(test_jpeg_forms),  cmocka_unit_test(test_bad_files_named),
      cmocka_unit_test(test_resample_by_hand), cmocka_unit_test(test_folder_index), cmocka_unit_test(test_folder_batch),
      cmocka_unit_test(test_augment_recipes), cmocka_unit_test(test_resized_crop_box), cmocka_unit_test(test_jitter_steps),
      cmocka_unit_test(test_augmented_batch_thread_independent), cmocka_unit_test(test_loader_equals_plain_batches),
      cmocka_unit_test(test_given_normalisation),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) rc = 1;
  return rc;
}
