/* Exits 0 when two checkpoints hold the same state, block for block and
 * byte for byte (the header's wall-clock seconds may differ):
 *   ckpt_same A/checkpoint.bin B/checkpoint.bin
 * or when the float32 blocks named hold values within TOL relative
 * (|a - b| <= TOL (|a| + 1e-3)), printing the largest such difference:
 *   ckpt_same A/checkpoint.bin B/checkpoint.bin --close TOL BLOCK... */
#include "rt_ckpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the float32 blocks NAMES of A and B within TOL, relative */
static int close_blocks(rt_ckpt *a, rt_ckpt *b, double tol, char **names, int n) {
  int ok = 1;
  for (int k = 0; k < n; k++) {
    const rt_block *x = NULL, *y = NULL;
    for (int i = 0; i < a->nblocks; i++)
      if (strcmp(a->blocks[i].name, names[k]) == 0) x = &a->blocks[i];
    for (int i = 0; i < b->nblocks; i++)
      if (strcmp(b->blocks[i].name, names[k]) == 0) y = &b->blocks[i];
    if (!x || !y || x->size != y->size) {
      printf("block '%s' is missing or of another size\n", names[k]);
      ok = 0;
      continue;
    }
    const float *u = x->data, *v = y->data;
    double worst = 0;
    for (size_t i = 0; i < x->size / 4; i++) {
      double d = fabs((double)u[i] - v[i]) / (fabs((double)u[i]) + 1e-3);
      if (!(d <= worst)) worst = d; /* NaN too */
    }
    printf("block '%s': largest relative difference %.3g\n", names[k], worst);
    ok &= worst <= tol;
  }
  rt_ckpt_free(a);
  rt_ckpt_free(b);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc != 3 && !(argc >= 6 && strcmp(argv[3], "--close") == 0)) {
    fprintf(stderr, "usage: ckpt_same A B [--close TOL BLOCK...]\n");
    return 2;
  }
  rt_ckpt a, b;
  err_t e = ERR_INIT;
  if (rt_ckpt_read(argv[1], &a, &e) != 0 || rt_ckpt_read(argv[2], &b, &e) != 0) {
    fprintf(stderr, "ckpt_same: %s\n", err_msg(&e));
    return 2;
  }
  if (argc > 3) return close_blocks(&a, &b, atof(argv[4]), argv + 5, argc - 5);
  if (a.nblocks != b.nblocks) {
    printf("different block counts: %d and %d\n", a.nblocks, b.nblocks);
    return 1;
  }
  int same = 1;
  for (int i = 0; i < a.nblocks; i++)
    if (strcmp(a.blocks[i].name, b.blocks[i].name) || a.blocks[i].size != b.blocks[i].size ||
        memcmp(a.blocks[i].data, b.blocks[i].data, a.blocks[i].size)) {
      printf("block '%s' differs\n", a.blocks[i].name);
      same = 0;
    }
  rt_ckpt_free(&a);
  rt_ckpt_free(&b);
  if (same) printf("same state\n");
  return same ? 0 : 1;
}
