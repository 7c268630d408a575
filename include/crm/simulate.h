/* simulate.h -- the dry run of a source's rule: what N arrivals would do, computed without I/O
 *
 * POST /api/sources/{id}/simulate reads (operator_id, weight, load, limit, eligible_now) of the
 * operators of a configuration in one read-only snapshot; this module answers, for each of them,
 * the expected number of N new contacts it would receive if they arrived now and nothing
 * closed, and the expected number that would wait. It is pure: no database, no clock, no
 * global state (the Monte Carlo draws from a generator seeded by the caller).
 *
 * The rule is the source's mode. Weighted random: each arrival goes to an eligible operator
 * (eligible now and below its limit) with probability weight / sum of the eligible weights; an
 * operator that reaches its limit drops out; with nobody eligible the contact waits. Least loaded:
 * each arrival goes to the eligible operator with the smallest load / weight, ties broken by the
 * weighted draw (water-filling). An eligibility condition (on shift) only changes what the caller
 * puts in eligible_now.
 */
#ifndef CRM_SIMULATE_H
#define CRM_SIMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRM_SIM_CONTACTS_MAX 100000

/* Work bounds (see simulate.c's DESIGN note): the exact dynamic programme runs when its state
 * updates stay within CRM_SIM_EXACT_BUDGET; the Monte Carlo runs in batches of
 * CRM_SIM_MC_RUNS_MIN until every figure's standard error is within 0.25 % (or 0.0025
 * contacts), or it has drawn CRM_SIM_MC_BUDGET arrivals, or made CRM_SIM_MC_RUNS_MAX runs: in all
 * about CRM_SIM_MC_BUDGET + 32 x min(waiting + contacts, free slots) draws (16 runs of at most
 * two draws, on average, per arrival: see the alias table in simulate.c). */
#define CRM_SIM_EXACT_BUDGET 20000000LL
#define CRM_SIM_MC_BUDGET 16000000LL
#define CRM_SIM_MC_RUNS_MIN 16
#define CRM_SIM_MC_RUNS_MAX 65536

enum crm_sim_mode {
	CRM_SIM_WEIGHTED_RANDOM, /* weight / sum of eligible weights, per arrival */
	CRM_SIM_LEAST_LOADED,    /* the smallest load / weight, ties by weight (water-filling) */
};

/* How the figures were obtained. */
enum crm_sim_method {
	CRM_SIM_CLOSED_FORM, /* nobody can fill up, or everybody does: exact by formula */
	CRM_SIM_EXACT,       /* dynamic programme over the fill states: exact up to rounding */
	CRM_SIM_MONTE_CARLO, /* runs of the process, with a standard error per figure */
};

/* One operator of the configuration: the inputs, then the outputs crm_simulate fills. */
struct crm_sim_operator {
	int64_t operator_id;
	int32_t weight;    /* > 0 */
	int32_t load;      /* active contacts now */
	int32_t limit;     /* max_load_limit */
	bool eligible_now; /* may receive a contact now (active, below its limit; later: on shift) */
	double expected;   /* out: expected contacts of the N new ones */
	double share;      /* out: expected / N */
	double std_error;  /* out: standard error of `expected` (0 when exact) */
};

struct crm_sim_params {
	enum crm_sim_mode mode;
	int64_t contacts;     /* N, the new arrivals */
	int64_t waiting;      /* contacts already waiting for this source: served first, oldest first */
	uint64_t seed;        /* of the Monte Carlo's generator: same inputs and seed, same answer */
	int64_t exact_budget; /* 0: CRM_SIM_EXACT_BUDGET; tests lower it to force the Monte Carlo */
};

struct crm_sim_result {
	enum crm_sim_method method;
	int runs;                   /* Monte Carlo runs (0 otherwise) */
	double expected_waiting;    /* of the N new contacts */
	int64_t free_slots;         /* sum over the eligible operators of limit - load */
	int64_t simulated_arrivals; /* work done: arrivals drawn (Monte Carlo) or state updates (exact) */
};

/* Fills ops[i].expected, .share, .std_error and *out. ops may be empty (everything waits). */
void crm_simulate(const struct crm_sim_params *p, struct crm_sim_operator *ops, size_t n, struct crm_sim_result *out);

/* "closed_form", "exact" or "monte_carlo"; the mode's API name ("weighted_random"). */
const char *crm_sim_method_name(enum crm_sim_method m);
const char *crm_sim_mode_name(enum crm_sim_mode m);
/* The mode of an API name (sources.mode); false for anything else, NULL included. */
bool crm_sim_mode_parse(const char *name, enum crm_sim_mode *out);

#endif
