#include "rt_ckpt.h"
#include <cJSON.h>
#include "io.h"
#include "sha.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char magic[8] = {'P', 'A', 'R', 'S', 'E', 'C', 'C', 'K'};

typedef struct {
  char *buf;
  size_t len, cap;
} out;

static int put(out *o, const void *p, size_t n) {
  if (o->len + n > o->cap) {
    size_t nc = o->cap ? o->cap : 1 << 16;
    while (nc < o->len + n) nc *= 2;
    char *b = realloc(o->buf, nc);
    if (!b) return -1;
    o->buf = b;
    o->cap = nc;
  }
  memcpy(o->buf + o->len, p, n);
  o->len += n;
  return 0;
}

static int put_u64(out *o, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  return put(o, b, 8);
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

int rt_ckpt_write(const char *path, const char *header, const rt_block *blocks, int n, err_t *e) {
  out o = {0};
  int rc = put(&o, magic, 8) || put_u64(&o, RT_CKPT_VERSION) || put_u64(&o, strlen(header)) ||
           put(&o, header, strlen(header)) || put_u64(&o, (uint64_t)n);
  for (int i = 0; i < n && !rc; i++) {
    char name[32] = {0};
    snprintf(name, sizeof name, "%s", blocks[i].name);
    rc = put(&o, name, 32) || put_u64(&o, blocks[i].size) || put(&o, blocks[i].data, blocks[i].size);
  }
  char digest[SHA256_HEX];
  if (!rc) {
    sha256(o.buf, o.len, digest);
    rc = put(&o, digest, 64);
  }
  if (rc) {
    free(o.buf);
    return err_set(e, "out of memory writing a checkpoint");
  }
  io_part whole = {o.buf, o.len};
  rc = io_write_parts(path, &whole, 1, 1, e);
  free(o.buf);
  return rc;
}

int rt_ckpt_read(const char *path, rt_ckpt *c, err_t *e) {
  memset(c, 0, sizeof *c);
  size_t n;
  unsigned char *b = (unsigned char *)io_read_file(path, "the checkpoint", RT_CKPT_MAX_BYTES, &n, e);
  if (!b) return -1;
  int rc = rt_ckpt_parse(b, n, c, path, e);
  free(b);
  return rc;
}

int rt_ckpt_parse(const unsigned char *b, size_t n, rt_ckpt *c, const char *path, err_t *e) {
  memset(c, 0, sizeof *c);
  int rc = 0;
  if (n < 8 + 24 + 64 || memcmp(b, magic, 8) != 0) {
    rc = err_set(e, "%s: not a parsec checkpoint", path);
    goto done;
  }
  char digest[SHA256_HEX];
  sha256(b, (size_t)n - 64, digest);
  if (memcmp(digest, b + n - 64, 64) != 0) {
    rc = err_set(e, "%s: the checkpoint is corrupt (its checksum does not match: truncated or altered); it cannot be "
                    "resumed: start a new run or restore a copy",
                 path);
    goto done;
  }
  uint64_t ver = get_u64(b + 8), hl = get_u64(b + 16);
  if (ver != RT_CKPT_VERSION) {
    rc = err_set(e, "%s: checkpoint format version %llu is not known to this parsec (it reads version %d)", path,
                 (unsigned long long)ver, RT_CKPT_VERSION);
    goto done;
  }
  size_t at = 24;
  if (hl > (size_t)n - at - 64) {
    rc = err_set(e, "%s: damaged checkpoint header", path);
    goto done;
  }
  c->header = malloc(hl + 1);
  if (!c->header) {
    rc = err_set(e, "out of memory");
    goto done;
  }
  memcpy(c->header, b + at, hl);
  c->header[hl] = 0;
  at += hl;
  uint64_t nb = get_u64(b + at);
  at += 8;
  if (nb > RT_CKPT_MAXBLOCKS) {
    rc = err_set(e, "%s: damaged checkpoint (%llu blocks)", path, (unsigned long long)nb);
    goto done;
  }
  for (uint64_t i = 0; i < nb; i++) {
    if (at + 40 > (size_t)n - 64) {
      rc = err_set(e, "%s: damaged checkpoint", path);
      goto done;
    }
    rt_block *bl = &c->blocks[c->nblocks++];
    memcpy(bl->name, b + at, 32);
    bl->name[31] = 0;
    bl->size = get_u64(b + at + 32);
    at += 40;
    if (bl->size > (size_t)n - 64 - at) {
      rc = err_set(e, "%s: damaged checkpoint", path);
      goto done;
    }
    bl->data = malloc(bl->size ? bl->size : 1);
    if (!bl->data) {
      rc = err_set(e, "out of memory");
      goto done;
    }
    memcpy(bl->data, b + at, bl->size);
    at += bl->size;
  }
done:
  if (rc) rt_ckpt_free(c);
  return rc;
}

const void *rt_ckpt_block(const rt_ckpt *c, const char *name, size_t size, const char *path, err_t *e) {
  for (int i = 0; i < c->nblocks; i++)
    if (strcmp(c->blocks[i].name, name) == 0) {
      if (c->blocks[i].size != size) {
        err_set(e, "%s: checkpoint block '%s' holds %zu bytes, expected %zu: written for another network?", path, name,
                c->blocks[i].size, size);
        return NULL;
      }
      return c->blocks[i].data;
    }
  err_set(e, "%s: the checkpoint has no '%s'", path, name);
  return NULL;
}

int rt_ckpt_number(const cJSON *header, const char *key, double lo, double hi, double *out, const char *path,
                   err_t *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(header, key);
  if (!cJSON_IsNumber(v)) return err_set(e, "%s: damaged checkpoint header (no '%s')", path, key);
  if (!(v->valuedouble >= lo && v->valuedouble <= hi))
    return err_set(e, "%s: damaged checkpoint header ('%s' is %g, outside %g..%g)", path, key, v->valuedouble, lo, hi);
  *out = v->valuedouble;
  return 0;
}

void rt_ckpt_free(rt_ckpt *c) {
  free(c->header);
  for (int i = 0; i < c->nblocks; i++) free(c->blocks[i].data);
  memset(c, 0, sizeof *c);
}
