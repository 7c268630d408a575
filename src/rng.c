/* rng.c -- xoshiro256** (Blackman and Vigna), seeded per process from getrandom(2)
 *
 * Not for secrets: it decides which operator gets a contact. Seeding from the kernel in each
 * worker after fork keeps workers from drawing the same sequence.
 */
#include "crm/rng.h"

#include <errno.h>
#include <sys/random.h>

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

bool crm_rng_seed(struct crm_rng *rng)
{
	char *p = (char *)rng->s;
	size_t got = 0;

	while (got < sizeof(rng->s)) {
		ssize_t n = getrandom(p + got, sizeof(rng->s) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		got += (size_t)n;
	}
	if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
		rng->s[0] = 1; /* the all-zero state is a fixed point */
	return true;
}

void crm_rng_seed_fixed(struct crm_rng *rng, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&seed);
}

uint64_t crm_rng_next(struct crm_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t crm_rng_below(struct crm_rng *rng, uint64_t bound)
{
	/* Lemire, "Fast random integer generation in an interval" (2019) */
	unsigned __int128 m = (unsigned __int128)crm_rng_next(rng) * bound;
	uint64_t low = (uint64_t)m;

	if (low < bound) {
		uint64_t threshold = -bound % bound;

		while (low < threshold) {
			m = (unsigned __int128)crm_rng_next(rng) * bound;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}
