/* Checkpoint files: a JSON header (format "parsec-checkpoint", a version)
 * and named binary blocks, closed by a SHA-256 of everything before it.
 * Written to a temporary file, flushed and renamed, so a crash leaves the
 * previous checkpoint whole; a reader refuses an unknown version and a file
 * whose checksum does not match. */
#ifndef PARSEC_RT_CKPT_H
#define PARSEC_RT_CKPT_H
#include "err.h"
#include <stddef.h>

#define RT_CKPT_VERSION 1
#define RT_CKPT_MAXBLOCKS 16
/* the largest checkpoint a reader takes in (an evaluation network of a few
   hundred million parameters, with its momentum) */
#define RT_CKPT_MAX_BYTES ((size_t)16 << 30)

typedef struct {
  char name[32];
  void *data;
  size_t size;
} rt_block;

typedef struct {
  char *header; /* JSON text */
  int nblocks;
  rt_block blocks[RT_CKPT_MAXBLOCKS];
} rt_ckpt;

int rt_ckpt_write(const char *path, const char *header, const rt_block *blocks, int n, err_t *e);
int rt_ckpt_read(const char *path, rt_ckpt *c, err_t *e);
/* The same from N bytes in memory; PATH names them in messages. */
int rt_ckpt_parse(const unsigned char *b, size_t n, rt_ckpt *c, const char *path, err_t *e);
/* The block named NAME, which must be SIZE bytes. */
const void *rt_ckpt_block(const rt_ckpt *c, const char *name, size_t size, const char *path, err_t *e);
void rt_ckpt_free(rt_ckpt *c);

/* The number KEY of a checkpoint's parsed header, which must be finite and
 * in [LO, HI]: a checksum proves the file is whole, not that what it holds
 * makes sense. */
struct cJSON;
int rt_ckpt_number(const struct cJSON *header, const char *key, double lo, double hi, double *out, const char *path,
                   err_t *e);

#endif
