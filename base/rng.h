/* The random stream every seeded choice draws from (xoshiro256**, seeded
 * through splitmix64): data order, samples, initial weights.  One seed gives
 * one run. */
#ifndef PARSEC_RNG_H
#define PARSEC_RNG_H
#include <stdint.h>

typedef struct {
  uint64_t s[4];
} rng_t;

void rng_seed(rng_t *r, uint64_t seed);
uint64_t rng_next(rng_t *r);
double rng_uniform(rng_t *r);      /* [0, 1) */
uint32_t rng_below(rng_t *r, uint32_t n); /* [0, n), unbiased */
/* Fisher-Yates */
void rng_shuffle(rng_t *r, int *v, int n);
/* The state as four hex strings under NAME in a cJSON object (checkpoints),
 * and back; -1 with a message when absent or malformed. */
struct cJSON;
void rng_to_json(struct cJSON *o, const char *name, const rng_t *r);
#include "err.h"
int rng_from_json(const struct cJSON *o, const char *name, rng_t *r, err_t *e);

#endif
