/* master.c -- `crm serve`'s supervisor: forks the workers, replaces dead ones, drains on stop
 *
 * The master never touches the database or a request. It waits for signals synchronously
 * (sigtimedwait), so there is no async-signal-safety to reason about:
 *   SIGCHLD          reap; restart the worker unless stopping (a worker that fails within a
 *                    second of its start is restarted after a one-second pause, so a crash
 *                    loop does not spin; a clean exit, as after SIGHUP, is replaced at once)
 *   SIGHUP           replace every worker (each finishes its current request first)
 *   SIGTERM/SIGINT   stop: workers finish their request and exit; after DRAIN_SECONDS the
 *                    rest are killed
 * On SIGHUP the master first reads the configuration again (crm_config_reload: the environment
 * and CRM_CONFIG_FILE; a bad one keeps the old, logged): the new workers and drainer get it.
 * Before the first fork it maps the shared metrics region (metrics.h); child i always gets slot
 * i, so a restarted worker continues its predecessor's counters, and the master counts restarts.
 */
#include "crm/master.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crm/arena.h"
#include "crm/drainer.h"
#include "crm/fcgi.h"
#include "crm/log.h"
#include "crm/metrics.h"

#define DRAIN_SECONDS 15

struct slot {
	pid_t pid; /* 0: not running */
	time_t started;
	time_t restart_after; /* when pid == 0 and not stopping */
};

static time_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Slot i < cfg->workers is a worker; the last slot is the backlog drainer. */
static void spawn(struct slot *s, int i, const struct crm_config *cfg, int listen_fd)
{
	pid_t pid = fork();

	if (pid < 0) {
		crm_log_error("fork failed: %s", strerror(errno));
		s->restart_after = now() + 1;
		return;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		crm_metrics_attach(i); /* the slot of index i, whichever child held it before */
		if (i == cfg->workers) {
			close(listen_fd);
			_exit(crm_drainer_run(cfg));
		}
		_exit(crm_fcgi_worker_run(cfg, listen_fd));
	}
	s->pid = pid;
	s->started = now();
}

static void reap(struct slot *slots, int n, bool stopping)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < n; i++) {
			if (slots[i].pid != pid)
				continue;
			slots[i].pid = 0;
			if (!stopping) {
				/* the pause is for crashes: a clean exit (a reload's SIGTERM) is replaced at once */
				bool failed = WIFSIGNALED(status) || WEXITSTATUS(status) != 0;

				if (WIFSIGNALED(status))
					crm_log_warn("worker %d killed by signal %d; restarting", (int)pid,
						WTERMSIG(status));
				else
					crm_log_info("worker %d exited with status %d; restarting", (int)pid,
						WEXITSTATUS(status));
				slots[i].restart_after = failed && now() - slots[i].started < 1 ? now() + 1 : 0;
				crm_metrics_worker_restarted(i, failed);
			}
		}
	}
}

static const char *master_env(const char *name)
{
	return getenv(name);
}

/* SIGHUP: cur becomes the configuration read now, unless it is bad. */
static void reload(struct crm_config *cur)
{
	struct crm_config next;
	struct crm_err err;

	crm_err_init(&err);
	if (!crm_config_reload(cur, &next, master_env, &err)) {
		crm_log_error("SIGHUP: configuration not reloaded, new workers keep the old one: %s", err.detail);
		return;
	}
	*cur = next;
	crm_log_set_level(cur->log_level);
	crm_log_set_format(cur->log_format);
	crm_log_info("SIGHUP: configuration reloaded%s%s", cur->config_file[0] ? " from the environment and " : "",
		cur->config_file);
}

static int running(const struct slot *slots, int n)
{
	int r = 0;

	for (int i = 0; i < n; i++)
		r += slots[i].pid != 0;
	return r;
}

static void signal_all(const struct slot *slots, int n, int sig)
{
	for (int i = 0; i < n; i++) {
		if (slots[i].pid != 0)
			kill(slots[i].pid, sig);
	}
}

int crm_master_run(const struct crm_config *start_cfg, int listen_fd)
{
	struct crm_config current = *start_cfg; /* what a worker forked now gets; SIGHUP renews it */
	const struct crm_config *cfg = &current;
	int nslots = cfg->workers + 1;
	struct slot *slots = calloc((size_t)nslots, sizeof(*slots));
	struct timespec tick = {0, 200 * 1000 * 1000};
	bool stopping = false;
	time_t deadline = 0;
	sigset_t set;

	if (slots == NULL)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (!crm_metrics_create(cfg->workers, nslots)) /* before the first fork: every child shares it */
		crm_log_warn("could not map the shared metrics region; /metrics will count nothing");
	crm_drainer_heartbeat_init(); /* before any fork: shared by the drainer and the workers */
	for (int i = 0; i < nslots; i++)
		spawn(&slots[i], i, cfg, listen_fd);
	crm_log_info("serving with %d workers and a backlog drainer", cfg->workers);

	while (!stopping || running(slots, nslots) > 0) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGCHLD) {
			reap(slots, nslots, stopping);
		} else if (sig == SIGHUP && !stopping) {
			reload(&current);
			crm_log_info("SIGHUP: replacing workers and drainer");
			signal_all(slots, nslots, SIGTERM);
		} else if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			crm_log_info("stopping: draining %d workers", running(slots, nslots));
			stopping = true;
			deadline = now() + DRAIN_SECONDS;
			signal_all(slots, nslots, SIGTERM);
		}
		if (stopping && now() >= deadline) {
			crm_log_warn("drain timeout: killing %d workers", running(slots, nslots));
			signal_all(slots, nslots, SIGKILL);
			deadline = now() + DRAIN_SECONDS;
		}
		for (int i = 0; !stopping && i < nslots; i++) {
			if (slots[i].pid == 0 && now() >= slots[i].restart_after)
				spawn(&slots[i], i, cfg, listen_fd);
		}
		crm_metrics_workers_running(running(slots, cfg->workers));
	}
	free(slots);
	crm_log_info("stopped");
	return 0;
}
