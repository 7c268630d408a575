/* test_pick.c -- the weighted draw and the weighted order of candidates
 *
 * Statistical checks use fixed seeds (deterministic) and bounds of more than 6 standard
 * deviations, so a correct implementation does not fail them by chance.
 */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "crm/pick.h"

#define CAND(id, w, elig) {.operator_id = (id), .weight = (w), .eligible = (elig)}

static void test_edges(void)
{
	struct crm_rng rng;
	struct crm_candidate one = CAND(7, 5, true);
	struct crm_candidate zero[2] = {CAND(1, 0, true), CAND(2, 0, true)};

	crm_rng_seed_fixed(&rng, 1);
	CHECK(crm_pick_one(NULL, 0, &rng) == -1);
	CHECK(crm_pick_one(&one, 1, &rng) == 0);
	CHECK(crm_pick_one(zero, 2, &rng) == -1);
	crm_pick_order(NULL, 0, &rng); /* must not crash */
	crm_pick_order(&one, 1, &rng);
	CHECK(one.operator_id == 7);
}

static void test_large_weights(void)
{
	struct crm_rng rng;
	struct crm_candidate c[3] = {CAND(1, UINT32_MAX, true), CAND(2, UINT32_MAX, true), CAND(3, 1, true)};
	int hits[3] = {0};

	crm_rng_seed_fixed(&rng, 2);
	for (int i = 0; i < 100000; i++)
		hits[crm_pick_one(c, 3, &rng)]++;
	/* no overflow: the two huge weights share almost everything, evenly */
	CHECK(hits[2] <= 1);
	CHECK(fabs(hits[0] - 50000.0) < 6 * sqrt(100000 * 0.25));
}

static void test_distribution(void)
{
	struct crm_rng rng;
	struct crm_candidate c[3] = {CAND(1, 10, true), CAND(2, 30, true), CAND(3, 60, true)};
	const double p[3] = {0.1, 0.3, 0.6};
	const int n = 200000;
	int hits[3] = {0};

	crm_rng_seed_fixed(&rng, 3);
	for (int i = 0; i < n; i++)
		hits[crm_pick_one(c, 3, &rng)]++;
	for (int k = 0; k < 3; k++)
		CHECK(fabs(hits[k] - n * p[k]) < 6 * sqrt(n * p[k] * (1 - p[k])));
}

/* The property the database relies on: among any subset of candidates, the first one to
 * appear in the order is distributed as weight / subset total. */
static void test_order_subset_property(void)
{
	struct crm_rng rng;
	const int n = 200000;
	int first_of_subset[4] = {0};

	crm_rng_seed_fixed(&rng, 4);
	for (int i = 0; i < n; i++) {
		struct crm_candidate c[4] = {CAND(1, 10, true), CAND(2, 30, true), CAND(3, 60, true), CAND(4, 100, true)};

		crm_pick_order(c, 4, &rng);
		/* subset {1, 2}: operators 3 and 4 became ineligible meanwhile */
		for (int k = 0; k < 4; k++) {
			if (c[k].operator_id == 1 || c[k].operator_id == 2) {
				first_of_subset[c[k].operator_id - 1]++;
				break;
			}
		}
	}
	CHECK(fabs(first_of_subset[0] - n * 0.25) < 6 * sqrt(n * 0.25 * 0.75));
	CHECK(fabs(first_of_subset[1] - n * 0.75) < 6 * sqrt(n * 0.25 * 0.75));
}

static void test_order_eligible_first(void)
{
	struct crm_rng rng;

	crm_rng_seed_fixed(&rng, 5);
	for (int i = 0; i < 1000; i++) {
		struct crm_candidate c[5] = {CAND(1, 5, false), CAND(2, 5, true), CAND(3, 500, false), CAND(4, 1, true), CAND(5, 9, false)};
		int seen[6] = {0};

		crm_pick_order(c, 5, &rng);
		CHECK(c[0].eligible && c[1].eligible && !c[2].eligible && !c[3].eligible && !c[4].eligible);
		for (int k = 0; k < 5; k++)
			seen[c[k].operator_id]++;
		CHECK(seen[1] == 1 && seen[2] == 1 && seen[3] == 1 && seen[4] == 1 && seen[5] == 1);
	}
}

static void test_rng_below(void)
{
	struct crm_rng a, b;
	int buckets[7] = {0};

	crm_rng_seed_fixed(&a, 6);
	crm_rng_seed_fixed(&b, 6);
	CHECK(crm_rng_next(&a) == crm_rng_next(&b));
	for (int i = 0; i < 70000; i++) {
		uint64_t v = crm_rng_below(&a, 7);

		CHECK(v < 7);
		buckets[v]++;
	}
	for (int k = 0; k < 7; k++)
		CHECK(fabs(buckets[k] - 10000.0) < 6 * sqrt(70000 * (1.0 / 7) * (6.0 / 7)));
	CHECK(crm_rng_seed(&a));
	CHECK(crm_rng_below(&a, 1) == 0);
}

int main(void)
{
	test_edges();
	test_large_weights();
	test_distribution();
	test_order_subset_property();
	test_order_eligible_first();
	test_rng_below();
	return check_done("pick");
}
