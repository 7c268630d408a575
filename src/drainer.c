/* drainer.c -- the backlog drainer process (see drainer.h) */
#include "crm/drainer.h"

#include <signal.h>
#include <unistd.h>

#include "crm/log.h"
#include "crm/proc.h"
#include "crm/service.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int crm_drainer_run(const struct crm_config *cfg)
{
	struct crm_service svc;
	struct crm_err err;

	crm_proc_child_init("crm-drainer", on_stop); /* a signal ends the wait in poll() */
	crm_err_init(&err);
	if (!crm_service_init(&svc, cfg->database_url, cfg->drain_batch, &err)) {
		crm_log_error("%s", err.detail);
		return 1;
	}
	crm_service_set_timeouts(&svc, cfg->statement_timeout, cfg->lock_timeout);
	crm_service_set_idempotency_ttl(&svc, cfg->idempotency_ttl);
	while (!stop_requested) {
		crm_err_init(&err);
		if (!crm_service_backlog_run_once(&svc, cfg->sweep_seconds * 1000, &err)) {
			crm_log_debug("backlog drainer: %s", err.detail);
			sleep(1); /* the database is away; try again */
		}
	}
	crm_service_finish(&svc);
	return 0;
}
