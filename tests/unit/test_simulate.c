/* test_simulate.c -- the dry run's arithmetic (simulate.c) against cases computed by hand,
 * the exact programme against the Monte Carlo, and a big case's bound on work and time */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "crm/simulate.h"
#include "crm/util.h"

static bool near(double a, double b, double tol)
{
	return fabs(a - b) <= tol;
}

static struct crm_sim_operator op(int64_t id, int32_t weight, int32_t load, int32_t limit, bool eligible)
{
	return (struct crm_sim_operator){.operator_id = id,
		.weight = weight,
		.load = load,
		.limit = limit,
		.eligible_now = eligible};
}

static struct crm_sim_result run(struct crm_sim_operator *ops, size_t n, int64_t contacts, int64_t waiting)
{
	struct crm_sim_params p = {.mode = CRM_SIM_WEIGHTED_RANDOM,
		.contacts = contacts,
		.waiting = waiting,
		.seed = 1};
	struct crm_sim_result r;

	crm_simulate(&p, ops, n, &r);
	return r;
}

/* w = 1, 1; room 1 and 100; 2 arrivals. The first goes to A with 1/2; if it went to B, the
 * second goes to A with 1/2: E[A] = 1/2 + 1/4 = 3/4, E[B] = 5/4. */
static void test_one_fills(void)
{
	struct crm_sim_operator ops[] = {op(1, 1, 0, 1, true), op(2, 1, 0, 100, true)};
	struct crm_sim_result r = run(ops, 2, 2, 0);

	CHECK(r.method == CRM_SIM_EXACT);
	CHECK(near(ops[0].expected, 0.75, 1e-12) && near(ops[1].expected, 1.25, 1e-12));
	CHECK(near(ops[0].share, 0.375, 1e-12) && near(r.expected_waiting, 0, 1e-12));
	CHECK(ops[0].std_error == 0 && r.runs == 0 && r.free_slots == 101);

	/* one contact already waits: it is served first, the new one is arrival 2:
	 * A: 3/4 - 1/2 = 1/4, B: 5/4 - 1/2 = 3/4 */
	r = run(ops, 2, 1, 1);
	CHECK(r.method == CRM_SIM_EXACT);
	CHECK(near(ops[0].expected, 0.25, 1e-12) && near(ops[1].expected, 0.75, 1e-12));
}

/* w = 1, 2, 3, one slot each, 2 arrivals: P(i among the first two drawn without replacement):
 * 5/12, 11/15, 17/20 (they sum to 2). */
static void test_without_replacement(void)
{
	struct crm_sim_operator ops[] = {op(1, 1, 4, 5, true), op(2, 2, 0, 1, true), op(3, 3, 9, 10, true)};
	struct crm_sim_result r = run(ops, 3, 2, 0);

	CHECK(r.method == CRM_SIM_EXACT);
	CHECK(near(ops[0].expected, 5.0 / 12, 1e-12) && near(ops[1].expected, 11.0 / 15, 1e-12));
	CHECK(near(ops[2].expected, 17.0 / 20, 1e-12));

	/* 3 arrivals: everybody fills (closed form) */
	r = run(ops, 3, 3, 0);
	CHECK(r.method == CRM_SIM_CLOSED_FORM);
	CHECK(ops[0].expected == 1 && ops[1].expected == 1 && ops[2].expected == 1 && r.expected_waiting == 0);
}

static void test_closed_forms(void)
{
	struct crm_sim_operator ops[] = {op(1, 1, 0, 10, true), op(2, 3, 5, 15, true), op(3, 5, 0, 10, false),
		op(4, 7, 10, 10, true), op(5, 7, 12, 10, true)};
	struct crm_sim_result r;

	/* nobody can fill within 5 arrivals: N w / sum of the eligible weights (inactive 3, full 4, 5) */
	r = run(ops, 5, 5, 0);
	CHECK(r.method == CRM_SIM_CLOSED_FORM && r.free_slots == 20);
	CHECK(near(ops[0].expected, 1.25, 1e-12) && near(ops[1].expected, 3.75, 1e-12));
	CHECK(ops[2].expected == 0 && ops[3].expected == 0 && ops[4].expected == 0 && r.expected_waiting == 0);
	CHECK(near(ops[1].share, 0.75, 1e-12));

	/* more arrivals than room: everybody fills, the rest wait */
	r = run(ops, 5, 50, 0);
	CHECK(r.method == CRM_SIM_CLOSED_FORM);
	CHECK(ops[0].expected == 10 && ops[1].expected == 10 && ops[2].expected == 0 &&
		near(r.expected_waiting, 30, 0));

	/* the waiting contacts take all the room: every new one waits */
	r = run(ops, 5, 7, 20);
	CHECK(r.method == CRM_SIM_CLOSED_FORM && ops[0].expected == 0 && ops[1].expected == 0);
	CHECK(r.expected_waiting == 7);

	/* nobody configured, nobody eligible */
	r = run(ops, 0, 3, 0);
	CHECK(r.expected_waiting == 3 && r.free_slots == 0);
	r = run(ops + 2, 3, 4, 0);
	CHECK(r.expected_waiting == 4 && ops[2].expected == 0 && ops[2].share == 0);
}

/* The Monte Carlo against the exact programme on the same case: within 4 standard errors, and
 * each standard error under 0.5 % of its figure; the same seed gives the same answer. */
static void test_monte_carlo_vs_exact(void)
{
	struct crm_sim_operator ex[] = {op(1, 5, 0, 5, true), op(2, 3, 0, 10, true), op(3, 2, 5, 25, true),
		op(4, 1, 0, 40, true), op(5, 4, 0, 1000, true)};
	struct crm_sim_operator mc[CRM_COUNT(ex)], again[CRM_COUNT(ex)];
	struct crm_sim_params p = {.mode = CRM_SIM_WEIGHTED_RANDOM, .contacts = 60, .waiting = 3, .seed = 42};
	struct crm_sim_result re, rm, ra;
	double sum = 0;

	crm_simulate(&p, ex, CRM_COUNT(ex), &re);
	CHECK(re.method == CRM_SIM_EXACT);
	for (size_t i = 0; i < CRM_COUNT(ex); i++) {
		mc[i] = again[i] = ex[i];
		sum += ex[i].expected;
	}
	CHECK(near(sum + re.expected_waiting, 60, 1e-9));
	p.exact_budget = 1;
	crm_simulate(&p, mc, CRM_COUNT(mc), &rm);
	crm_simulate(&p, again, CRM_COUNT(again), &ra);
	CHECK(rm.method == CRM_SIM_MONTE_CARLO && rm.runs >= CRM_SIM_MC_RUNS_MIN);
	for (size_t i = 0; i < CRM_COUNT(ex); i++) {
		CHECK(near(mc[i].expected, ex[i].expected, 4 * mc[i].std_error + 1e-9));
		CHECK(mc[i].std_error <= 0.005 * ex[i].expected);
		CHECK(mc[i].expected == again[i].expected);
		printf("  operator %d: exact %.6f  monte carlo %.6f +- %.6f\n", (int)ex[i].operator_id, ex[i].expected,
			mc[i].expected, mc[i].std_error);
	}
	CHECK(near(rm.expected_waiting, re.expected_waiting, 1e-9));
}

/* 100,000 contacts over 1,000 operators with 150 free slots each, equal weights: by symmetry
 * each expects exactly 100. The Monte Carlo must say so within 4 standard errors, each under
 * 1 % of 100, within its work budget. */
static void test_big_symmetric(void)
{
	static struct crm_sim_operator ops[1000];
	struct crm_sim_result r;
	struct timespec t0, t1;
	double worst = 0;

	for (size_t i = 0; i < CRM_COUNT(ops); i++)
		ops[i] = op((int64_t)i + 1, 10, 50, 200, true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = run(ops, CRM_COUNT(ops), CRM_SIM_CONTACTS_MAX, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(r.method == CRM_SIM_MONTE_CARLO);
	CHECK(r.simulated_arrivals <= CRM_SIM_MC_BUDGET + 2 * CRM_SIM_MC_RUNS_MIN * CRM_SIM_CONTACTS_MAX);
	for (size_t i = 0; i < CRM_COUNT(ops); i++) {
		CHECK(near(ops[i].expected, 100, 4 * ops[i].std_error + 1e-9));
		CHECK(ops[i].std_error < 1.0);
		if (ops[i].std_error > worst)
			worst = ops[i].std_error;
	}
	CHECK(near(r.expected_waiting, 0, 1e-6));
	printf("  1000 x 100000: %d runs, %lld arrivals drawn, worst standard error %.4f, %.3f s\n", r.runs,
		(long long)r.simulated_arrivals, worst,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* The hard case: 1,000 operators of weights 1..10 and 100..139 free slots (120,000 in all)
 * for 100,000 contacts, so that most of them fill up: bounded work, every figure between 0 and
 * its room, the figures summing to the contacts, and the precision reached or the budget used. */
static void test_big_fills(void)
{
	static struct crm_sim_operator ops[1000];
	struct crm_sim_result r;
	struct timespec t0, t1;
	double worst = 0, sum = 0;

	for (size_t i = 0; i < CRM_COUNT(ops); i++)
		ops[i] = op((int64_t)i + 1, (int32_t)(i % 10) + 1, 0, 100 + (int32_t)(i % 40), true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = run(ops, CRM_COUNT(ops), CRM_SIM_CONTACTS_MAX, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(r.method == CRM_SIM_MONTE_CARLO);
	CHECK(r.simulated_arrivals <= CRM_SIM_MC_BUDGET + 2 * CRM_SIM_MC_RUNS_MIN * CRM_SIM_CONTACTS_MAX);
	for (size_t i = 0; i < CRM_COUNT(ops); i++) {
		CHECK(ops[i].expected >= 0 && ops[i].expected <= ops[i].limit + 1e-9);
		sum += ops[i].expected;
		if (ops[i].std_error / ops[i].expected > worst)
			worst = ops[i].std_error / ops[i].expected;
	}
	CHECK(near(sum, CRM_SIM_CONTACTS_MAX, 0.001 * CRM_SIM_CONTACTS_MAX) && r.expected_waiting == 0);
	/* weight 10 fills before weight 1 */
	CHECK(ops[9].expected > ops[0].expected);
	printf("  1000 x 100000, most fill: %d runs, %lld arrivals drawn, worst relative standard error %.5f, %.3f s\n",
		r.runs, (long long)r.simulated_arrivals, worst,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* --- least loaded: water-filling, every case by hand --- */

static struct crm_sim_result run_ll(struct crm_sim_operator *ops, size_t n, int64_t contacts, int64_t waiting,
	int64_t budget)
{
	struct crm_sim_params p = {.mode = CRM_SIM_LEAST_LOADED,
		.contacts = contacts,
		.waiting = waiting,
		.seed = 7,
		.exact_budget = budget};
	struct crm_sim_result r;

	crm_simulate(&p, ops, n, &r);
	return r;
}

/* w = 1, 1, loads 0, 0: slots at load / weight 0, 0, 1, 1, ...; 3 arrivals: one each at 0, then
 * the tie at 1 splits 1/2 each. With one contact waiting (the tie at 0 split by it): still 1.5. */
static void test_ll_even(void)
{
	struct crm_sim_operator ops[] = {op(1, 1, 0, 10, true), op(2, 1, 0, 10, true)};
	struct crm_sim_result r = run_ll(ops, 2, 3, 0, 0);

	CHECK(r.method == CRM_SIM_CLOSED_FORM && r.runs == 0);
	CHECK(near(ops[0].expected, 1.5, 1e-12) && near(ops[1].expected, 1.5, 1e-12));
	CHECK(ops[0].std_error == 0 && near(r.expected_waiting, 0, 1e-12));
	r = run_ll(ops, 2, 3, 1, 0);
	CHECK(near(ops[0].expected, 1.5, 1e-12) && near(ops[1].expected, 1.5, 1e-12));
	/* 2 waiting, 2 new: arrivals 3 and 4, the slots at key 1: one each */
	r = run_ll(ops, 2, 2, 2, 0);
	CHECK(near(ops[0].expected, 1, 1e-12) && near(ops[1].expected, 1, 1e-12));
}

/* w = 1, 2, loads 0, 0: A's slots at 0, 1, 2; B's at 0, 1/2, 1, 3/2. 3 arrivals: A 1, B 2 (keys 0,
 * 0, 1/2); 4 arrivals: the tie at 1 goes to A with 1/3, B 2/3: A 4/3, B 8/3. */
static void test_ll_weights(void)
{
	struct crm_sim_operator ops[] = {op(1, 1, 0, 10, true), op(2, 2, 0, 10, true)};
	struct crm_sim_result r = run_ll(ops, 2, 3, 0, 0);

	CHECK(r.method == CRM_SIM_CLOSED_FORM);
	CHECK(near(ops[0].expected, 1, 1e-12) && near(ops[1].expected, 2, 1e-12));
	r = run_ll(ops, 2, 4, 0, 0);
	CHECK(near(ops[0].expected, 4.0 / 3, 1e-12) && near(ops[1].expected, 8.0 / 3, 1e-12));
}

/* Loads differ: w = 1, 1; A load 3 limit 5, B load 0 limit 5; an inactive C and a full D get 0.
 * 4 arrivals: B, B, B (keys 0, 1, 2), then the tie at 3 splits: A 1/2, B 3.5. 8 arrivals: A's 2
 * and B's 5 slots fill, the 8th waits. */
static void test_ll_loads(void)
{
	struct crm_sim_operator ops[] = {op(1, 1, 3, 5, true), op(2, 1, 0, 5, true), op(3, 1, 0, 5, false),
		op(4, 1, 5, 5, true)};
	struct crm_sim_result r = run_ll(ops, 4, 4, 0, 0);

	CHECK(near(ops[0].expected, 0.5, 1e-12) && near(ops[1].expected, 3.5, 1e-12));
	CHECK(ops[2].expected == 0 && ops[3].expected == 0 && r.free_slots == 7);
	r = run_ll(ops, 4, 8, 0, 0);
	CHECK(near(ops[0].expected, 2, 1e-12) && near(ops[1].expected, 5, 1e-12));
	CHECK(near(r.expected_waiting, 1, 1e-12));
}

/* A three-way tie with w = 1, 2, 3 (loads 1, 2, 3: every key 1), 2 arrivals: each is among the
 * first two drawn without replacement by weight: 5/12, 11/15, 17/20 (the weighted-random case of
 * test_without_replacement). Computed by the quadrature (exact); forced to the Monte Carlo, within
 * 4 standard errors. */
static void test_ll_tie_by_weight(void)
{
	struct crm_sim_operator ops[] = {op(1, 1, 1, 10, true), op(2, 2, 2, 10, true), op(3, 3, 3, 10, true)};
	const double want[] = {5.0 / 12, 11.0 / 15, 17.0 / 20};
	struct crm_sim_result r = run_ll(ops, 3, 2, 0, 0);

	CHECK(r.method == CRM_SIM_EXACT);
	for (int i = 0; i < 3; i++)
		CHECK(near(ops[i].expected, want[i], 1e-9));
	r = run_ll(ops, 3, 2, 0, 1000);
	CHECK(r.method == CRM_SIM_MONTE_CARLO && r.runs >= 1000);
	for (int i = 0; i < 3; i++)
		CHECK(ops[i].std_error > 0 && near(ops[i].expected, want[i], 4 * ops[i].std_error));
	/* 5 arrivals: the tie at 1 (3 contacts), then C's slot at 4/3 and B's at 3/2 (A's is at 2) */
	r = run_ll(ops, 3, 5, 0, 0);
	CHECK(near(ops[0].expected, 1, 1e-12) && near(ops[1].expected, 2, 1e-12) && near(ops[2].expected, 2, 1e-12));
}

/* Many operators, weights 1..10, loads 0: the figures sum to N and, far from any tie, each gets
 * its water level times its weight. */
static void test_ll_many(void)
{
	struct crm_sim_operator ops[100];
	struct crm_sim_result r;
	double sum = 0;

	for (int i = 0; i < 100; i++)
		ops[i] = op(i + 1, 1 + i % 10, 0, 1000, true);
	/* level L = 10 (every key < 10 taken, the tie at 10 is everybody: 100 operators): 550 x 10
	 * slots below it, so 5,500 arrivals give each exactly 10 x weight */
	r = run_ll(ops, 100, 5500, 0, 0);
	for (int i = 0; i < 100; i++) {
		CHECK(near(ops[i].expected, 10.0 * (1 + i % 10), 1e-9));
		sum += ops[i].expected;
	}
	CHECK(near(sum, 5500, 1e-6) && r.expected_waiting == 0);
}

/* A tie too large for the quadrature: 1,000 operators of weights 1..10, all empty (one tie at
 * key 0), 500 arrivals. Monte Carlo with standard errors; the figures sum to 500, a heavier
 * operator expects more, and each is within 4.5 standard errors of the mean of its weight class
 * (every member of a class has the same inclusion probability). */
static void test_ll_big_tie(void)
{
	static struct crm_sim_operator ops[1000];
	double sum = 0, cls[11] = {0};
	struct crm_sim_result r;
	clock_t t0 = clock();

	for (int i = 0; i < 1000; i++)
		ops[i] = op(i + 1, 1 + i % 10, 0, 5, true);
	r = run_ll(ops, 1000, 500, 0, 0);
	CHECK(r.method == CRM_SIM_MONTE_CARLO && r.runs >= 1000);
	for (int i = 0; i < 1000; i++) {
		sum += ops[i].expected;
		cls[1 + i % 10] += ops[i].expected / 100;
		CHECK(ops[i].std_error > 0 && ops[i].std_error < 0.02);
	}
	CHECK(near(sum, 500, 1e-6) && r.expected_waiting == 0);
	for (int w = 1; w < 10; w++)
		CHECK(cls[w] < cls[w + 1]);
	for (int i = 0; i < 1000; i++)
		CHECK(near(ops[i].expected, cls[1 + i % 10], 4.5 * ops[i].std_error));
	printf("  least loaded, a tie of 1000 x 500: %d runs, %.3f s\n", r.runs,
		(double)(clock() - t0) / CLOCKS_PER_SEC);
}

int main(void)
{
	test_one_fills();
	test_without_replacement();
	test_closed_forms();
	test_monte_carlo_vs_exact();
	test_big_symmetric();
	test_big_fills();
	test_ll_even();
	test_ll_weights();
	test_ll_loads();
	test_ll_tie_by_weight();
	test_ll_many();
	test_ll_big_tie();
	return check_done("test_simulate");
}
