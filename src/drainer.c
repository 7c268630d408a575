/* drainer.c -- the backlog drainer process (see drainer.h) */
#include "crm/drainer.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "crm/log.h"
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
	struct sigaction sa;
	struct crm_err err;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	prctl(PR_SET_NAME, "crm-drainer");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: a signal ends the wait in poll() */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (!crm_rng_seed(&svc.rng)) {
		crm_log_error("could not seed the random generator: %s", strerror(errno));
		return 1;
	}
	svc.pg = crm_pg_create(cfg->database_url);
	crm_pg_set_drain_batch(svc.pg, cfg->drain_batch);
	while (!stop_requested) {
		crm_err_init(&err);
		if (!crm_service_backlog_run_once(&svc, cfg->sweep_seconds * 1000, &err)) {
			crm_log_debug("backlog drainer: %s", err.detail);
			sleep(1); /* the database is away; try again */
		}
	}
	crm_pg_destroy(svc.pg);
	return 0;
}
