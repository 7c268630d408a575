/* service_backlog.c -- the drainer's use case: assign waiting contacts as capacity appears
 *
 * DESIGN (small batches): the drainer walks the sources with waiting contacts in id order and
 * gives each one batch (CRM_DRAIN_BATCH contacts) per transaction, committed at once; it walks
 * again while a walk assigned anything. So the operator rows a batch took stay locked for one
 * batch, not for the whole backlog (intakes of other sources sharing those operators wait that
 * long at most), and the sources take turns instead of the longest queue going first. Within a
 * source the queue stays FIFO and SKIP LOCKED (crm_drain_source).
 *
 * Working hours (README "Working hours"): before each walk the operators whose shift started or
 * ended are recomputed (crm_pg_shift_advance), and the wait afterwards ends at the earliest next
 * shift change of all operators if that comes before the sweep: a timer, not a poll. A schedule
 * written by the API sends the wake-up, so the timer is planned anew at once.
 *
 * Accept or lose it (README): the same timer also ends at the earliest accept deadline of all
 * contacts; the contacts due are timed out before the walk (crm_pg_accept_timeout_advance). An
 * assignment whose deadline is earlier than every pending one sends the wake-up.
 */
#include "crm/service.h"

#include "crm/log.h"
#include "crm/metrics.h"
#include "crm/pg.h"

/* One walk over the sources with waiting contacts; *assigned says how many were assigned. */
static bool drain_walk(struct crm_service *s, int *assigned, struct crm_err *err)
{
	int64_t source, after = 0;
	int n;

	*assigned = 0;
	for (;;) {
		crm_service_heartbeat(s); /* a long backlog is not a stuck drainer */
		if (!crm_pg_backlog_drain_next(s->pg, after, &source, &n, err))
			return false;
		if (source == 0)
			return true;
		*assigned += n;
		crm_metrics_assignments(CRM_METRICS_REASON_BACKLOG, (uint64_t)n);
		after = source;
	}
}

/* One of the drainer's timers (crm_pg_shift_advance, crm_pg_accept_timeout_advance): does one
 * due item per call, in its own short transaction, and says how long until the next one. */
typedef bool (*timer_step)(struct crm_pg *pg, bool *advanced, int64_t *wait_ms, struct crm_err *err);

/* Items a timer does per pass at most: a burst (thousands of accept deadlines at one moment,
 * a whole team's shift at 9:00) is taken in passes, and the other timer and the drain run
 * between them instead of waiting for the whole burst. */
#define TIMER_BURST 64

/* Runs a timer until nothing is due, or TIMER_BURST items (then *wait_ms is 0: call again at
 * once); *wait_ms receives how long until its next item (-1: none), *changed how many it did;
 * each counts as an assignment of reason (CRM_METRICS_REASON_N: not an assignment). Working
 * hours recompute the operators whose shift_change_at has come; accept timeouts take the
 * contacts whose accept deadline has come from their operators. */
static bool timer_advance(struct crm_service *s, timer_step step, enum crm_metrics_reason reason, int64_t *wait_ms,
	int *changed, struct crm_err *err)
{
	bool advanced;

	*changed = 0;
	do {
		crm_service_heartbeat(s);
		if (!step(s->pg, &advanced, wait_ms, err))
			return false;
		*changed += advanced;
		if (advanced && reason != CRM_METRICS_REASON_N)
			crm_metrics_assignments(reason, 1);
	} while (advanced && *changed < TIMER_BURST);
	if (advanced)
		*wait_ms = 0; /* more may be due: the next pass comes at once */
	return true;
}

/* The earlier of two waits in ms (-1: none). */
static int64_t earlier(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	return b < 0 || a < b ? a : b;
}

bool crm_service_backlog_run_once(struct crm_service *s, int sweep_ms, struct crm_err *err)
{
	int assigned, changed, lapsed, total = 0;
	int64_t wait_ms, timeout_ms, due = -1;

	if (!crm_pg_backlog_listen(s->pg, err))
		return false;
	/* expired Idempotency-Keys, at most once per sweep interval, before the pass: the drain is
	 * the last thing a drainer did when it waits (tests/api/test_several_hosts.py relies on it) */
	if (!crm_service_idem_expire(s, sweep_ms / 1000, err))
		return false;
	/* shifts that started or ended, then drain: a wake-up may have been sent before we listened */
	if (!timer_advance(s, crm_pg_shift_advance, CRM_METRICS_REASON_N, &wait_ms, &changed, err) ||
		!timer_advance(s, crm_pg_accept_timeout_advance, CRM_METRICS_REASON_TIMEOUT, &timeout_ms, &lapsed, err))
		return false;
	wait_ms = earlier(wait_ms, timeout_ms);
	if (wait_ms >= 0)
		due = crm_service_now_ms() + wait_ms; /* the drain below takes time too */
	if (changed > 0)
		crm_log_info("working hours: %d operators changed shift", changed);
	if (lapsed > 0)
		crm_log_info("accept timeouts: %d contacts taken from their operators", lapsed);
	do {
		if (!drain_walk(s, &assigned, err))
			return false;
		total += assigned;
	} while (assigned > 0);
	if (total > 0)
		crm_log_info("backlog: assigned %d waiting contacts", total);
	/* sleep until the next shift change or accept deadline, a wake-up or the sweep, whichever comes first */
	if (due >= 0) {
		wait_ms = due - crm_service_now_ms();
		wait_ms = wait_ms < 0 ? 0 : wait_ms;
	}
	crm_pg_backlog_wait(s->pg, due >= 0 && wait_ms < sweep_ms ? (int)wait_ms : sweep_ms);
	return true;
}

bool crm_service_backlog_gauge(struct crm_service *s, int64_t *waiting, double *oldest_seconds, struct crm_err *err)
{
	return crm_pg_backlog_gauge(s->pg, waiting, oldest_seconds, err);
}
