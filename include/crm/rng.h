/* rng.h -- xoshiro256** pseudo-random generator, seeded from the kernel per process */
#ifndef CRM_RNG_H
#define CRM_RNG_H

#include <stdbool.h>
#include <stdint.h>

struct crm_rng {
	uint64_t s[4];
};

/* Seeds from getrandom(2); call in every process after fork. */
bool crm_rng_seed(struct crm_rng *rng);
/* Deterministic seed for tests. */
void crm_rng_seed_fixed(struct crm_rng *rng, uint64_t seed);
uint64_t crm_rng_next(struct crm_rng *rng);
/* Uniform in [0, bound), bound > 0, without modulo bias (Lemire's method). */
uint64_t crm_rng_below(struct crm_rng *rng, uint64_t bound);

#endif
