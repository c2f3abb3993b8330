/* A checkpoint: the container (magic, version, header, blocks, checksum).
 * Random bytes rarely pass the checksum: the first byte, when odd, makes
 * the input's own checksum right, so the parser behind it is reached. */
#include "fuzz.h"
#include "rt_ckpt.h"
#include "sha.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t n = size - 1;
  unsigned char *b = malloc(n + 64);
  if (!b) abort();
  memcpy(b, data + 1, n);
  if (data[0] & 1) { /* append the checksum a writer would have written */
    char digest[SHA256_HEX];
    sha256(b, n, digest);
    memcpy(b + n, digest, 64);
    n += 64;
  }
  rt_ckpt c;
  err_t e = ERR_INIT;
  if (rt_ckpt_parse(b, n, &c, "checkpoint.bin", &e) == 0) {
    for (int i = 0; i < c.nblocks; i++) rt_ckpt_block(&c, c.blocks[i].name, c.blocks[i].size, "checkpoint.bin", &e);
    rt_ckpt_free(&c);
  }
  err_clear(&e);
  free(b);
  return 0;
}
