/* service_backlog.c -- the drainer's use case: assign waiting contacts as capacity appears
 *
 * DESIGN (small batches): the drainer walks the sources with waiting contacts in id order and
 * gives each one batch (CRM_DRAIN_BATCH contacts) per transaction, committed at once; it walks
 * again while a walk assigned anything. So the operator rows a batch took stay locked for one
 * batch, not for the whole backlog (intakes of other sources sharing those operators wait that
 * long at most), and the sources take turns instead of the longest queue going first. Within a
 * source the queue stays FIFO and SKIP LOCKED (crm_drain_source).
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

bool crm_service_backlog_run_once(struct crm_service *s, int sweep_ms, struct crm_err *err)
{
	int assigned, total = 0;

	if (!crm_pg_backlog_listen(s->pg, err))
		return false;
	/* expired Idempotency-Keys, at most once per sweep interval, before the pass: the drain is
	 * the last thing a drainer did when it waits (tests/api/test_several_hosts.py relies on it) */
	if (!crm_service_idem_expire(s, sweep_ms / 1000, err))
		return false;
	/* drain first: a wake-up may have been sent before we listened */
	do {
		if (!drain_walk(s, &assigned, err))
			return false;
		total += assigned;
	} while (assigned > 0);
	if (total > 0)
		crm_log_info("backlog: assigned %d waiting contacts", total);
	crm_pg_backlog_wait(s->pg, sweep_ms);
	return true;
}

bool crm_service_backlog_gauge(struct crm_service *s, int64_t *waiting, double *oldest_seconds, struct crm_err *err)
{
	return crm_pg_backlog_gauge(s->pg, waiting, oldest_seconds, err);
}
