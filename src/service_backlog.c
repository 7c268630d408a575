/* service_backlog.c -- the drainer's use case: assign waiting contacts as capacity appears */
#include "crm/service.h"

#include "crm/log.h"
#include "crm/pg.h"

#define DRAIN_PER_SOURCE 500

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
		if (!crm_pg_backlog_drain(s->pg, DRAIN_PER_SOURCE, &assigned, err))
			return false;
		total += assigned;
	} while (assigned > 0);
	if (total > 0)
		crm_log_info("backlog: assigned %d waiting contacts", total);
	crm_pg_backlog_wait(s->pg, sweep_ms);
	return true;
}
