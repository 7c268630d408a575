/* drainer.c -- the backlog drainer process (see drainer.h) */
#include "crm/drainer.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>

#include "crm/log.h"
#include "crm/proc.h"
#include "crm/service.h"

static volatile sig_atomic_t stop_requested;
static _Atomic int64_t *heartbeat; /* shared with the master and the workers */

void crm_drainer_heartbeat_init(void)
{
	void *p = mmap(NULL, sizeof(*heartbeat), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		crm_log_error("could not map the drainer's heartbeat: /readyz will say the drainer is unknown");
		return;
	}
	heartbeat = p;
	atomic_store_explicit(heartbeat, crm_service_now_ms(), memory_order_relaxed);
}

_Atomic int64_t *crm_drainer_heartbeat(void)
{
	return heartbeat;
}

int64_t crm_drainer_stale_ms(const struct crm_config *cfg)
{
	return ((int64_t)cfg->sweep_seconds * 2 + 5) * 1000;
}

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Sleeps one second with the stop signals let in, so a SIGTERM ends it at once. */
static void wait_a_second(void)
{
	struct timespec one = {1, 0};
	sigset_t none;

	sigemptyset(&none);
	ppoll(NULL, 0, &one, &none);
}

int crm_drainer_run(const struct crm_config *cfg)
{
	struct crm_service svc;
	struct crm_err err;
	sigset_t stopset;

	/* SIGTERM and SIGINT stay blocked but in the backlog wait, which lets them in atomically
	 * (crm_pg_backlog_wait uses ppoll): one that comes while a pass runs SQL ends the next wait
	 * at once, instead of being lost before poll() and waiting out the sweep interval. */
	crm_proc_child_init("crm-drainer", on_stop);
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	sigprocmask(SIG_BLOCK, &stopset, NULL);
	crm_err_init(&err);
	if (!crm_service_init(&svc, cfg->database_url, cfg->drain_batch, &err)) {
		crm_log_error("%s", err.detail);
		return 1;
	}
	crm_service_set_timeouts(&svc, cfg->statement_timeout, cfg->lock_timeout);
	crm_service_set_idempotency_ttl(&svc, cfg->idempotency_ttl);
	crm_service_set_heartbeat(&svc, heartbeat, crm_drainer_stale_ms(cfg));
	while (!stop_requested) {
		crm_service_heartbeat(&svc);
		crm_err_init(&err);
		if (!crm_service_backlog_run_once(&svc, cfg->sweep_seconds * 1000, &err)) {
			crm_log_debug("backlog drainer: %s", err.detail);
			wait_a_second(); /* the database is away; try again */
		}
	}
	crm_service_finish(&svc);
	return 0;
}
