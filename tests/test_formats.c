/* The readers and writers of files: the data sets (IDX plain and gzip'd,
 * CIFAR-10/100 binary batches, NumPy .npy), safetensors and checkpoints.
 * Good files round-trip exactly; every truncation point, a wrong magic,
 * dtype or shape, and a label out of range are refused with a message that
 * names the file, never read past the end. */
#include "io.h"
#include "rt_ckpt.h"
#include "rt_data.h"
#include "rt_safetensors.h"

#include <cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

static char dir[64];

static const char *path_of(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static void write_bytes(const char *name, const void *data, size_t n) {
  FILE *f = fopen(path_of(name), "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/parsec-formats-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Opening SPEC fails, and the message holds NEEDLE. */
static void refused(const char *spec, rt_split split, const char *needle) {
  rt_dataset d;
  err_t e = ERR_INIT;
  if (rt_data_open(&d, spec, split, &e) == 0) fail_msg("%s was accepted", spec);
  if (needle && !strstr(err_msg(&e), needle)) fail_msg("%s: '%s' does not say '%s'", spec, err_msg(&e), needle);
  err_clear(&e);
}

/* ---------- IDX ---------- */

enum { IDX_N = 5, IDX_H = 4, IDX_W = 3 };

static size_t idx_images(uint8_t *b) {
  const uint8_t head[16] = {0, 0, 8, 3, 0, 0, 0, IDX_N, 0, 0, 0, IDX_H, 0, 0, 0, IDX_W};
  memcpy(b, head, 16);
  for (int i = 0; i < IDX_N * IDX_H * IDX_W; i++) b[16 + i] = (uint8_t)(7 * i + 3);
  return 16 + IDX_N * IDX_H * IDX_W;
}

static size_t idx_labels(uint8_t *b, int bad) {
  const uint8_t head[8] = {0, 0, 8, 1, 0, 0, 0, IDX_N};
  memcpy(b, head, 8);
  for (int i = 0; i < IDX_N; i++) b[8 + i] = (uint8_t)(i % 3);
  if (bad) b[8 + 2] = 200; /* more classes than a byte label set should claim */
  return 8 + IDX_N;
}

static void test_idx_round_trip(void **state) {
  (void)state;
  uint8_t im[256], lb[64];
  size_t ni = idx_images(im), nl = idx_labels(lb, 0);
  write_bytes("im.idx", im, ni);
  write_bytes("lb.idx", lb, nl);
  /* and gzip'd */
  gzFile g = gzopen(path_of("im.idx.gz"), "wb");
  assert_non_null(g);
  assert_int_equal(gzwrite(g, im, (unsigned)ni), (int)ni);
  assert_int_equal(gzclose(g), Z_OK);
  const char *specs[2] = {"idx:%s/im.idx,%s/lb.idx", "idx:%s/im.idx.gz,%s/lb.idx"};
  for (int k = 0; k < 2; k++) {
    char spec[256];
    snprintf(spec, sizeof spec, specs[k], dir, dir);
    rt_dataset d;
    err_t e = ERR_INIT;
    if (rt_data_open(&d, spec, RT_SPLIT_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
    assert_int_equal(d.n, IDX_N);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, IDX_H);
    assert_int_equal(d.w, IDX_W);
    assert_int_equal(d.classes, 3);
    assert_memory_equal(d.images, im + 16, IDX_N * IDX_H * IDX_W);
    for (int i = 0; i < IDX_N; i++) assert_int_equal(d.labels[i], i % 3);
    rt_data_free(&d);
  }
}

static void test_idx_refuses_damage(void **state) {
  (void)state;
  uint8_t im[256], lb[64];
  size_t ni = idx_images(im), nl = idx_labels(lb, 0);
  char spec[256];
  write_bytes("lb.idx", lb, nl);
  for (size_t cut = 0; cut < ni; cut++) { /* every truncation point of the images */
    write_bytes("cut.idx", im, cut);
    snprintf(spec, sizeof spec, "idx:%s,%s", path_of("cut.idx"), path_of("lb.idx"));
    refused(spec, RT_SPLIT_TRAIN, "cut.idx");
  }
  write_bytes("im.idx", im, ni);
  for (size_t cut = 0; cut < nl; cut++) {
    write_bytes("cut.idx", lb, cut);
    snprintf(spec, sizeof spec, "idx:%s,%s", path_of("im.idx"), path_of("cut.idx"));
    refused(spec, RT_SPLIT_TRAIN, "cut.idx");
  }
  im[3] = 1; /* a label file's magic where images belong */
  write_bytes("magic.idx", im, ni);
  snprintf(spec, sizeof spec, "idx:%s,%s", path_of("magic.idx"), path_of("lb.idx"));
  refused(spec, RT_SPLIT_TRAIN, "not an IDX image file");
  lb[7] = IDX_N + 1; /* labels for another set */
  write_bytes("more.idx", lb, nl + 1);
  snprintf(spec, sizeof spec, "idx:%s,%s", path_of("im.idx"), path_of("more.idx"));
  refused(spec, RT_SPLIT_TRAIN, "do not belong together");
  uint8_t junk[64];
  memset(junk, 0x5a, sizeof junk);
  write_bytes("junk.idx.gz", "\x1f\x8b\x08\x00junkjunkjunk", 16); /* a gzip header, then garbage */
  snprintf(spec, sizeof spec, "idx:%s,%s", path_of("junk.idx.gz"), path_of("lb.idx"));
  refused(spec, RT_SPLIT_TRAIN, "junk.idx.gz");
  snprintf(spec, sizeof spec, "idx:%s,%s", path_of("missing.idx"), path_of("lb.idx"));
  refused(spec, RT_SPLIT_TRAIN, "missing.idx");
  snprintf(spec, sizeof spec, "idx:%s", path_of("im.idx"));
  refused(spec, RT_SPLIT_TRAIN, "two files separated by a comma");
}

/* ---------- CIFAR ---------- */

/* COUNT records of CIFAR-10 (or 100) with labels i % classes, the last one
 * LABEL instead when LABEL >= 0 */
static void cifar_file(const char *name, int hundred, int count, int label) {
  size_t rec = (hundred ? 2 : 1) + 3072;
  uint8_t *b = malloc(rec * (size_t)count);
  assert_non_null(b);
  for (int i = 0; i < count; i++) {
    uint8_t *r = b + rec * (size_t)i;
    r[0] = (uint8_t)(i % 20);                              /* CIFAR-100: the coarse label */
    r[hundred] = (uint8_t)(label >= 0 && i == count - 1 ? label : i % (hundred ? 100 : 10));
    for (int k = 0; k < 3072; k++) r[(hundred ? 2 : 1) + k] = (uint8_t)(i + k);
  }
  write_bytes(name, b, rec * (size_t)count);
  free(b);
}

static void test_cifar_round_trip(void **state) {
  (void)state;
  char name[64], spec[256];
  for (int i = 1; i <= 5; i++) {
    snprintf(name, sizeof name, "data_batch_%d.bin", i);
    cifar_file(name, 0, 3, -1);
  }
  cifar_file("test_batch.bin", 0, 2, -1);
  cifar_file("train.bin", 1, 4, -1);
  cifar_file("test.bin", 1, 3, -1);
  const struct {
    const char *set;
    rt_split split;
    int n;
  } cases[] = {{"cifar10", RT_SPLIT_TRAIN, 15}, {"cifar10", RT_SPLIT_TEST, 2}, {"cifar100", RT_SPLIT_TRAIN, 4},
               {"cifar100", RT_SPLIT_TEST, 3}};
  for (int k = 0; k < 4; k++) {
    snprintf(spec, sizeof spec, "%s:%s", cases[k].set, dir);
    rt_dataset d;
    err_t e = ERR_INIT;
    if (rt_data_open(&d, spec, cases[k].split, &e) != 0) fail_msg("%s", err_msg(&e));
    assert_int_equal(d.n, cases[k].n);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.h, 32);
    assert_int_equal(d.w, 32);
    assert_true(rt_data_is_cifar(spec));
    /* record 1 of its file: label 1, pixels 1 + k, planes in R, G, B order */
    assert_int_equal(d.labels[1], 1);
    assert_int_equal(d.images[3072 + 5], (uint8_t)(1 + 5));
    rt_data_free(&d);
  }
}

static void test_cifar_refuses_damage(void **state) {
  (void)state;
  char spec[256];
  snprintf(spec, sizeof spec, "cifar10:%s", dir);
  cifar_file("test_batch.bin", 0, 2, -1);
  const size_t rec = 3073;
  uint8_t *b = malloc(2 * rec);
  assert_non_null(b);
  FILE *f = fopen(path_of("test_batch.bin"), "rb");
  assert_non_null(f);
  assert_int_equal(fread(b, 1, 2 * rec, f), 2 * rec);
  fclose(f);
  for (size_t cut = 0; cut < 2 * rec; cut += cut < 8 ? 1 : 509) { /* not a whole number of records */
    if (cut == rec) continue;
    write_bytes("test_batch.bin", b, cut);
    refused(spec, RT_SPLIT_TEST, "test_batch.bin");
  }
  free(b);
  cifar_file("test_batch.bin", 0, 2, 10); /* label 10 in CIFAR-10 */
  refused(spec, RT_SPLIT_TEST, "label 10, out of range");
  snprintf(spec, sizeof spec, "cifar10:%s/nothing", dir);
  refused(spec, RT_SPLIT_TRAIN, "data_batch_1..5.bin");
}

/* ---------- .npy ---------- */

/* A .npy file: the header for DESCR and SHAPE, then N bytes of DATA */
static size_t npy(uint8_t *out, const char *descr, const char *shape, const void *data, size_t n) {
  char h[256];
  int len = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
  int pad = 64 - (10 + len + 1) % 64;
  memcpy(out, "\x93NUMPY\x01\x00", 8);
  size_t hl = (size_t)len + (size_t)pad % 64 + 1;
  out[8] = (uint8_t)(hl & 0xff);
  out[9] = (uint8_t)(hl >> 8);
  memcpy(out + 10, h, (size_t)len);
  memset(out + 10 + len, ' ', hl - (size_t)len - 1);
  out[10 + hl - 1] = '\n';
  memcpy(out + 10 + hl, data, n);
  return 10 + hl + n;
}

static void test_npy_round_trip(void **state) {
  (void)state;
  uint8_t px[4 * 3 * 2 * 2], buf[512];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(11 * i);
  write_bytes("im.npy", buf, npy(buf, "|u1", "(4, 3, 2, 2)", px, sizeof px)); /* NHWC, 2 channels */
  const int64_t l64[4] = {0, 3, 1, 2};
  const int32_t l32[4] = {0, 3, 1, 2};
  const uint8_t l8[4] = {0, 3, 1, 2};
  write_bytes("l64.npy", buf, npy(buf, "<i8", "(4,)", l64, sizeof l64));
  write_bytes("l32.npy", buf, npy(buf, "<i4", "(4,)", l32, sizeof l32));
  write_bytes("l8.npy", buf, npy(buf, "|u1", "(4,)", l8, sizeof l8));
  const char *labels[3] = {"l64.npy", "l32.npy", "l8.npy"};
  for (int k = 0; k < 3; k++) {
    char spec[256];
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("im.npy"), path_of(labels[k]));
    rt_dataset d;
    err_t e = ERR_INIT;
    if (rt_data_open(&d, spec, RT_SPLIT_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
    assert_int_equal(d.n, 4);
    assert_int_equal(d.c, 2);
    assert_int_equal(d.h, 3);
    assert_int_equal(d.w, 2);
    assert_int_equal(d.classes, 4);
    /* NHWC to NCHW: image 1, channel 1, pixel (2, 1) */
    assert_int_equal(d.images[((1 * 2 + 1) * 3 + 2) * 2 + 1], px[((1 * 3 + 2) * 2 + 1) * 2 + 1]);
    for (int i = 0; i < 4; i++) assert_int_equal(d.labels[i], l8[i]);
    rt_data_free(&d);
  }
}

/* float32 images, NHWC and NCHW: the same images, used as pixels / 255;
   NaN refused; the imagenet augmentation refused on them */
static void test_npy_float32(void **state) {
  (void)state;
  enum { N = 4, H = 5, W = 6, C = 2 };
  float nhwc[N * H * W * C], nchw[N * C * H * W];
  uint8_t buf[2048];
  for (int i = 0; i < N; i++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        for (int c = 0; c < C; c++) {
          float v = (float)(i * 0.1 + y * 0.01 + x * 0.001 + c * 0.5);
          nhwc[((i * H + y) * W + x) * C + c] = v;
          nchw[((i * C + c) * H + y) * W + x] = v;
        }
  const int64_t lab[N] = {0, 1, 2, 1};
  write_bytes("flab.npy", buf, npy(buf, "<i8", "(4,)", lab, sizeof lab));
  write_bytes("nhwc.npy", buf, npy(buf, "<f4", "(4, 5, 6, 2)", nhwc, sizeof nhwc));
  write_bytes("nchw.npy", buf, npy(buf, "<f4", "(4, 2, 5, 6)", nchw, sizeof nchw));
  rt_dataset d[2];
  err_t e = ERR_INIT;
  for (int k = 0; k < 2; k++) {
    char spec[256];
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of(k ? "nchw.npy" : "nhwc.npy"), path_of("flab.npy"));
    if (rt_data_open(&d[k], spec, RT_SPLIT_TRAIN, &e) != 0) fail_msg("%s", err_msg(&e));
    assert_true(d[k].n == N && d[k].c == C && d[k].h == H && d[k].w == W && d[k].fimages && !d[k].images);
  }
  assert_memory_equal(d[0].fimages, nchw, sizeof nchw);
  assert_memory_equal(d[1].fimages, nchw, sizeof nchw);
  float mean[C], std[C], out[C * 1 * H * W];
  rt_data_stats(&d[0], mean, std);
  assert_float_equal(mean[1] - mean[0], 0.5, 1e-5);
  int idx = 2;
  int32_t got;
  rt_data_batch(&d[0], &idx, 1, mean, std, NULL, NULL, out, 4, &got);
  assert_int_equal(got, 2);
  assert_float_equal(out[(1 * H + 3) * W + 4], (nchw[((2 * C + 1) * H + 3) * W + 4] - mean[1]) / std[1], 1e-5);
  rt_augment a;
  assert_int_equal(rt_augment_for("imagenet", "npy:x,y", H, &a, &e), 0);
  assert_int_equal(rt_data_check_augment(&d[0], &a, &e), -1);
  assert_non_null(strstr(err_msg(&e), "these are float32: give --augment crop-flip, flip or none"));
  err_clear(&e);
  rt_data_free(&d[0]);
  rt_data_free(&d[1]);
  nhwc[77] = NAN;
  write_bytes("nan.npy", buf, npy(buf, "<f4", "(4, 5, 6, 2)", nhwc, sizeof nhwc));
  char spec[256];
  snprintf(spec, sizeof spec, "npy:%s,%s", path_of("nan.npy"), path_of("flab.npy"));
  refused(spec, RT_SPLIT_TRAIN, "nan.npy: image 1 holds NaN");
}

static void test_npy_refuses_damage(void **state) {
  (void)state;
  uint8_t px[4 * 3 * 2], buf[512];
  memset(px, 9, sizeof px);
  const int64_t lab[4] = {0, 1, 2, 1};
  char spec[256];
  size_t nl = npy(buf, "<i8", "(4,)", lab, sizeof lab);
  write_bytes("lab.npy", buf, nl);
  size_t ni = npy(buf, "|u1", "(4, 3, 2)", px, sizeof px);
  for (size_t cut = 0; cut < ni; cut++) { /* every truncation point, header and data */
    write_bytes("cut.npy", buf, cut);
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("cut.npy"), path_of("lab.npy"));
    refused(spec, RT_SPLIT_TRAIN, "cut.npy");
  }
  write_bytes("im.npy", buf, ni);
  npy(buf, "<i8", "(4,)", lab, sizeof lab);
  for (size_t cut = 0; cut < nl; cut++) {
    write_bytes("cut.npy", buf, cut);
    snprintf(spec, sizeof spec, "npy:%s,%s", path_of("im.npy"), path_of("cut.npy"));
    refused(spec, RT_SPLIT_TRAIN, "cut.npy");
  }
  const struct {
    const char *what, *descr, *shape, *needle;
    int labels;
  } bad[] = {
      {"float64 images", "<f8", "(4, 3, 2)", "must be uint8 (0..255) or little-endian float32", 0},
      {"big-endian float32 images", ">f4", "(4, 3, 2)", "not dtype '>f4'", 0},
      {"float32 images NHWC or NCHW", "<f4", "(4, 3, 2, 2)", "could be NHWC or NCHW", 0},
      {"float32 images cut short", "<f4", "(4, 3, 2)", "truncated", 0},
      {"2-d images", "|u1", "(4, 6)", "shape (N, H, W)", 0},
      {"absurd images", "|u1", "(4, 3, 99999999999999999999)", "out of range", 0},
      {"huge images", "|u1", "(2147483647, 2147483647, 2147483647)", "out of range", 0},
      {"2-d labels", "<i8", "(2, 2)", "1-d array", 1},
      {"float labels", "<f8", "(4,)", "little-endian integers", 1},
      {"big-endian labels", ">i8", "(4,)", "little-endian integers", 1},
      {"labels of another set", "<i8", "(3,)", "do not belong together", 1},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    write_bytes("bad.npy", buf, npy(buf, bad[k].descr, bad[k].shape, px, sizeof px));
    snprintf(spec, sizeof spec, "npy:%s,%s", bad[k].labels ? path_of("im.npy") : path_of("bad.npy"),
             bad[k].labels ? path_of("bad.npy") : path_of("lab.npy"));
    rt_dataset d;
    err_t e = ERR_INIT;
    if (rt_data_open(&d, spec, RT_SPLIT_TRAIN, &e) == 0) fail_msg("%s were accepted", bad[k].what);
    if (!strstr(err_msg(&e), bad[k].needle)) fail_msg("%s: '%s' lacks '%s'", bad[k].what, err_msg(&e), bad[k].needle);
    err_clear(&e);
  }
  const int64_t neg[4] = {0, -1, 2, 1};
  write_bytes("neg.npy", buf, npy(buf, "<i8", "(4,)", neg, sizeof neg));
  snprintf(spec, sizeof spec, "npy:%s,%s", path_of("im.npy"), path_of("neg.npy"));
  refused(spec, RT_SPLIT_TRAIN, "label -1 at index 1 is out of range");
  write_bytes("magic.npy", "\x93NUMPX\x01\x00\x10\x00{}", 12);
  snprintf(spec, sizeof spec, "npy:%s,%s", path_of("magic.npy"), path_of("lab.npy"));
  refused(spec, RT_SPLIT_TRAIN, "not a NumPy .npy file");
  snprintf(spec, sizeof spec, "npy:%s,%s", dir, path_of("lab.npy")); /* a directory */
  refused(spec, RT_SPLIT_TRAIN, "not a regular file");
  refused("mnist", RT_SPLIT_TRAIN, "unknown data set 'mnist'");
}

/* ---------- safetensors ---------- */

/* Two parameters and a BN's running statistics. */
static void small_layout(nw_layout *lay, nw_tensor t[4]) {
  memset(lay, 0, sizeof *lay);
  memset(t, 0, 4 * sizeof *t);
  const struct {
    const char *name;
    nw_tensor_kind kind;
    int d0, d1;
  } def[4] = {{"conv.weight", NW_PARAM, 2, 3}, {"bn.weight", NW_PARAM, 3, 0}, {"bn.running_mean", NW_STAT, 3, 0},
              {"bn.running_var", NW_STAT, 3, 0}};
  size_t off[2] = {0, 0};
  for (int i = 0; i < 4; i++) {
    snprintf(t[i].name, sizeof t[i].name, "%s", def[i].name);
    t[i].kind = def[i].kind;
    t[i].ndim = def[i].d1 ? 2 : 1;
    t[i].shape[0] = def[i].d0;
    t[i].shape[1] = def[i].d1;
    t[i].numel = (size_t)def[i].d0 * (def[i].d1 ? (size_t)def[i].d1 : 1);
    t[i].offset = off[t[i].kind];
    off[t[i].kind] += t[i].numel;
  }
  lay->t = t;
  lay->n = 4;
  lay->nparams = off[NW_PARAM];
  lay->nstats = off[NW_STAT];
}

static void test_safetensors_round_trip(void **state) {
  (void)state;
  nw_layout lay;
  nw_tensor t[4];
  small_layout(&lay, t);
  float params[9], stats[6], p2[9], s2[6];
  for (int i = 0; i < 9; i++) params[i] = 0.25f * (float)i - 1;
  for (int i = 0; i < 6; i++) stats[i] = 1.5f + (float)i;
  const char *meta[] = {"genotype", "Genotype(...)", "layers", "3"};
  err_t e = ERR_INIT;
  const char *path = path_of("w.safetensors");
  if (rt_safetensors_write(path, &lay, params, stats, 42, meta, 2, &e) != 0) fail_msg("%s", err_msg(&e));
  if (rt_safetensors_read(path, &lay, p2, s2, &e) != 0) fail_msg("%s", err_msg(&e));
  assert_memory_equal(params, p2, sizeof params);
  assert_memory_equal(stats, s2, sizeof stats);
  char *v = rt_safetensors_meta(path, "layers", &e);
  assert_non_null(v);
  assert_string_equal(v, "3");
  free(v);
  assert_null(rt_safetensors_meta(path, "nothing", &e));
  err_clear(&e);
  /* the header is 8-byte aligned JSON, and PyTorch's counter sits beside the
     running variance */
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t b[4096];
  size_t n = fread(b, 1, sizeof b, f);
  fclose(f);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
  assert_int_equal(hl % 8, 0);
  assert_true(8 + hl + 9 * 4 + 6 * 4 + 8 == n);
  char *header = strndup((const char *)b + 8, hl);
  assert_non_null(strstr(header, "\"bn.num_batches_tracked\""));
  free(header);
  int64_t batches;
  memcpy(&batches, b + n - 8, 8);
  assert_int_equal(batches, 42);
}

/* The search network's shared weights as weights.safetensors: every
 * parameter and statistic lies in exactly one named tensor, and each name
 * says where it acts (cell, node, input, op). */
static void test_search_weights_names(void **state) {
  (void)state;
  sp_space sp;
  nw_layout lay;
  err_t e = ERR_INIT;
  assert_int_equal(sp_load_example(&sp, "small", &e), 0);
  assert_int_equal(nw_search_layout(&lay, &sp, &sp.net, &e), 0);
  assert_true(lay.nparams < (1u << 24)); /* each index is exact as a float */
  float *params = malloc(lay.nparams * 4), *stats = malloc((lay.nstats + 1) * 4);
  for (size_t i = 0; i < lay.nparams; i++) params[i] = (float)i;
  for (size_t i = 0; i < lay.nstats; i++) stats[i] = -1 - (float)i;
  const char *path = path_of("search.safetensors");
  if (rt_safetensors_write(path, &lay, params, stats, 0, NULL, 0, &e) != 0) fail_msg("%s", err_msg(&e));
  size_t n;
  char *b = io_read_file(path, NULL, RT_SAFETENSORS_MAX_BYTES, &n, &e);
  assert_non_null(b);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | (uint8_t)b[i];
  cJSON *h = cJSON_ParseWithLength(b + 8, hl);
  assert_non_null(h);
  unsigned char *seen = calloc(lay.nparams + lay.nstats, 1);
  const cJSON *t;
  int tensors = 0, edges = 0;
  cJSON_ArrayForEach(t, h) {
    if (strcmp(t->string, "__metadata__") == 0) continue;
    tensors++;
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    const char *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype")->valuestring;
    if (strcmp(dtype, "F32") != 0) continue; /* PyTorch's num_batches_tracked */
    size_t a = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble, z = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
    for (size_t k = a; k < z; k += 4) {
      float v;
      memcpy(&v, b + 8 + hl + k, 4);
      size_t at = v >= 0 ? (size_t)v : lay.nparams + (size_t)(-1 - v);
      assert_true(at < lay.nparams + lay.nstats);
      seen[at]++;
    }
    if (strstr(t->string, ".nodes.") && strstr(t->string, ".inputs.")) edges++;
  }
  /* each tensor's elements once; the blocks' alignment padding in none */
  for (int i = 0; i < lay.n; i++) {
    size_t base = lay.t[i].kind == NW_PARAM ? 0 : lay.nparams;
    for (size_t k = 0; k < lay.t[i].numel; k++) seen[base + lay.t[i].offset + k] += 16;
  }
  for (size_t i = 0; i < lay.nparams + lay.nstats; i++)
    if (seen[i] != 0 && seen[i] != 17) fail_msg("element %zu lies in %d tensors of the file", i, seen[i] % 16);
  assert_non_null(cJSON_GetObjectItemCaseSensitive(h, "cells.0.nodes.0.inputs.1.sep_conv_3x3.1.weight"));
  assert_non_null(cJSON_GetObjectItemCaseSensitive(h, "cells.0.nodes.3.inputs.4.dil_conv_5x5.2.weight"));
  assert_true(edges > 0 && tensors > edges);
  printf("small space search weights: %d tensors (%d on edges), %zu parameters, %zu statistics\n", tensors, edges,
         lay.nparams, lay.nstats);
  cJSON_Delete(h);
  free(seen);
  free(b);
  free(params);
  free(stats);
  nw_free(&lay);
  sp_free(&sp);
}

static void test_safetensors_refuses_damage(void **state) {
  (void)state;
  nw_layout lay;
  nw_tensor t[4];
  small_layout(&lay, t);
  float params[9] = {0}, stats[6] = {0};
  err_t e = ERR_INIT;
  const char *path = path_of("w.safetensors");
  if (rt_safetensors_write(path, &lay, params, stats, 1, NULL, 0, &e) != 0) fail_msg("%s", err_msg(&e));
  FILE *f = fopen(path, "rb");
  uint8_t b[4096];
  size_t n = fread(b, 1, sizeof b, f);
  fclose(f);
  for (size_t cut = 0; cut < n; cut++) {
    write_bytes("cut.safetensors", b, cut);
    if (rt_safetensors_read(path_of("cut.safetensors"), &lay, params, stats, &e) == 0)
      fail_msg("a safetensors file cut at %zu bytes was accepted", cut);
    assert_non_null(strstr(err_msg(&e), "cut.safetensors"));
    err_clear(&e);
  }
  /* headers that lie */
  const char *headers[] = {
      "{\"conv.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3]}}",
      "{\"conv.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": []}}",
      "{\"conv.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": \"0 24\"}}",
      "{\"conv.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 99999]}}",
      "{\"conv.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [-8, 16]}}",
      "{\"conv.weight\": {\"dtype\": \"F32\", \"shape\": \"2x3\", \"data_offsets\": [0, 24]}}",
      "{\"conv.weight\": {\"dtype\": \"F32\", \"shape\": [3, 2], \"data_offsets\": [0, 24]}}",
      "{\"conv.weight\": {\"dtype\": \"F16\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}",
      "[1, 2, 3]",
      "not json",
  };
  for (size_t k = 0; k < sizeof headers / sizeof headers[0]; k++) {
    size_t hl = strlen(headers[k]);
    uint8_t out[512] = {0};
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(hl >> (8 * i));
    memcpy(out + 8, headers[k], hl);
    write_bytes("lie.safetensors", out, 8 + hl + 64);
    if (rt_safetensors_read(path_of("lie.safetensors"), &lay, params, stats, &e) == 0)
      fail_msg("header %s was accepted", headers[k]);
    err_clear(&e);
  }
}

/* ---------- checkpoints ---------- */

static void test_checkpoint_round_trip(void **state) {
  (void)state;
  double a[5] = {1, 2, 3, 4, 5};
  float b[3] = {-1, 0.5f, 7};
  rt_block bl[2] = {{"a", a, sizeof a}, {"b", b, sizeof b}};
  err_t e = ERR_INIT;
  const char *path = path_of("c.bin");
  if (rt_ckpt_write(path, "{\"kind\": \"test\"}", bl, 2, &e) != 0) fail_msg("%s", err_msg(&e));
  rt_ckpt c;
  if (rt_ckpt_read(path, &c, &e) != 0) fail_msg("%s", err_msg(&e));
  assert_string_equal(c.header, "{\"kind\": \"test\"}");
  const double *ra = rt_ckpt_block(&c, "a", sizeof a, path, &e);
  const float *rb = rt_ckpt_block(&c, "b", sizeof b, path, &e);
  assert_non_null(ra);
  assert_non_null(rb);
  assert_memory_equal(ra, a, sizeof a);
  assert_memory_equal(rb, b, sizeof b);
  assert_null(rt_ckpt_block(&c, "a", 8, path, &e)); /* another network's block */
  assert_non_null(strstr(err_msg(&e), "holds 40 bytes, expected 8"));
  assert_null(rt_ckpt_block(&c, "z", 8, path, &e));
  assert_non_null(strstr(err_msg(&e), "has no 'z'"));
  err_clear(&e);
  rt_ckpt_free(&c);
}

static void test_checkpoint_refuses_damage(void **state) {
  (void)state;
  double a[5] = {1, 2, 3, 4, 5};
  rt_block bl[1] = {{"a", a, sizeof a}};
  err_t e = ERR_INIT;
  const char *path = path_of("c.bin");
  if (rt_ckpt_write(path, "{}", bl, 1, &e) != 0) fail_msg("%s", err_msg(&e));
  uint8_t b[1024];
  FILE *f = fopen(path, "rb");
  size_t n = fread(b, 1, sizeof b, f);
  fclose(f);
  rt_ckpt c;
  for (size_t cut = 0; cut < n; cut++) {
    write_bytes("cut.bin", b, cut);
    if (rt_ckpt_read(path_of("cut.bin"), &c, &e) == 0) fail_msg("a checkpoint cut at %zu bytes was accepted", cut);
    assert_non_null(strstr(err_msg(&e), "cut.bin"));
    err_clear(&e);
  }
  for (size_t at = 0; at < n; at += 7) { /* any byte altered */
    b[at] ^= 0x40;
    write_bytes("flip.bin", b, n);
    b[at] ^= 0x40;
    if (rt_ckpt_read(path_of("flip.bin"), &c, &e) == 0) fail_msg("a checkpoint altered at byte %zu was accepted", at);
    err_clear(&e);
  }
  if (rt_ckpt_read(path_of("nothing.bin"), &c, &e) == 0) fail_msg("a missing checkpoint was read");
  assert_non_null(strstr(err_msg(&e), "cannot open the checkpoint"));
  err_clear(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idx_round_trip),          cmocka_unit_test(test_idx_refuses_damage),
      cmocka_unit_test(test_cifar_round_trip),        cmocka_unit_test(test_cifar_refuses_damage),
      cmocka_unit_test(test_npy_round_trip),          cmocka_unit_test(test_npy_refuses_damage),
      cmocka_unit_test(test_npy_float32),
      cmocka_unit_test(test_safetensors_round_trip),  cmocka_unit_test(test_safetensors_refuses_damage),
      cmocka_unit_test(test_search_weights_names),
      cmocka_unit_test(test_checkpoint_round_trip),   cmocka_unit_test(test_checkpoint_refuses_damage),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
