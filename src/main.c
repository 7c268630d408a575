/* main.c -- the `crm` command: serve, migrate, routes, keys
 *
 * Reads the configuration once, then hands over to the master (serve) or the migration
 * runner. Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crm/cli.h"
#include "crm/config.h"
#include "crm/err.h"
#include "crm/fcgi.h"
#include "crm/log.h"
#include "crm/master.h"
#include "crm/proc.h"
#include "crm/routes.h"
#include "crm/service.h"

#define MIGRATE_WAIT_SECONDS 30

static void usage(FILE *out)
{
	fprintf(out,
		"usage: crm COMMAND\n"
		"\n"
		"mini-crm distributes incoming leads among operators (FastCGI behind nginx, PostgreSQL).\n"
		"\n"
		"Commands:\n"
		"  serve     run the FastCGI master and its worker processes in the foreground\n"
		"  migrate   apply pending database migrations and exit\n"
		"  routes    print the route table (METHOD PATTERN SCOPES per line)\n"
		"%s"
		"  --help    show this text\n"
		"\n"
		"%s"
		"\n"
		"Signals to serve: SIGTERM/SIGINT drain and stop, SIGHUP reads the configuration again\n"
		"(the environment and CRM_CONFIG_FILE) and replaces the workers.\n",
		crm_cli_keys_usage(), crm_config_usage());
}

static const char *env(const char *name)
{
	return getenv(name);
}

/* Applies migrations; with `wait`, keeps trying while the database is not reachable yet. */
static bool migrate(const struct crm_config *cfg, bool wait)
{
	struct crm_service svc;
	struct crm_err err;
	size_t version = 0;
	int applied = 0;
	bool ok = false;

	crm_err_init(&err);
	if (!crm_service_init(&svc, cfg->database_url, cfg->drain_batch, &err)) {
		crm_log_error("%s", err.detail);
		return false;
	}
	for (int waited = 0;; waited++) {
		crm_err_init(&err);
		if (crm_service_migrate(&svc, &applied, &version, &err)) {
			ok = true;
			break;
		}
		if (!wait || err.code != CRM_E_UNAVAILABLE || waited >= MIGRATE_WAIT_SECONDS)
			break;
		sleep(1);
	}
	if (ok)
		crm_log_info("migrations: %d applied, schema at version %zu", applied, version);
	else
		crm_log_error("migrations failed: %s", err.detail);
	crm_service_finish(&svc);
	return ok;
}

/* The pid file names a live `crm serve` (not a reused pid of another program): true. */
static bool pid_file_live(const char *path, long *pid)
{
	char proc[64], cmd[256], *end;
	size_t n;
	FILE *f = fopen(path, "r");

	*pid = 0;
	if (f == NULL)
		return false;
	if (fgets(cmd, sizeof(cmd), f) == NULL) {
		fclose(f);
		return false;
	}
	fclose(f);
	errno = 0;
	*pid = strtol(cmd, &end, 10);
	if (errno != 0 || end == cmd || *pid <= 0 || *pid == (long)getpid())
		return false;
	snprintf(proc, sizeof(proc), "/proc/%ld/cmdline", *pid);
	if ((f = fopen(proc, "r")) == NULL)
		return false; /* no such process */
	n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	cmd[n] = '\0';
	/* argv[0] then argv[1], NUL-separated */
	return n > strlen(cmd) + 1 && strcmp(cmd + strlen(cmd) + 1, "serve") == 0;
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		crm_log_error("could not write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	return 0;
}

/* Order matters: the socket and the pid file are made as whoever started serve; then serve
 * becomes CRM_USER (when started as root) before it reads the database or forks anyone. */
static int serve(const struct crm_config *cfg)
{
	struct crm_proc_ids ids;
	struct crm_err err;
	long held;
	int fd, rc = 1;

	crm_err_init(&err);
	if (!crm_http_router_check(&crm_routes, &err)) {
		crm_log_error("%s", err.detail);
		return 1;
	}
	if (cfg->bench_no_auth)
		crm_log_warn("CRM_BENCH_NO_AUTH is set: /api/ is served WITHOUT checking API keys; this is the "
			     "benchmark's baseline and must never run in production");
	if (cfg->pid_file[0] != '\0' && pid_file_live(cfg->pid_file, &held)) {
		crm_log_error("%s names a live master (pid %ld): stop it first, or use another CRM_PID_FILE",
			cfg->pid_file, held);
		return 1;
	}
	if (!crm_proc_ids_resolve(cfg, &ids, &err)) {
		crm_log_error("%s", err.detail);
		return 2;
	}
	if (!crm_fcgi_listen(cfg, ids.socket_uid, ids.socket_gid, &fd, &err)) {
		crm_log_error("%s", err.detail);
		return 1;
	}
	/* the socket is adopted: workers must not take systemd's variables as their own; a SIGHUP's
	 * reload reads CRM_LISTEN instead, so it sees the listener unchanged */
	if (cfg->listen_kind == CRM_LISTEN_FD && getenv("CRM_LISTEN") == NULL) {
		char fdspec[32];

		snprintf(fdspec, sizeof(fdspec), "fd:%d", cfg->listen_fd);
		setenv("CRM_LISTEN", fdspec, 1);
	}
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	if (cfg->pid_file[0] != '\0' && write_pid_file(cfg->pid_file) != 0)
		goto out;
	if (!crm_proc_drop(&ids, &err)) {
		crm_log_error("%s", err.detail);
		goto out;
	}
	if (cfg->auto_migrate && !migrate(cfg, true))
		goto out;
	rc = crm_master_run(cfg, fd);
out:
	/* after the drop these need a directory CRM_USER may write (the local stack's run dir) */
	if (cfg->listen_kind == CRM_LISTEN_UNIX)
		unlink(cfg->listen_addr);
	if (cfg->pid_file[0] != '\0')
		unlink(cfg->pid_file);
	return rc;
}

int main(int argc, char **argv)
{
	struct crm_config cfg;
	struct crm_err err;

	if (argc < 2 || (argc != 2 && strcmp(argv[1], "keys") != 0)) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "routes") == 0) {
		crm_http_routes_print(&crm_routes, stdout);
		return 0;
	}
	crm_err_init(&err);
	if (!crm_config_load(&cfg, env, &err)) {
		fprintf(stderr, "crm: configuration error: %s\n", err.detail);
		return 2;
	}
	crm_log_set_level(cfg.log_level);
	crm_log_set_format(cfg.log_format);
	if (strcmp(argv[1], "serve") == 0)
		return serve(&cfg);
	if (strcmp(argv[1], "migrate") == 0)
		return migrate(&cfg, false) ? 0 : 1;
	if (strcmp(argv[1], "keys") == 0)
		return crm_cli_keys(&cfg, argc - 1, argv + 1);
	fprintf(stderr, "crm: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
