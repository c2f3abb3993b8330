#include "rng.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void rng_seed(rng_t *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(rng_t *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

double rng_uniform(rng_t *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

uint32_t rng_below(rng_t *r, uint32_t n) {
  uint64_t m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
  uint32_t lo = (uint32_t)m;
  if (lo < n) {
    uint32_t t = (uint32_t)(-n) % n;
    while (lo < t) {
      m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
      lo = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

void rng_shuffle(rng_t *r, int *v, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)rng_below(r, (uint32_t)(i + 1));
    int t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
}

void rng_to_json(cJSON *o, const char *name, const rng_t *r) {
  cJSON *a = cJSON_AddArrayToObject(o, name);
  for (int i = 0; i < 4; i++) {
    char hex[32];
    snprintf(hex, sizeof hex, "%016" PRIx64, r->s[i]);
    cJSON_AddItemToArray(a, cJSON_CreateString(hex));
  }
}

int rng_from_json(const cJSON *o, const char *name, rng_t *r, err_t *e) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, name);
  if (cJSON_GetArraySize(a) != 4) return err_set(e, "checkpoint lacks the '%s' random state", name);
  for (int i = 0; i < 4; i++) {
    const cJSON *v = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsString(v)) return err_set(e, "checkpoint: bad '%s' random state", name);
    r->s[i] = strtoull(v->valuestring, NULL, 16);
  }
  return 0;
}
