/* Exits 0 when two checkpoints hold the same state, block for block and
 * byte for byte (the header's wall-clock seconds may differ):
 *   ckpt_same A/checkpoint.bin B/checkpoint.bin */
#include "rt_ckpt.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ckpt_same A B\n");
    return 2;
  }
  rt_ckpt a, b;
  err_t e = ERR_INIT;
  if (rt_ckpt_read(argv[1], &a, &e) != 0 || rt_ckpt_read(argv[2], &b, &e) != 0) {
    fprintf(stderr, "ckpt_same: %s\n", err_msg(&e));
    return 2;
  }
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
