/* Writes a small synthetic data set as NumPy .npy files (uint8 NHWC images,
 * int32 labels) for the end-to-end tests:
 *   mkdata IMAGES.npy LABELS.npy N H W C CLASSES SEED [KIND]
 * KIND "blobs" (default): each class brightens its own cell of a grid, plus
 * noise, so a network separates them quickly.
 * KIND "pairs": pairs of bright dots 5 pixels apart at random places, side by
 * side (class 0) or one above the other (class 1): invisible to a 3x3
 * receptive field, plain to a dilated 5x5 conv. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t st;
static double rnd(void) {
  st ^= st << 13;
  st ^= st >> 7;
  st ^= st << 17;
  return (double)(st >> 11) / 9007199254740992.0;
}

static int header(FILE *f, const char *descr, const char *shape) {
  char h[256];
  int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
  int total = 10 + n + 1;
  int pad = (64 - total % 64) % 64;
  unsigned short hl = (unsigned short)(n + pad + 1);
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fputc(hl & 255, f);
  fputc(hl >> 8, f);
  fwrite(h, 1, (size_t)n, f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 9) {
    fprintf(stderr, "usage: mkdata IMAGES.npy LABELS.npy N H W C CLASSES SEED [blobs]\n");
    return 2;
  }
  int N = atoi(argv[3]), H = atoi(argv[4]), W = atoi(argv[5]), C = atoi(argv[6]), K = atoi(argv[7]);
  st = 0x9e3779b97f4a7c15ULL ^ (uint64_t)atoll(argv[8]) * 7919;
  FILE *fi = fopen(argv[1], "wb"), *fl = fopen(argv[2], "wb");
  if (!fi || !fl) return 1;
  char shape[64];
  snprintf(shape, sizeof shape, "(%d, %d, %d, %d)", N, H, W, C);
  header(fi, "|u1", shape);
  snprintf(shape, sizeof shape, "(%d,)", N);
  header(fl, "<i4", shape);
  int g = 1;
  while (g * g < K) g++;
  int pairs = argc > 9 && strcmp(argv[9], "pairs") == 0;
  unsigned char *img = malloc((size_t)H * W);
  for (int i = 0; i < N && pairs; i++) {
    int32_t y = rnd() < 0.5 ? 0 : 1;
    int dy = y ? 5 : 0, dx = y ? 0 : 5;
    for (int k = 0; k < H * W; k++) img[k] = (unsigned char)(20 * rnd());
    for (int p = 0; p < 4; p++) {
      int h0 = (int)(rnd() * (H - dy)), w0 = (int)(rnd() * (W - dx));
      img[h0 * W + w0] = img[(h0 + dy) * W + w0 + dx] = 250;
    }
    for (int k = 0; k < H * W; k++)
      for (int c = 0; c < C; c++) fputc(img[k], fi);
    fwrite(&y, 4, 1, fl);
  }
  free(img);
  for (int i = 0; i < N && !pairs; i++) {
    int32_t y = (int32_t)(rnd() * K) % K;
    int gy = y / g, gx = y % g;
    for (int h = 0; h < H; h++)
      for (int w = 0; w < W; w++)
        for (int c = 0; c < C; c++) {
          int in = h * g / H == gy && w * g / W == gx;
          double v = 60 + 40 * rnd() + (in ? 110 : 0);
          fputc((int)v, fi);
        }
    fwrite(&y, 4, 1, fl);
  }
  fclose(fi);
  fclose(fl);
  return 0;
}
