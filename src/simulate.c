/* simulate.c -- the dry run of a source's rule, weighted random or least loaded (see simulate.h); pure, no I/O
 *
 * Owns the arithmetic of POST /api/sources/{id}/simulate and nothing else: it reads no database
 * and no clock. Memory: a few arrays of the operators' size (crm_xmalloc, freed before
 * returning); the exact programme's state vectors are bounded by CRM_SIM_EXACT_BUDGET.
 *
 * DESIGN. Operator i can take c_i = limit - load more contacts when eligible now (else 0); the
 * total free capacity is C. The source's W waiting contacts are served first (a configuration
 * that gives room drains them, oldest first, by the same rule), so the N new contacts are the
 * arrivals W+1 .. W+N, and X_i(K), the contacts i has received after K arrivals, gives
 * expected_i = E[X_i(W+N)] - E[X_i(W)]; expected_waiting = N - sum of them. After C arrivals
 * everybody is full and the rest wait, so only K <= C matters (K is capped at C below).
 *
 * 1. Closed forms. C = 0 or W >= C: every new contact waits. W = 0 and N >= C: everybody
 *    fills, X_i = c_i. No operator can fill up before the last arrival (every c_i >= K): nobody
 *    drops out, each arrival goes to i with probability w_i / sum w, so E[X_i(K)] = K w_i / sum w.
 * 2. Exact. Operators with c_i >= K never fill within K arrivals: together they are one pool of
 *    weight B whose arrivals split by weight. The others ("small") have a joint state, the vector
 *    of their counts (prod (c_j + 1) states); a dynamic programme pushes the probability of each
 *    state through K arrivals. Exact up to rounding, used while K x states x (small + 1) stays
 *    within the budget: every case a person can compute by hand.
 * 3. Monte Carlo, for the rest. Each run simulates the process but records only when each
 *    small operator fills (the pool's arrivals between two arrivals to small operators are
 *    skipped with one geometric draw). Its estimate is Rao-Blackwellised: with W(b) the weight of
 *    the operators alive before arrival b and f_i the arrival at which i fills (infinite if
 *    never), E[X_i(K)] = w_i E[G(min(f_i, K))] where G(k) = sum over b <= k of 1 / W(b): arrival
 *    b goes to i with probability w_i / W(b) while i is alive, and we average that probability
 *    instead of the 0/1 outcome. G is piecewise linear between fills, so a run costs at most two
 *    O(1) draws (a Walker alias table with rejection of the full) per arrival to a small
 *    operator, never a draw per arrival to the pool, and an operator nobody fills around
 *    contributes no noise. The count X_i itself is a second unbiased estimate (E[X_i - R_i] = 0);
 *    each figure combines the two with the least-variance weight (a control variate, see
 *    mc_estimate), which helps the operators that fill for sure, whose count does not vary. The
 *    figures are means over the runs with their standard errors, reported per operator. Runs go
 *    in batches until every standard error is within 0.25 % or the work budget is spent (about
 *    CRM_SIM_MC_BUDGET draws), so a request's time is bounded and, with the caller's seed, the
 *    answer is reproducible. Waiting needs no estimate: within the first C arrivals somebody
 *    always has room, so exactly N - (K2 - K1) of the new contacts wait.
 *
 * DESIGN, least loaded (water-filling). Operator i's j-th free slot (j = 1..c_i) has the key
 * (load_i + j - 1) / w_i, the load / weight it has when that slot is offered; an arrival goes to
 * the smallest key among the operators' next slots, and an operator's keys increase, so the
 * arrivals take the slots in the order of their keys: X_i(K) is the number of i's keys among the
 * K smallest. That is deterministic except inside a tie (equal keys, compared exactly as integer
 * cross-products, like the database's float8 keys: 20_candidates.sql); a tie holds at most one
 * slot per operator, and the arrivals serve it by the weighted draw without replacement
 * (successive sampling: the database's exponential clocks). So E[X_i(K)] = (i's keys below the
 * tie that K falls in) + pi_i(m), m = K - (slots below that tie), pi_i(m) the probability that i
 * is among the first m of the tie drawn by weight without replacement. The walk pops the tie
 * groups from a heap in key order, O((K2 + n) log n), and evaluates pi at K1 and at K2:
 * - closed form: no tie split at K (pi = 0 or 1), equal weights in the tie (pi = m / g), or m = 1
 *   (pi = w_i / sum);
 * - exact: pi_i(m) = integral over t of u_i e^(-u_i t) P(fewer than m of the others' exponential
 *   clocks, rates u_j = w_j / sum, are below t) dt; the probability is a dynamic programme over the
 *   others (O(g m)), the integral Gauss-Legendre quadrature (96 panels of 8 points over log t from
 *   u_i t = 10^-14 to 45: every hand case to 10^-12); one integral per distinct weight of the
 *   tie, while g x m x 768 x g stays within the exact budget;
 * - Monte Carlo, for a larger tie: runs of the tie's clocks (sorted, the m first counted), as
 *   many as budget / (g log g) allows (1,000 to 200,000), each pi with its binomial standard
 *   error sqrt(pi (1 - pi) / runs), reported as the operators' std_error.
 * Waiting is exact as for the weighted rule (N - (K2 - K1)).
 */
#include "crm/simulate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crm/arena.h"

const char *crm_sim_method_name(enum crm_sim_method m)
{
	switch (m) {
	case CRM_SIM_CLOSED_FORM: return "closed_form";
	case CRM_SIM_EXACT: return "exact";
	case CRM_SIM_MONTE_CARLO: return "monte_carlo";
	}
	return "unknown";
}

const char *crm_sim_mode_name(enum crm_sim_mode m)
{
	switch (m) {
	case CRM_SIM_WEIGHTED_RANDOM: return "weighted_random";
	case CRM_SIM_LEAST_LOADED: return "least_loaded";
	}
	return "unknown";
}

bool crm_sim_mode_parse(const char *name, enum crm_sim_mode *out)
{
	if (name != NULL && strcmp(name, "weighted_random") == 0)
		*out = CRM_SIM_WEIGHTED_RANDOM;
	else if (name != NULL && strcmp(name, "least_loaded") == 0)
		*out = CRM_SIM_LEAST_LOADED;
	else
		return false;
	return true;
}

static int64_t capacity(const struct crm_sim_operator *op)
{
	return op->eligible_now && op->limit > op->load ? (int64_t)op->limit - op->load : 0;
}

/* What the methods share: capacities, and the arrivals K1 = W and K2 = W + N capped at C. */
struct job {
	struct crm_sim_operator *ops;
	size_t n;
	int64_t *cap;
	int64_t k1, k2;
	int64_t big_weight; /* B: weight of the operators with room that cannot fill within K2 */
	size_t *small;      /* indexes of the operators that can (0 < c_i < K2) */
	size_t nsmall;
};

/* --- generator: xoshiro256** seeded by splitmix64 --- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t result = rotl(r->s[1] * 5, 7) * 9;
	uint64_t t = r->s[1] << 17;

	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl(r->s[3], 45);
	return result;
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* --- closed forms --- */

static void closed_all_wait(const struct crm_sim_params *p, struct job *j, struct crm_sim_result *out)
{
	for (size_t i = 0; i < j->n; i++)
		j->ops[i].expected = 0;
	out->expected_waiting = (double)p->contacts;
}

static void closed_all_fill(struct job *j)
{
	for (size_t i = 0; i < j->n; i++)
		j->ops[i].expected = (double)j->cap[i];
}

static void closed_proportional(struct job *j)
{
	int64_t sum = 0;

	for (size_t i = 0; i < j->n; i++)
		sum += j->cap[i] > 0 ? j->ops[i].weight : 0;
	for (size_t i = 0; i < j->n; i++) {
		double w = j->cap[i] > 0 ? j->ops[i].weight : 0;

		j->ops[i].expected = (double)(j->k2 - j->k1) * w / (double)sum;
	}
}

/* --- exact: dynamic programme over the small operators' counts --- */

/* Number of states, or -1 when their product passes limit. */
static int64_t dp_states(const struct job *j, int64_t limit)
{
	int64_t s = 1;

	for (size_t k = 0; k < j->nsmall; k++) {
		if (s > limit / (j->cap[j->small[k]] + 1))
			return -1;
		s *= j->cap[j->small[k]] + 1;
	}
	return s;
}

/* E[count of each small operator] under the distribution prob[], into e[]. */
static void dp_expect(const struct job *j, const double *prob, int64_t states, double *e)
{
	for (size_t k = 0; k < j->nsmall; k++)
		e[k] = 0;
	for (int64_t st = 0; st < states; st++) {
		int64_t rest = st;

		if (prob[st] == 0)
			continue;
		for (size_t k = 0; k < j->nsmall; k++) {
			int64_t radix = j->cap[j->small[k]] + 1;

			e[k] += prob[st] * (double)(rest % radix);
			rest /= radix;
		}
	}
}

/* One arrival: every state's probability moves to its successors. */
static void dp_step(const struct job *j, const int64_t *stride, const double *cur, double *nxt, int64_t states,
	double *waited)
{
	memset(nxt, 0, (size_t)states * sizeof(*nxt));
	for (int64_t st = 0; st < states; st++) {
		int64_t rest = st, alive = j->big_weight;
		double q;

		if (cur[st] == 0)
			continue;
		for (size_t k = 0; k < j->nsmall; k++) {
			int64_t radix = j->cap[j->small[k]] + 1;

			if (rest % radix < radix - 1)
				alive += j->ops[j->small[k]].weight;
			rest /= radix;
		}
		if (alive == 0) {
			nxt[st] += cur[st];
			*waited += cur[st];
			continue;
		}
		q = cur[st] / (double)alive;
		rest = st;
		for (size_t k = 0; k < j->nsmall; k++) {
			int64_t radix = j->cap[j->small[k]] + 1;

			if (rest % radix < radix - 1)
				nxt[st + stride[k]] += q * j->ops[j->small[k]].weight;
			rest /= radix;
		}
		nxt[st] += q * (double)j->big_weight;
	}
}

/* X_i(K) of every operator from the small ones' expectations e[] and the waiting mass. */
static void dp_totals(const struct job *j, const double *e, double waited, int64_t k, double *x)
{
	double small_sum = 0;

	for (size_t i = 0; i < j->n; i++)
		x[i] = 0;
	for (size_t s = 0; s < j->nsmall; s++) {
		x[j->small[s]] = e[s];
		small_sum += e[s];
	}
	for (size_t i = 0; i < j->n; i++) {
		if (j->cap[i] >= j->k2 && j->big_weight > 0)
			x[i] = ((double)k - small_sum - waited) * j->ops[i].weight / (double)j->big_weight;
	}
}

static void run_exact(struct job *j, int64_t states, struct crm_sim_result *out)
{
	double *cur = crm_xmalloc((size_t)states * sizeof(double));
	double *nxt = crm_xmalloc((size_t)states * sizeof(double));
	int64_t *stride = crm_xmalloc((j->nsmall + 1) * sizeof(int64_t));
	double *e = crm_xmalloc((j->nsmall + 1) * sizeof(double));
	double *x1 = crm_xmalloc((j->n + 1) * sizeof(double));
	double *x2 = crm_xmalloc((j->n + 1) * sizeof(double));
	double waited = 0;

	stride[0] = 1;
	for (size_t k = 1; k < j->nsmall; k++)
		stride[k] = stride[k - 1] * (j->cap[j->small[k - 1]] + 1);
	memset(cur, 0, (size_t)states * sizeof(double));
	cur[0] = 1;
	for (int64_t a = 0;; a++) {
		if (a == j->k1) {
			dp_expect(j, cur, states, e);
			dp_totals(j, e, waited, a, x1);
		}
		if (a == j->k2)
			break;
		dp_step(j, stride, cur, nxt, states, &waited);
		{
			double *t = cur;

			cur = nxt;
			nxt = t;
		}
	}
	dp_expect(j, cur, states, e);
	dp_totals(j, e, waited, j->k2, x2);
	for (size_t i = 0; i < j->n; i++)
		j->ops[i].expected = x2[i] - x1[i];
	out->simulated_arrivals = j->k2 * states;
	free(cur);
	free(nxt);
	free(stride);
	free(e);
	free(x1);
	free(x2);
}

/* --- Monte Carlo --- */

/* Draws among the small operators that still have room, by weight: a Walker alias table built
 * over the operators alive when it was built (O(1) per draw), a draw that lands on an operator
 * that has filled since is redrawn (rejection keeps the probabilities w / sum of the alive
 * weights exactly), and the table is rebuilt over the alive ones once their weight has fallen
 * below half of its weight at the build, so at most every second draw is rejected. */
struct alias {
	size_t *idx;   /* column -> small operator */
	size_t *other; /* column -> the small operator that fills the column's rest */
	double *prob;  /* column -> probability of idx rather than other */
	size_t *lo, *hi;
	size_t n;
	int64_t built; /* the alive weight when built */
};

static void alias_build(struct alias *t, const struct job *j, const int64_t *count)
{
	size_t nlo = 0, nhi = 0;

	t->n = 0;
	t->built = 0;
	for (size_t s = 0; s < j->nsmall; s++) {
		if (count[s] < j->cap[j->small[s]]) {
			t->idx[t->n++] = s;
			t->built += j->ops[j->small[s]].weight;
		}
	}
	for (size_t k = 0; k < t->n; k++) {
		t->prob[k] = (double)j->ops[j->small[t->idx[k]]].weight * (double)t->n / (double)t->built;
		t->other[k] = t->idx[k];
		if (t->prob[k] < 1.0)
			t->lo[nlo++] = k;
		else
			t->hi[nhi++] = k;
	}
	while (nlo > 0 && nhi > 0) {
		size_t l = t->lo[--nlo], g = t->hi[nhi - 1];

		t->other[l] = t->idx[g];
		t->prob[g] -= 1.0 - t->prob[l];
		if (t->prob[g] < 1.0) {
			nhi--;
			t->lo[nlo++] = g;
		}
	}
	while (nhi > 0)
		t->prob[t->hi[--nhi]] = 1.0;
	while (nlo > 0)
		t->prob[t->lo[--nlo]] = 1.0; /* rounding leftovers */
}

static size_t alias_draw(const struct alias *t, struct rng *r)
{
	double u = rng_unit(r) * (double)t->n;
	size_t k = (size_t)u;

	if (k >= t->n)
		k = t->n - 1;
	return u - (double)k < t->prob[k] ? t->idx[k] : t->other[k];
}

/* G(k) = sum over arrivals b <= k of 1 / W(b): pieces start at the fills. */
struct piece {
	int64_t a0;    /* the piece starts after arrival a0 */
	double g0;     /* G(a0) */
	int64_t alive; /* W(b) for b in the piece */
};

struct mc {
	struct job *j;
	struct alias al;
	int64_t *count;  /* per small operator */
	int64_t *count1; /* per small operator: its count after arrival K1 */
	size_t *slot;    /* per operator: its index among the small ones, SIZE_MAX if none */
	int64_t *fill;   /* per operator: arrival at which it filled, INT64_MAX if not */
	double *gfill;   /* per operator: G at its fill */
	struct piece *pieces;
	size_t npieces;
	int64_t drawn;
};

static double g_at(const struct mc *m, int64_t k)
{
	const struct piece *p = &m->pieces[0];

	for (size_t i = 1; i < m->npieces && m->pieces[i].a0 <= k; i++)
		p = &m->pieces[i];
	return p->alive > 0 ? p->g0 + (double)(k - p->a0) / (double)p->alive : p->g0;
}

static void mc_reset(struct mc *m, int64_t small_weight)
{
	struct job *j = m->j;

	for (size_t s = 0; s < j->nsmall; s++)
		m->count[s] = 0;
	alias_build(&m->al, j, m->count);
	for (size_t i = 0; i < j->n; i++)
		m->fill[i] = INT64_MAX;
	m->pieces[0] = (struct piece){0, 0.0, j->big_weight + small_weight};
	m->npieces = 1;
}

/* One run of the process up to arrival K2, recording the fills. */
static void mc_run(struct mc *m, struct rng *r, int64_t small_weight)
{
	struct job *j = m->j;
	int64_t a = 0, ws = small_weight;
	bool snap = false;

	mc_reset(m, small_weight);
	while (ws > 0) {
		int64_t alive = j->big_weight + ws, gap = 0;
		size_t s;

		if (j->big_weight > 0) {
			double u = 1.0 - rng_unit(r); /* (0, 1] */
			double g = floor(log(u) / log1p(-(double)ws / (double)alive));

			gap = g < (double)(j->k2 - a) ? (int64_t)g : j->k2 - a;
		}
		if (a + gap + 1 > j->k1 && !snap) {
			memcpy(m->count1, m->count, j->nsmall * sizeof(int64_t));
			snap = true;
		}
		if (a + gap + 1 > j->k2)
			break;
		a += gap + 1;
		do {
			s = alias_draw(&m->al, r);
			m->drawn++;
		} while (m->count[s] >= j->cap[j->small[s]]);
		if (++m->count[s] < j->cap[j->small[s]])
			continue;
		{
			size_t i = j->small[s];
			const struct piece *p = &m->pieces[m->npieces - 1];
			double g = p->g0 + (double)(a - p->a0) / (double)p->alive;

			m->fill[i] = a;
			m->gfill[i] = g;
			ws -= j->ops[i].weight;
			m->pieces[m->npieces++] = (struct piece){a, g, j->big_weight + ws};
			if (ws > 0 && 2 * ws < m->al.built)
				alias_build(&m->al, j, m->count);
		}
	}
	if (!snap)
		memcpy(m->count1, m->count, j->nsmall * sizeof(int64_t));
}

/* Per operator, over the runs: x is the contacts it got among the new ones (small operators
 * only; the pool's split is not drawn), r the Rao-Blackwellised estimate of the same. */
struct acc {
	double sx, sr, sxx, srr, sxr;
};

/* Adds one run's figures to the sums. */
static void mc_collect(struct mc *m, struct acc *acc)
{
	struct job *j = m->j;
	double g1 = g_at(m, j->k1), g2 = g_at(m, j->k2);

	for (size_t i = 0; i < j->n; i++) {
		double lo = m->fill[i] <= j->k1 ? m->gfill[i] : g1;
		double hi = m->fill[i] <= j->k2 ? m->gfill[i] : g2;
		double r = j->cap[i] > 0 ? j->ops[i].weight * (hi - lo) : 0, x = r;

		acc[i].sr += r;
		acc[i].srr += r * r;
		if (m->slot[i] != SIZE_MAX)
			x = (double)(m->count[m->slot[i]] - m->count1[m->slot[i]]);
		acc[i].sx += x;
		acc[i].sxx += x * x;
		acc[i].sxr += x * r;
	}
}

/* The estimate of E[x] with r as a control variate (E[x - r] = 0: the martingale of the DESIGN
 * note): mean(x) - beta mean(x - r), beta = cov(x, x - r) / var(x - r), the combination of the
 * two unbiased estimates with the least variance. Its standard error into *se. */
static double mc_estimate(const struct acc *a, int runs, double *se)
{
	double n = runs, mx = a->sx / n, mr = a->sr / n;
	double vx = (a->sxx - n * mx * mx) / (n - 1), vr = (a->srr - n * mr * mr) / (n - 1);
	double cxr = (a->sxr - n * mx * mr) / (n - 1);
	double vd = vx + vr - 2 * cxr, cxd = vx - cxr, beta, v;

	if (vd <= 1e-12 * (vx + vr + 1e-300)) {
		*se = vx > 0 ? sqrt(vx / n) : 0;
		return mx;
	}
	beta = cxd / vd;
	v = vx - cxd * cxd / vd;
	*se = v > 0 ? sqrt(v / n) : 0;
	return mx - beta * (mx - mr);
}

/* Every figure known to a quarter of a percent (or 0.0025 contacts): 4 standard errors within 1 %. */
static bool mc_precise(struct job *j, const struct acc *acc, int runs)
{
	for (size_t i = 0; i < j->n; i++) {
		double se, e = mc_estimate(&acc[i], runs, &se);

		if (se > 0.0025 * (e > 1 ? e : 1))
			return false;
	}
	return true;
}

static void run_monte_carlo(const struct crm_sim_params *p, struct job *j, struct crm_sim_result *out)
{
	struct mc m = {.j = j};
	struct rng r;
	struct acc *acc = calloc(j->n + 1, sizeof(*acc));
	int64_t small_weight = 0;
	int runs = 0;

	if (acc == NULL)
		abort();
	m.al.idx = crm_xmalloc((j->nsmall + 1) * sizeof(size_t));
	m.al.other = crm_xmalloc((j->nsmall + 1) * sizeof(size_t));
	m.al.prob = crm_xmalloc((j->nsmall + 1) * sizeof(double));
	m.al.lo = crm_xmalloc((j->nsmall + 1) * sizeof(size_t));
	m.al.hi = crm_xmalloc((j->nsmall + 1) * sizeof(size_t));
	m.count = crm_xmalloc((j->nsmall + 1) * sizeof(int64_t));
	m.count1 = crm_xmalloc((j->nsmall + 1) * sizeof(int64_t));
	m.slot = crm_xmalloc((j->n + 1) * sizeof(size_t));
	m.fill = crm_xmalloc((j->n + 1) * sizeof(int64_t));
	m.gfill = crm_xmalloc((j->n + 1) * sizeof(double));
	m.pieces = crm_xmalloc((j->nsmall + 1) * sizeof(struct piece));
	for (size_t i = 0; i < j->n; i++)
		m.slot[i] = SIZE_MAX;
	for (size_t s = 0; s < j->nsmall; s++) {
		small_weight += j->ops[j->small[s]].weight;
		m.slot[j->small[s]] = s;
	}
	rng_seed(&r, p->seed);
	do {
		for (int k = 0; k < CRM_SIM_MC_RUNS_MIN; k++, runs++) {
			mc_run(&m, &r, small_weight);
			mc_collect(&m, acc);
		}
	} while (runs < CRM_SIM_MC_RUNS_MAX && m.drawn < CRM_SIM_MC_BUDGET && !mc_precise(j, acc, runs));
	for (size_t i = 0; i < j->n; i++)
		j->ops[i].expected = mc_estimate(&acc[i], runs, &j->ops[i].std_error);
	out->runs = runs;
	out->simulated_arrivals = m.drawn;
	free(acc);
	free(m.al.idx);
	free(m.al.other);
	free(m.al.prob);
	free(m.al.lo);
	free(m.al.hi);
	free(m.count);
	free(m.count1);
	free(m.slot);
	free(m.fill);
	free(m.gfill);
	free(m.pieces);
}

/* --- the weighted random rule --- */

static void weighted_random(const struct crm_sim_params *p, struct job *j, struct crm_sim_result *out)
{
	int64_t total = out->free_slots, states, budget = p->exact_budget > 0 ? p->exact_budget : CRM_SIM_EXACT_BUDGET;

	if (total == 0 || p->waiting >= total) {
		out->method = CRM_SIM_CLOSED_FORM;
		closed_all_wait(p, j, out);
		return;
	}
	j->k1 = p->waiting;
	j->k2 = p->waiting + p->contacts < total ? p->waiting + p->contacts : total;
	if (p->waiting == 0 && j->k2 == total) {
		out->method = CRM_SIM_CLOSED_FORM;
		closed_all_fill(j);
		return;
	}
	for (size_t i = 0; i < j->n; i++) {
		if (j->cap[i] > 0 && j->cap[i] < j->k2)
			j->small[j->nsmall++] = i;
		else if (j->cap[i] > 0)
			j->big_weight += j->ops[i].weight;
	}
	if (j->nsmall == 0) {
		out->method = CRM_SIM_CLOSED_FORM;
		closed_proportional(j);
		return;
	}
	states = dp_states(j, budget);
	if (states > 0 && states <= budget / j->k2 / (int64_t)(j->nsmall + 1)) {
		out->method = CRM_SIM_EXACT;
		run_exact(j, states, out);
		return;
	}
	out->method = CRM_SIM_MONTE_CARLO;
	run_monte_carlo(p, j, out);
}

/* --- the least-loaded rule: water-filling (DESIGN, least loaded) --- */

/* The operators with room, as a binary heap on the key of their next slot, (load + taken) / weight,
 * compared exactly by cross-multiplication (both factors are at most 2 x 10^6). */
struct ll {
	struct job *j;
	int64_t *next; /* per operator: load + contacts taken so far */
	size_t *heap;
	size_t n;
	size_t *group; /* the operators of the smallest key, popped together */
	size_t ngroup;
	double *pi, *pse; /* per group member: inclusion probability and its standard error */
	int64_t runs;     /* Monte Carlo runs of the last estimate (0: none) */
};

static int ll_cmp(const struct ll *l, size_t a, size_t b)
{
	int64_t x = l->next[a] * (int64_t)l->j->ops[b].weight, y = l->next[b] * (int64_t)l->j->ops[a].weight;

	return x < y ? -1 : x > y;
}

static void ll_swap(size_t *a, size_t *b)
{
	size_t t = *a;

	*a = *b;
	*b = t;
}

static void ll_push(struct ll *l, size_t i)
{
	size_t k = l->n++;

	l->heap[k] = i;
	while (k > 0 && ll_cmp(l, l->heap[k], l->heap[(k - 1) / 2]) < 0) {
		ll_swap(&l->heap[k], &l->heap[(k - 1) / 2]);
		k = (k - 1) / 2;
	}
}

static size_t ll_pop(struct ll *l)
{
	size_t top = l->heap[0], k = 0;

	l->heap[0] = l->heap[--l->n];
	for (;;) {
		size_t c = 2 * k + 1;

		if (c >= l->n)
			break;
		if (c + 1 < l->n && ll_cmp(l, l->heap[c + 1], l->heap[c]) < 0)
			c++;
		if (ll_cmp(l, l->heap[c], l->heap[k]) >= 0)
			break;
		ll_swap(&l->heap[c], &l->heap[k]);
		k = c;
	}
	return top;
}

/* Pops every operator whose next key equals the smallest one: the tie group. */
static void ll_pop_group(struct ll *l)
{
	l->ngroup = 0;
	l->group[l->ngroup++] = ll_pop(l);
	while (l->n > 0 && ll_cmp(l, l->heap[0], l->group[0]) == 0)
		l->group[l->ngroup++] = ll_pop(l);
}

/* 8-point Gauss-Legendre nodes and weights on [-1, 1]. */
static const double gl_x[4] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363};
static const double gl_w[4] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};

/* P(fewer than m of the other group members have a clock below t), rates w_j / sum (u[]). */
static double ll_fewer(const double *u, size_t g, size_t self, int64_t m, double t, double *q)
{
	double f = 0;

	for (int64_t c = 0; c < m; c++)
		q[c] = c == 0;
	for (size_t k = 0; k < g; k++) {
		double p;

		if (k == self)
			continue;
		p = -expm1(-u[k] * t);
		for (int64_t c = m - 1; c > 0; c--)
			q[c] = q[c] * (1 - p) + q[c - 1] * p;
		q[0] *= 1 - p;
	}
	for (int64_t c = 0; c < m; c++)
		f += q[c];
	return f;
}

/* pi of member `self`: the integral over t of u e^(-u t) P(fewer than m others before t), on a
 * log scale of t (96 panels of 8-point Gauss-Legendre from u t = 10^-14 to u t = 45). */
static double ll_integral(const double *u, size_t g, size_t self, int64_t m, double *q)
{
	double lo = log(1e-14 / u[self]), hi = log(45.0 / u[self]), h = (hi - lo) / 96, sum = 0;

	for (int k = 0; k < 96; k++) {
		double mid = lo + (k + 0.5) * h;

		for (int n = 0; n < 8; n++) {
			double y = mid + (n < 4 ? -gl_x[n] : gl_x[n - 4]) * h / 2, t = exp(y);
			double f = u[self] * exp(-u[self] * t) * t * ll_fewer(u, g, self, m, t, q);

			sum += gl_w[n % 4] * f * h / 2;
		}
	}
	return sum;
}

/* Monte Carlo of the inclusion: runs of exponential clocks (rate u), the m earliest included;
 * a run sorts the group's clocks, O(g log g). */
struct ll_clock {
	double at;
	size_t i;
};

static int ll_clock_cmp(const void *a, const void *b)
{
	double x = ((const struct ll_clock *)a)->at, y = ((const struct ll_clock *)b)->at;

	return x < y ? -1 : x > y;
}

static int64_t ll_mc_runs(size_t g, int64_t budget)
{
	int64_t runs = budget / (int64_t)(g * (size_t)(log2((double)g) + 1));

	return runs < 1000 ? 1000 : runs > 200000 ? 200000 : runs;
}

static void ll_inclusion_mc(struct ll *l, const double *u, int64_t m, int64_t runs, struct rng *r)
{
	size_t g = l->ngroup;
	struct ll_clock *clock = crm_xmalloc(g * sizeof(*clock));
	double *hits = calloc(g, sizeof(double));

	if (hits == NULL)
		abort();
	for (int64_t k = 0; k < runs; k++) {
		for (size_t i = 0; i < g; i++)
			clock[i] = (struct ll_clock){-log1p(-rng_unit(r)) / u[i], i};
		qsort(clock, g, sizeof(*clock), ll_clock_cmp);
		for (int64_t c = 0; c < m; c++)
			hits[clock[c].i] += 1;
	}
	for (size_t i = 0; i < g; i++) {
		double p = hits[i] / (double)runs;

		l->pi[i] = p;
		l->pse[i] = sqrt(p * (1 - p) / (double)runs);
	}
	l->runs = runs;
	free(clock);
	free(hits);
}

/* pi[k]: the probability that group member k is among the first m of the group served, i.e. of
 * a successive sampling without replacement by weight (the tie-break). Returns the method. */
static enum crm_sim_method ll_inclusion(struct ll *l, int64_t m, int64_t budget, struct rng *r)
{
	size_t g = l->ngroup;
	double sum = 0, *u = crm_xmalloc(g * sizeof(double)), *q = crm_xmalloc(((size_t)m + 1) * sizeof(double));
	bool equal = true;
	enum crm_sim_method method = CRM_SIM_CLOSED_FORM;

	for (size_t i = 0; i < g; i++) {
		sum += l->j->ops[l->group[i]].weight;
		equal = equal && l->j->ops[l->group[i]].weight == l->j->ops[l->group[0]].weight;
		l->pse[i] = 0;
	}
	for (size_t i = 0; i < g; i++)
		u[i] = l->j->ops[l->group[i]].weight / sum;
	if (equal || m == 1) {
		for (size_t i = 0; i < g; i++)
			l->pi[i] = equal ? (double)m / (double)g : u[i];
	} else if ((int64_t)g * m * 768 * (int64_t)g <= budget) {
		method = CRM_SIM_EXACT;
		for (size_t i = 0; i < g; i++) {
			size_t same = 0;

			while (same < i && l->j->ops[l->group[same]].weight != l->j->ops[l->group[i]].weight)
				same++;
			l->pi[i] = same < i ? l->pi[same] : ll_integral(u, g, i, m, q);
		}
	} else {
		method = CRM_SIM_MONTE_CARLO;
		ll_inclusion_mc(l, u, m, ll_mc_runs(g, budget), r);
	}
	free(u);
	free(q);
	return method;
}

static enum crm_sim_method ll_worse(enum crm_sim_method a, enum crm_sim_method b)
{
	return a > b ? a : b;
}

/* E[X_i(k)] for the arrival k inside the current group: what i had, plus its inclusion. */
static enum crm_sim_method ll_boundary(struct ll *l, int64_t taken, int64_t k, double *x, double *se, int64_t budget,
	struct rng *r)
{
	enum crm_sim_method method = CRM_SIM_CLOSED_FORM;

	for (size_t i = 0; i < l->j->n; i++) {
		x[i] = (double)(l->next[i] - l->j->ops[i].load);
		se[i] = 0;
	}
	if (k > taken) {
		method = ll_inclusion(l, k - taken, budget, r);
		for (size_t i = 0; i < l->ngroup; i++) {
			x[l->group[i]] += l->pi[i];
			se[l->group[i]] = l->pse[i];
		}
	}
	return method;
}

/* Walks the slots in key order, a tie group at a time, up to arrival K2 (K1 < K2 <= C). */
static enum crm_sim_method ll_walk(struct ll *l, double *x1, double *s1, double *x2, double *s2, int64_t budget,
	struct rng *r)
{
	struct job *j = l->j;
	enum crm_sim_method method = CRM_SIM_CLOSED_FORM;
	int64_t taken = 0;

	for (;;) {
		ll_pop_group(l);
		if (j->k1 >= taken && j->k1 < taken + (int64_t)l->ngroup)
			method = ll_worse(method, ll_boundary(l, taken, j->k1, x1, s1, budget, r));
		if (j->k2 < taken + (int64_t)l->ngroup) {
			method = ll_worse(method, ll_boundary(l, taken, j->k2, x2, s2, budget, r));
			return method;
		}
		for (size_t i = 0; i < l->ngroup; i++) {
			size_t o = l->group[i];

			if (++l->next[o] < (int64_t)j->ops[o].load + j->cap[o])
				ll_push(l, o);
		}
		taken += (int64_t)l->ngroup;
		if (taken == j->k2) {
			ll_boundary(l, taken, taken, x2, s2, budget, r);
			return method;
		}
	}
}

static void least_loaded(const struct crm_sim_params *p, struct job *j, struct crm_sim_result *out)
{
	struct ll l = {.j = j};
	int64_t total = out->free_slots, budget = p->exact_budget > 0 ? p->exact_budget : CRM_SIM_EXACT_BUDGET;
	double *x = crm_xmalloc(4 * (j->n + 1) * sizeof(double));
	struct rng r;

	if (total == 0 || p->waiting >= total) {
		out->method = CRM_SIM_CLOSED_FORM;
		closed_all_wait(p, j, out);
		free(x);
		return;
	}
	j->k1 = p->waiting;
	j->k2 = p->waiting + p->contacts < total ? p->waiting + p->contacts : total;
	l.next = crm_xmalloc((j->n + 1) * sizeof(int64_t));
	l.heap = crm_xmalloc((j->n + 1) * sizeof(size_t));
	l.group = crm_xmalloc((j->n + 1) * sizeof(size_t));
	l.pi = crm_xmalloc((j->n + 1) * sizeof(double));
	l.pse = crm_xmalloc((j->n + 1) * sizeof(double));
	rng_seed(&r, p->seed);
	for (size_t i = 0; i < j->n; i++) {
		l.next[i] = j->ops[i].load;
		if (j->cap[i] > 0)
			ll_push(&l, i);
	}
	out->method = ll_walk(&l, x, x + j->n + 1, x + 2 * (j->n + 1), x + 3 * (j->n + 1), budget, &r);
	for (size_t i = 0; i < j->n; i++) {
		double s1 = x[j->n + 1 + i], s2 = x[3 * (j->n + 1) + i];

		j->ops[i].expected = x[2 * (j->n + 1) + i] - x[i];
		j->ops[i].std_error = sqrt(s1 * s1 + s2 * s2);
	}
	out->simulated_arrivals = j->k2;
	out->runs = (int)l.runs;
	free(x);
	free(l.next);
	free(l.heap);
	free(l.group);
	free(l.pi);
	free(l.pse);
}

void crm_simulate(const struct crm_sim_params *p, struct crm_sim_operator *ops, size_t n, struct crm_sim_result *out)
{
	struct job j = {.ops = ops, .n = n};
	double assigned = 0;

	memset(out, 0, sizeof(*out));
	j.cap = crm_xmalloc((n + 1) * sizeof(int64_t));
	j.small = crm_xmalloc((n + 1) * sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		j.cap[i] = capacity(&ops[i]);
		out->free_slots += j.cap[i];
		ops[i].expected = ops[i].share = ops[i].std_error = 0;
	}
	switch (p->mode) {
	case CRM_SIM_WEIGHTED_RANDOM: weighted_random(p, &j, out); break;
	case CRM_SIM_LEAST_LOADED: least_loaded(p, &j, out); break;
	}
	for (size_t i = 0; i < n; i++) {
		/* an estimate cannot leave [0, free slots] (the control variate could, by a hair) */
		ops[i].expected = ops[i].expected < 0 ? 0 : ops[i].expected;
		ops[i].expected = ops[i].expected > (double)j.cap[i] ? (double)j.cap[i] : ops[i].expected;
		ops[i].share = p->contacts > 0 ? ops[i].expected / (double)p->contacts : 0;
		assigned += ops[i].expected;
	}
	/* Within the first C arrivals nobody waits (someone still has room), so of the new contacts
	 * exactly N - (K2 - K1) wait, whatever the method; K2 is capped at C. */
	if (out->method == CRM_SIM_CLOSED_FORM)
		out->expected_waiting = (double)p->contacts - assigned;
	else
		out->expected_waiting = (double)(p->contacts - (j.k2 - j.k1));
	if (out->expected_waiting < 0)
		out->expected_waiting = 0; /* rounding */
	free(j.cap);
	free(j.small);
}
