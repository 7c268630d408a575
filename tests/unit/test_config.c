/* test_config.c -- configuration from the environment: defaults and every validation rule */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "crm/config.h"

static const char *const *vars;

static const char *fake_getenv(const char *name)
{
	for (size_t i = 0; vars[i] != NULL; i += 2) {
		if (strcmp(vars[i], name) == 0)
			return vars[i + 1];
	}
	return NULL;
}

static bool load(const char *const *env, struct crm_config *cfg, struct crm_err *err)
{
	vars = env;
	crm_err_init(err);
	return crm_config_load(cfg, fake_getenv, err);
}

static void test_defaults(void)
{
	static const char *const env[] = {NULL};
	struct crm_config cfg;
	struct crm_err err;

	CHECK(load(env, &cfg, &err));
	CHECK(cfg.listen_kind == CRM_LISTEN_UNIX); /* TCP only when asked for */
	CHECK_STR(cfg.listen_addr, "/run/crm/crm.sock");
	CHECK(cfg.user[0] == '\0' && cfg.group[0] == '\0' && cfg.socket_group[0] == '\0');
	CHECK(cfg.workers >= 4);
	CHECK(cfg.body_limit == 1048576);
	CHECK(cfg.auto_migrate);
	CHECK(cfg.socket_mode == 0660);
	CHECK(cfg.log_level == CRM_LOG_INFO);
	CHECK(cfg.log_format == CRM_LOG_TEXT);
	CHECK(cfg.pid_file[0] == '\0');
	CHECK(cfg.drain_batch == 16 && cfg.sweep_seconds == 10);
	CHECK(cfg.statement_timeout == 30 && cfg.lock_timeout == 5);
	CHECK(cfg.body_timeout == 10 && cfg.queue_timeout_ms == 500 && cfg.listen_backlog == 256);
	CHECK(cfg.key_cache_ms == 2000 && !cfg.bench_no_auth);
}

static void test_valid(void)
{
	static const char *const env[] = {"CRM_LISTEN", "unix:/run/crm/crm.sock", "CRM_WORKERS", "16", "CRM_BODY_LIMIT",
		"65536", "CRM_AUTO_MIGRATE", "off", "CRM_LOG_LEVEL", "debug", "CRM_SOCKET_MODE", "0600",
		"CRM_DATABASE_URL", "host=/tmp dbname=crm", "CRM_PID_FILE", "/run/crm.pid", "CRM_STATEMENT_TIMEOUT",
		"0", "CRM_LOCK_TIMEOUT", "3600", "CRM_BODY_TIMEOUT", "2", "CRM_QUEUE_TIMEOUT_MS", "0",
		"CRM_LISTEN_BACKLOG", "64", "CRM_KEY_CACHE_MS", "5000", "CRM_BENCH_NO_AUTH", "1", "CRM_USER", "crm",
		"CRM_GROUP", "crm", "CRM_SOCKET_GROUP", "www-data", NULL};
	static const char *const fd_env[] = {"CRM_LISTEN", "fd:0", NULL};
	static const char *const systemd_env[] = {"LISTEN_FDS", "1", NULL};
	struct crm_config cfg;
	struct crm_err err;

	CHECK(load(env, &cfg, &err));
	CHECK(cfg.listen_kind == CRM_LISTEN_UNIX);
	CHECK_STR(cfg.listen_addr, "/run/crm/crm.sock");
	CHECK(cfg.workers == 16 && cfg.body_limit == 65536 && !cfg.auto_migrate);
	CHECK(cfg.log_level == CRM_LOG_DEBUG && cfg.socket_mode == 0600);
	CHECK_STR(cfg.database_url, "host=/tmp dbname=crm");
	CHECK_STR(cfg.pid_file, "/run/crm.pid");
	CHECK_STR(cfg.user, "crm");
	CHECK_STR(cfg.group, "crm");
	CHECK_STR(cfg.socket_group, "www-data");
	CHECK(cfg.statement_timeout == 0 && cfg.lock_timeout == 3600);
	CHECK(cfg.body_timeout == 2 && cfg.queue_timeout_ms == 0 && cfg.listen_backlog == 64);
	CHECK(cfg.key_cache_ms == 5000 && cfg.bench_no_auth);
	CHECK(load(fd_env, &cfg, &err) && cfg.listen_kind == CRM_LISTEN_FD && cfg.listen_fd == 0);
	CHECK(load(systemd_env, &cfg, &err) && cfg.listen_kind == CRM_LISTEN_FD && cfg.listen_fd == 3);
}

static void test_invalid(void)
{
	static const char *const cases[][3] = {
		{"CRM_WORKERS", "0", "CRM_WORKERS"},
		{"CRM_WORKERS", "1025", "CRM_WORKERS"},
		{"CRM_WORKERS", "4x", "CRM_WORKERS"},
		{"CRM_WORKERS", "", "CRM_WORKERS"},
		{"CRM_WORKERS", "-3", "CRM_WORKERS"},
		{"CRM_BODY_LIMIT", "10", "CRM_BODY_LIMIT"},
		{"CRM_BODY_LIMIT", "99999999999", "CRM_BODY_LIMIT"},
		{"CRM_LISTEN", "nowhere", "CRM_LISTEN"},
		{"CRM_LISTEN", "127.0.0.1:0", "CRM_LISTEN"},
		{"CRM_LISTEN", "127.0.0.1:70000", "CRM_LISTEN"},
		{"CRM_LISTEN", "unix:relative.sock", "CRM_LISTEN"},
		{"CRM_LISTEN", "fd:x", "CRM_LISTEN"},
		{"CRM_LOG_LEVEL", "loud", "CRM_LOG_LEVEL"},
		{"CRM_LOG_FORMAT", "xml", "CRM_LOG_FORMAT"},
		{"CRM_AUTO_MIGRATE", "maybe", "CRM_AUTO_MIGRATE"},
		{"CRM_SOCKET_MODE", "999", "CRM_SOCKET_MODE"},
		{"CRM_SOCKET_MODE", "0666", "CRM_SOCKET_MODE"},
		{"CRM_SOCKET_MODE", "0662", "CRM_SOCKET_MODE"},
		{"CRM_USER", "", "CRM_USER"},
		{"CRM_USER", "a/b", "CRM_USER"},
		{"CRM_GROUP", "www data", "CRM_GROUP"},
		{"CRM_SOCKET_GROUP", "", "CRM_SOCKET_GROUP"},
		{"CRM_PID_FILE", "", "CRM_PID_FILE"},
		{"CRM_DRAIN_BATCH", "0", "CRM_DRAIN_BATCH"},
		{"CRM_SWEEP_SECONDS", "3601", "CRM_SWEEP_SECONDS"},
		{"CRM_STATEMENT_TIMEOUT", "3601", "CRM_STATEMENT_TIMEOUT"},
		{"CRM_STATEMENT_TIMEOUT", "1.5", "CRM_STATEMENT_TIMEOUT"},
		{"CRM_LOCK_TIMEOUT", "-1", "CRM_LOCK_TIMEOUT"},
		{"CRM_LOCK_TIMEOUT", "5s", "CRM_LOCK_TIMEOUT"},
		{"CRM_BODY_TIMEOUT", "0", "CRM_BODY_TIMEOUT"},
		{"CRM_BODY_TIMEOUT", "3601", "CRM_BODY_TIMEOUT"},
		{"CRM_QUEUE_TIMEOUT_MS", "600001", "CRM_QUEUE_TIMEOUT_MS"},
		{"CRM_QUEUE_TIMEOUT_MS", "0.5", "CRM_QUEUE_TIMEOUT_MS"},
		{"CRM_LISTEN_BACKLOG", "8", "CRM_LISTEN_BACKLOG"},
		{"CRM_LISTEN_BACKLOG", "65536", "CRM_LISTEN_BACKLOG"},
		{"CRM_KEY_CACHE_MS", "5001", "CRM_KEY_CACHE_MS"}, /* the documented revocation bound is 5 s */
		{"CRM_KEY_CACHE_MS", "-1", "CRM_KEY_CACHE_MS"},
		{"CRM_BENCH_NO_AUTH", "yes please", "CRM_BENCH_NO_AUTH"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *env[] = {cases[i][0], cases[i][1], NULL};
		struct crm_config cfg;
		struct crm_err err;

		CHECK(!load(env, &cfg, &err));
		CHECK(err.code == CRM_E_INVALID);
		CHECK(strstr(err.detail, cases[i][2]) != NULL);
	}
}

/* Writes text to a fresh temporary file; its path goes to path (PATH_SIZE bytes). */
#define PATH_SIZE 64
static void write_temp(char *path, const char *text)
{
	int fd;
	FILE *f;

	snprintf(path, PATH_SIZE, "/tmp/crm-test-config-XXXXXX");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void test_file(void)
{
	static const char *const bad[][2] = {
		{"CRM_BODY_LIMIT=12\n", "CRM_BODY_LIMIT"},
		{"CRM_WORKRES=4\n", "line 1: CRM_WORKRES is not a setting"},
		{"# ok\nCRM_WORKERS\n", "line 2: expected NAME=value"},
		{"=4\n", "line 1: expected NAME=value"},
		{"CRM_CONFIG_FILE=/etc/x\n", "CRM_CONFIG_FILE is not a setting"},
	};
	char path[PATH_SIZE];
	const char *env[] = {"CRM_CONFIG_FILE", path, "CRM_WORKERS", "3", "CRM_BODY_LIMIT", "4096", NULL};
	struct crm_config cfg;
	struct crm_err err;

	write_temp(path, "# comment\n\n; another\nCRM_BODY_LIMIT=2048\n  export CRM_LOG_LEVEL = debug \n"
			 "CRM_DATABASE_URL=\"host=/tmp dbname=crm\"\nCRM_DRAIN_BATCH='7'\nCRM_DRAIN_BATCH=8\n");
	CHECK(load(env, &cfg, &err));
	CHECK(cfg.body_limit == 2048); /* the file wins over the environment */
	CHECK(cfg.workers == 3);       /* the environment still counts */
	CHECK(cfg.log_level == CRM_LOG_DEBUG);
	CHECK_STR(cfg.database_url, "host=/tmp dbname=crm");
	CHECK(cfg.drain_batch == 8); /* the last line of a name wins */
	CHECK_STR(cfg.config_file, path);
	unlink(path);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_temp(path, bad[i][0]);
		CHECK(!load(env, &cfg, &err));
		CHECK(strstr(err.detail, bad[i][1]) != NULL);
		unlink(path);
	}
	CHECK(!load(env, &cfg, &err)); /* the file is gone */
	CHECK(strstr(err.detail, "cannot read") != NULL);
}

static void test_reload(void)
{
	char path[PATH_SIZE];
	const char *env[] = {"CRM_CONFIG_FILE", path, "CRM_LISTEN", "unix:/run/crm/a.sock", NULL};
	struct crm_config old, next;
	struct crm_err err;

	write_temp(path, "CRM_WORKERS=4\nCRM_BODY_LIMIT=2048\n");
	CHECK(load(env, &old, &err));
	unlink(path);
	write_temp(path, "CRM_WORKERS=9\nCRM_BODY_LIMIT=4096\nCRM_LISTEN=127.0.0.1:9000\nCRM_KEY_CACHE_MS=10\n");
	crm_err_init(&err);
	CHECK(crm_config_reload(&old, &next, fake_getenv, &err));
	CHECK(next.body_limit == 4096 && next.key_cache_ms == 10); /* taken */
	CHECK(next.workers == 4);                                  /* needs a restart: kept */
	CHECK(next.listen_kind == CRM_LISTEN_UNIX);
	CHECK_STR(next.listen_addr, "/run/crm/a.sock");
	unlink(path);
	write_temp(path, "CRM_BODY_LIMIT=lots\n");
	crm_err_init(&err);
	CHECK(!crm_config_reload(&old, &next, fake_getenv, &err));
	CHECK(strstr(err.detail, "CRM_BODY_LIMIT") != NULL);
	unlink(path);
}

int main(void)
{
	test_defaults();
	test_valid();
	test_invalid();
	test_file();
	test_reload();
	return check_done("config");
}
