/* The random stream every seeded choice draws from (xoshiro256**, seeded
 * through splitmix64): data order, samples, initial weights.  One seed gives
 * one run. */
#ifndef PARSEC_RT_RNG_H
#define PARSEC_RT_RNG_H
#include <stdint.h>

typedef struct {
  uint64_t s[4];
} rt_rng;

void rt_rng_seed(rt_rng *r, uint64_t seed);
uint64_t rt_rng_next(rt_rng *r);
double rt_rng_uniform(rt_rng *r);      /* [0, 1) */
uint32_t rt_rng_below(rt_rng *r, uint32_t n); /* [0, n), unbiased */
/* Fisher-Yates */
void rt_rng_shuffle(rt_rng *r, int *v, int n);
/* The state as four hex strings under NAME in a cJSON object (checkpoints),
 * and back; -1 with a message when absent or malformed. */
struct cJSON;
void rt_rng_to_json(struct cJSON *o, const char *name, const rt_rng *r);
#include "err.h"
int rt_rng_from_json(const struct cJSON *o, const char *name, rt_rng *r, err_t *e);

#endif
