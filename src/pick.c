/* pick.c -- weighted random choice and weighted random order of candidates (see pick.h) */
#include "crm/pick.h"

long crm_pick_one(const struct crm_candidate *c, size_t n, struct crm_rng *rng)
{
	uint64_t total = 0, r;

	for (size_t i = 0; i < n; i++)
		total += c[i].weight; /* n * UINT32_MAX < 2^64 for any n that fits in memory */
	if (total == 0)
		return -1;
	r = crm_rng_below(rng, total);
	for (size_t i = 0; i < n; i++) {
		if (r < c[i].weight)
			return (long)i;
		r -= c[i].weight;
	}
	return -1; /* unreachable */
}

static void swap(struct crm_candidate *a, struct crm_candidate *b)
{
	struct crm_candidate t = *a;

	*a = *b;
	*b = t;
}

/* Successive sampling without replacement over c[0..n). Zero weights go last. */
static void order_group(struct crm_candidate *c, size_t n, struct crm_rng *rng)
{
	for (size_t i = 0; i + 1 < n; i++) {
		long j = crm_pick_one(c + i, n - i, rng);

		if (j < 0)
			return;
		swap(&c[i], &c[i + (size_t)j]);
	}
}

void crm_pick_order(struct crm_candidate *c, size_t n, struct crm_rng *rng)
{
	size_t k = 0;

	/* stable partition: eligible first */
	for (size_t i = 0; i < n; i++) {
		if (c[i].eligible) {
			struct crm_candidate t = c[i];

			for (size_t j = i; j > k; j--)
				c[j] = c[j - 1];
			c[k++] = t;
		}
	}
	order_group(c, k, rng);
	order_group(c + k, n - k, rng);
}
