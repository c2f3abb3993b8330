#include "rt_safetensors.h"
#include "io.h"

#include <cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

/* "x.running_var" -> "x.num_batches_tracked" */
static int bn_counter(const char *name, char *out, size_t cap) {
  size_t n = strlen(name), k = strlen(".running_var");
  if (n <= k || strcmp(name + n - k, ".running_var") != 0) return 0;
  snprintf(out, cap, "%.*s.num_batches_tracked", (int)(n - k), name);
  return 1;
}

int rt_safetensors_write(const char *path, const nw_layout *lay, const float *params, const float *stats, long batches,
                         const char *const *meta, int nmeta, err_t *e) {
  cJSON *h = cJSON_CreateObject();
  size_t off = 0;
  for (int i = 0; i < lay->n; i++) {
    const nw_tensor *t = &lay->t[i];
    cJSON *o = cJSON_AddObjectToObject(h, t->name);
    cJSON_AddStringToObject(o, "dtype", "F32");
    cJSON_AddItemToObject(o, "shape", cJSON_CreateIntArray(t->shape, t->ndim));
    double offs[2] = {(double)off, (double)(off + t->numel * 4)};
    cJSON_AddItemToObject(o, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
    off += t->numel * 4;
    char cnt[NW_NAME_MAX + 32];
    if (bn_counter(t->name, cnt, sizeof cnt)) {
      cJSON *c = cJSON_AddObjectToObject(h, cnt);
      cJSON_AddStringToObject(c, "dtype", "I64");
      cJSON_AddItemToObject(c, "shape", cJSON_CreateArray());
      double co[2] = {(double)off, (double)(off + 8)};
      cJSON_AddItemToObject(c, "data_offsets", cJSON_CreateDoubleArray(co, 2));
      off += 8;
    }
  }
  cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
  for (int i = 0; i + 1 < 2 * nmeta; i += 2) cJSON_AddStringToObject(m, meta[i], meta[i + 1]);
  char *hs = cJSON_PrintUnformatted(h);
  cJSON_Delete(h);
  if (!hs) return err_set(e, "out of memory");
  size_t hl = strlen(hs), padded = (hl + 7) & ~(size_t)7; /* data 8-byte aligned */
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  /* the length, the header padded with spaces, then each tensor (and a BN's
     counter after its running variance) from where it lies */
  io_part *parts = malloc(sizeof *parts * (size_t)(2 * lay->n + 3));
  if (!parts) {
    free(hs);
    return err_set(e, "out of memory");
  }
  static const char spaces[8] = "        ";
  const int64_t counter = batches;
  int np = 0;
  parts[np++] = (io_part){len, 8};
  parts[np++] = (io_part){hs, hl};
  parts[np++] = (io_part){spaces, padded - hl};
  for (int i = 0; i < lay->n; i++) {
    const nw_tensor *t = &lay->t[i];
    const float *src = (t->kind == NW_PARAM ? params : stats) + t->offset;
    parts[np++] = (io_part){src, t->numel * 4}; /* x86-64 and arm64 are little-endian */
    char cnt[NW_NAME_MAX + 32];
    if (bn_counter(t->name, cnt, sizeof cnt)) parts[np++] = (io_part){&counter, 8};
  }
  int rc = io_write_parts(path, parts, np, 1, e);
  free(parts);
  free(hs);
  return rc;
}

/* Where the last tensor the header describes ends: a whole file's data is
 * indexed to its last byte (the format requires it), so a truncated file
 * shows; -1 when an entry's offsets are not two ordered whole numbers. */
static double indexed_bytes(const cJSON *h) {
  double end = 0;
  const cJSON *o;
  cJSON_ArrayForEach(o, h) {
    if (strcmp(o->string, "__metadata__") == 0) continue;
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
    const cJSON *a = cJSON_GetArrayItem(of, 0), *z = cJSON_GetArrayItem(of, 1);
    if (!cJSON_IsArray(of) || !cJSON_IsNumber(a) || !cJSON_IsNumber(z) || a->valuedouble < 0 ||
        z->valuedouble < a->valuedouble || z->valuedouble > 0x1p53 || z->valuedouble != floor(z->valuedouble))
      return -1;
    if (z->valuedouble > end) end = z->valuedouble;
  }
  return end;
}

/* The JSON header of N bytes at B (the 8-byte length, then the header);
 * *hl: its length.  NULL when the bytes are not a safetensors file. */
static cJSON *header_of(const char *b, size_t n, uint64_t *hl) {
  *hl = 0;
  for (int i = 7; i >= 0 && n >= 8; i--) *hl = *hl << 8 | (unsigned char)b[i];
  return n >= 8 && *hl <= n - 8 ? cJSON_ParseWithLength(b + 8, (size_t)*hl) : NULL;
}

int rt_safetensors_read(const char *path, const nw_layout *lay, float *params, float *stats, err_t *e) {
  size_t n;
  char *b = io_read_file(path, "the weights", RT_SAFETENSORS_MAX_BYTES, &n, e);
  if (!b) return -1;
  int rc = rt_safetensors_parse(b, n, lay, params, stats, path, e);
  free(b);
  return rc;
}

int rt_safetensors_parse(const char *b, size_t n, const nw_layout *lay, float *params, float *stats, const char *path,
                         err_t *e) {
  int rc = 0;
  uint64_t hl;
  cJSON *h = header_of(b, n, &hl);
  if (!h) return err_set(e, "%s: not a safetensors file, or its header is damaged", path);
  const char *data = b + 8 + hl;
  size_t dn = n - 8 - hl;
  if (!cJSON_IsObject(h) || indexed_bytes(h) != (double)dn)
    rc = err_set(e, "%s: the header does not describe the %zu bytes of data that follow it: damaged or truncated", path,
                 dn);
  for (int i = 0; i < lay->n && rc == 0; i++) {
    const nw_tensor *t = &lay->t[i];
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(h, t->name);
    if (!o) {
      rc = err_set(e, "%s has no tensor '%s': the weights belong to another network or genotype", path, t->name);
      break;
    }
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shape"), *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
    if (!cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 ||
        !cJSON_IsNumber(cJSON_GetArrayItem(of, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(of, 1))) {
      rc = err_set(e, "%s: tensor '%s' lacks its shape or its data_offsets (two numbers): a damaged header", path,
                   t->name);
      break;
    }
    int same = cJSON_GetArraySize(sh) == t->ndim;
    for (int k = 0; k < t->ndim && same; k++) {
      const cJSON *d = cJSON_GetArrayItem(sh, k);
      same = cJSON_IsNumber(d) && d->valuedouble == t->shape[k];
    }
    if (!same) {
      char want[64] = "", got[64] = "";
      for (int k = 0; k < t->ndim; k++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", k ? "x" : "", t->shape[k]);
      for (int k = 0; k < cJSON_GetArraySize(sh); k++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", k ? "x" : "", cJSON_GetArrayItem(sh, k)->valueint);
      rc = err_set(e, "%s: tensor '%s' is %s, the network needs %s: the weights do not match this genotype and network",
                   path, t->name, got, want);
      break;
    }
    if (!cJSON_IsString(dt) || strcmp(dt->valuestring, "F32") != 0) {
      rc = err_set(e, "%s: tensor '%s' is not float32", path, t->name);
      break;
    }
    double a = cJSON_GetArrayItem(of, 0)->valuedouble, z = cJSON_GetArrayItem(of, 1)->valuedouble;
    if (!(a >= 0 && z <= (double)dn && z - a == (double)t->numel * 4 && a == (double)(size_t)a)) {
      rc = err_set(e, "%s: tensor '%s' lies outside the file (truncated?)", path, t->name);
      break;
    }
    memcpy((t->kind == NW_PARAM ? params : stats) + t->offset, data + (size_t)a, t->numel * 4);
  }
  cJSON_Delete(h);
  return rc;
}

char *rt_safetensors_meta(const char *path, const char *key, err_t *e) {
  size_t n;
  char *b = io_read_file(path, "the weights", RT_SAFETENSORS_MAX_BYTES, &n, e);
  if (!b) return NULL;
  uint64_t hl;
  char *out = NULL;
  cJSON *h = header_of(b, n, &hl);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "__metadata__"), key);
  if (cJSON_IsString(v)) out = strdup(v->valuestring);
  cJSON_Delete(h);
  if (!out) err_set(e, "%s: no '%s' in its metadata (written by parsec-run train?)", path, key);
  free(b);
  return out;
}
