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

#endif
