/* config.c -- reads and validates the CRM_* environment and the optional configuration file
 *
 * Every variable has a default; a bad value is an error naming the variable and the accepted
 * form, so a typo in a unit file fails loudly at start instead of at the first request.
 * CRM_CONFIG_FILE names a file of NAME=value lines (systemd's EnvironmentFile syntax) whose
 * values win over the environment's; the master reads it again on SIGHUP (crm_config_reload):
 * new workers get the new values, settings that need a restart keep the old ones and are logged.
 */
#include "crm/config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crm/log.h"
#include "crm/util.h"

#define BODY_LIMIT_MIN 1024
#define BODY_LIMIT_MAX (64 * 1024 * 1024)
#define WORKERS_MAX 1024
#define TIMEOUT_MAX 3600
#define FILE_VARS_MAX 64

static const char usage[] =
	"Environment (all optional):\n"
	"  CRM_CONFIG_FILE    a file of NAME=value lines (# comments, optional quotes) for any of the\n"
	"                     variables below; its values win over the environment's. SIGHUP makes serve\n"
	"                     read it again: new workers get the new values; CRM_LISTEN, CRM_SOCKET_*,\n"
	"                     CRM_USER, CRM_GROUP, CRM_PID_FILE, CRM_WORKERS, CRM_LISTEN_BACKLOG and\n"
	"                     CRM_BENCH_NO_AUTH need a restart (logged as ignored); a bad file keeps the\n"
	"                     old configuration (logged)\n"
	"  CRM_DATABASE_URL   libpq conninfo or postgresql:// URI (default: libpq defaults and PG* variables)\n"
	"  CRM_LISTEN         unix:/path/to.sock | HOST:PORT | fd:N  (default unix:/run/crm/crm.sock)\n"
	"                     fd:N adopts an already listening socket (spawn-fcgi: fd:0); with systemd\n"
	"                     socket activation (LISTEN_FDS=1) the default is fd:3. TCP only when\n"
	"                     asked for: any local user can connect to a TCP port\n"
	"  CRM_SOCKET_MODE    octal permissions of a unix socket (default 0660); a mode that gives\n"
	"                     others any permission (0666, 0606, ...) is refused: let nginx in by group\n"
	"  CRM_SOCKET_GROUP   group of the unix socket, the group nginx's user is in (default: the group\n"
	"                     of CRM_USER; unchanged when not dropping privileges)\n"
	"  CRM_USER           user that serve runs as when started as root: the master drops to it after\n"
	"                     opening the socket and writing the pid file, before migrating or forking;\n"
	"                     required when started as root (crm never serves as root)\n"
	"  CRM_GROUP          group for CRM_USER (default: CRM_USER's primary group); supplementary\n"
	"                     groups are CRM_USER's from /etc/group\n"
	"  CRM_WORKERS        worker processes, 1..1024 (default 4 x CPUs); each holds one database\n"
	"                     connection and serves one request at a time, so throughput is at most\n"
	"                     workers / transaction latency\n"
	"  CRM_LOG_LEVEL      error | warn | info | debug (default info)\n"
	"  CRM_LOG_FORMAT     text | json: one line per event as text, or one JSON object per line\n"
	"                     (time, level, pid, msg, method, route, key, request_id) (default text)\n"
	"  CRM_BODY_LIMIT     largest request body in bytes, 1024..67108864 (default 1048576)\n"
	"  CRM_AUTO_MIGRATE   on | off: serve applies pending migrations at start (default on)\n"
	"  CRM_PID_FILE       serve writes the master's pid to this file (default: none)\n"
	"  CRM_DRAIN_BATCH    waiting contacts that a request freeing capacity assigns itself before\n"
	"                     waking the drainer, 1..10000 (default 16)\n"
	"  CRM_SWEEP_SECONDS  the drainer's safety sweep interval, 1..3600 (default 10)\n"
	"  CRM_STATEMENT_TIMEOUT  seconds one SQL statement of a request or of the drainer may run,\n"
	"                     0..3600, 0 = no limit (default 30); past it the request is 503\n"
	"  CRM_LOCK_TIMEOUT   seconds a statement may wait for a row lock, 0..3600, 0 = no limit\n"
	"                     (default 5); past it the request is 503 with Retry-After, nothing changed.\n"
	"                     Migrations run without either limit\n"
	"  CRM_BODY_TIMEOUT   seconds a worker waits for the whole request body once it has accepted\n"
	"                     the request, 1..3600 (default 10); past it the request is dropped, logged\n"
	"  CRM_QUEUE_TIMEOUT_MS  milliseconds a request may wait for a free worker, 0..600000, 0 = no\n"
	"                     limit (default 500); a request that waited longer (nginx passes the time\n"
	"                     it handed it on as CRM_REQUEST_START) is 503 with Retry-After at once,\n"
	"                     before any database work\n"
	"  CRM_LISTEN_BACKLOG connections the kernel queues for busy workers, 16..65535 (default 256,\n"
	"                     about 0.25 s of work for 8 workers); past it nginx's connect fails at once\n"
	"                     and nginx answers 503 with Retry-After: the cheapest refusal there is\n"
	"  CRM_IDEMPOTENCY_TTL  seconds an Idempotency-Key and its stored response are kept,\n"
	"                     60..2592000 (default 86400); the drainer's sweep deletes older ones\n"
	"  CRM_KEY_CACHE_MS   milliseconds a worker trusts an API key it verified, 0..5000 (default\n"
	"                     2000); a revoked key is refused everywhere at most this long after\n"
	"  CRM_BENCH_NO_AUTH  1: serve /api/ WITHOUT checking keys, for tests/bench/run's baseline\n"
	"                     only; never in production (logged as a warning at start)\n";

const char *crm_config_usage(void)
{
	return usage;
}

static bool parse_long(const char *s, long min, long max, int base, long *out)
{
	char *end;
	long v;

	if (s[0] == '\0' || s[0] == ' ' || s[0] == '+' || s[0] == '-')
		return false;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"on", "true", "1", "yes"};
	static const char *const no[] = {"off", "false", "0", "no"};

	for (size_t i = 0; i < CRM_COUNT(yes); i++) {
		if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
			*out = strcmp(s, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

static bool parse_listen(struct crm_config *cfg, const char *v, struct crm_err *err)
{
	long fd;
	const char *colon;

	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] != '/' || strlen(v + 5) >= 108)
			return crm_err_set(err, CRM_E_INVALID,
				"CRM_LISTEN: unix socket path must be absolute and "
				"shorter than 108 bytes");
		cfg->listen_kind = CRM_LISTEN_UNIX;
		snprintf(cfg->listen_addr, sizeof(cfg->listen_addr), "%s", v + 5);
		return true;
	}
	if (strncmp(v, "fd:", 3) == 0) {
		if (!parse_long(v + 3, 0, INT_MAX, 10, &fd))
			return crm_err_set(err, CRM_E_INVALID, "CRM_LISTEN: fd:N needs a file descriptor number");
		cfg->listen_kind = CRM_LISTEN_FD;
		cfg->listen_fd = (int)fd;
		return true;
	}
	colon = strrchr(v, ':');
	if (colon == NULL || !parse_long(colon + 1, 1, 65535, 10, &fd) || strlen(v) >= sizeof(cfg->listen_addr))
		return crm_err_set(err, CRM_E_INVALID, "CRM_LISTEN: expected unix:/path, HOST:PORT or fd:N, got \"%s\"",
			v);
	cfg->listen_kind = CRM_LISTEN_TCP;
	snprintf(cfg->listen_addr, sizeof(cfg->listen_addr), "%s", v);
	return true;
}

static int default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (n > WORKERS_MAX / 4)
		n = WORKERS_MAX / 4;
	return (int)(4 * n);
}

/* The integer settings of struct crm_config: name, range, the unit its error message names, and
 * where it goes. Checked in this order; the first bad one stops the load. */
static const struct int_setting {
	const char *name;
	long min, max;
	const char *unit; /* "an integer", "seconds", "milliseconds" */
	size_t offset;    /* of an int member of struct crm_config */
} int_settings[] = {
	{"CRM_WORKERS", 1, WORKERS_MAX, "an integer", offsetof(struct crm_config, workers)},
	{"CRM_DRAIN_BATCH", 1, 10000, "an integer", offsetof(struct crm_config, drain_batch)},
	{"CRM_SWEEP_SECONDS", 1, 3600, "an integer", offsetof(struct crm_config, sweep_seconds)},
	{"CRM_STATEMENT_TIMEOUT", 0, TIMEOUT_MAX, "seconds", offsetof(struct crm_config, statement_timeout)},
	{"CRM_LOCK_TIMEOUT", 0, TIMEOUT_MAX, "seconds", offsetof(struct crm_config, lock_timeout)},
	{"CRM_BODY_TIMEOUT", 1, TIMEOUT_MAX, "seconds", offsetof(struct crm_config, body_timeout)},
	{"CRM_QUEUE_TIMEOUT_MS", 0, 600000, "milliseconds", offsetof(struct crm_config, queue_timeout_ms)},
	{"CRM_LISTEN_BACKLOG", 16, 65535, "an integer", offsetof(struct crm_config, listen_backlog)},
	{"CRM_IDEMPOTENCY_TTL", 60, 30 * 24 * 3600, "seconds", offsetof(struct crm_config, idempotency_ttl)},
	{"CRM_KEY_CACHE_MS", 0, 5000, "milliseconds", offsetof(struct crm_config, key_cache_ms)},
};

static bool load_numbers(struct crm_config *cfg, crm_getenv_fn get, struct crm_err *err)
{
	const char *v;
	long n;

	if ((v = get("CRM_SOCKET_MODE")) != NULL) {
		if (!parse_long(v, 0, 0777, 8, &n))
			return crm_err_set(err, CRM_E_INVALID,
				"CRM_SOCKET_MODE: expected octal permissions such as 0660");
		cfg->socket_mode = (unsigned)n;
		if ((cfg->socket_mode & 0007) != 0)
			return crm_err_set(err, CRM_E_INVALID,
				"CRM_SOCKET_MODE: %04o lets every local user reach the workers; give nginx's user the "
				"socket's group (CRM_SOCKET_GROUP) and use 0660",
				cfg->socket_mode);
	}
	for (size_t i = 0; i < CRM_COUNT(int_settings); i++) {
		const struct int_setting *st = &int_settings[i];

		if ((v = get(st->name)) == NULL)
			continue;
		if (!parse_long(v, st->min, st->max, 10, &n))
			return crm_err_set(err, CRM_E_INVALID, "%s: expected %s from %ld to %ld", st->name, st->unit,
				st->min, st->max);
		*(int *)(void *)((char *)cfg + st->offset) = (int)n;
	}
	if ((v = get("CRM_BODY_LIMIT")) != NULL) {
		if (!parse_long(v, BODY_LIMIT_MIN, BODY_LIMIT_MAX, 10, &n))
			return crm_err_set(err, CRM_E_INVALID, "CRM_BODY_LIMIT: expected bytes from %d to %d",
				BODY_LIMIT_MIN, BODY_LIMIT_MAX);
		cfg->body_limit = (size_t)n;
	}
	return true;
}

/* A user or group name: 1 to 63 bytes without '/', ':' or white space (getpwnam looks it up). */
static bool load_name(crm_getenv_fn get, const char *var, char *out, size_t size, struct crm_err *err)
{
	const char *v = get(var);

	if (v == NULL)
		return true;
	if (v[0] == '\0' || strlen(v) >= size || strpbrk(v, "/: \t\n") != NULL)
		return crm_err_set(err, CRM_E_INVALID, "%s: expected a user or group name", var);
	snprintf(out, size, "%s", v);
	return true;
}

static bool load_all(struct crm_config *cfg, crm_getenv_fn get, struct crm_err *err)
{
	const char *v;

	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_kind = CRM_LISTEN_UNIX;
	snprintf(cfg->listen_addr, sizeof(cfg->listen_addr), "/run/crm/crm.sock");
	cfg->socket_mode = 0660;
	cfg->workers = default_workers();
	cfg->log_level = CRM_LOG_INFO;
	cfg->log_format = CRM_LOG_TEXT;
	cfg->body_limit = 1024 * 1024;
	cfg->auto_migrate = true;
	cfg->drain_batch = 16;
	cfg->sweep_seconds = 10;
	cfg->statement_timeout = 30;
	cfg->lock_timeout = 5;
	cfg->body_timeout = 10;
	cfg->queue_timeout_ms = 500;
	cfg->listen_backlog = 256;
	cfg->idempotency_ttl = 24 * 3600;
	cfg->key_cache_ms = 2000;

	if ((v = get("CRM_DATABASE_URL")) != NULL) {
		if (strlen(v) >= sizeof(cfg->database_url))
			return crm_err_set(err, CRM_E_INVALID, "CRM_DATABASE_URL: longer than %zu bytes",
				sizeof(cfg->database_url) - 1);
		snprintf(cfg->database_url, sizeof(cfg->database_url), "%s", v);
	}
	v = get("CRM_LISTEN");
	if (v == NULL && (v = get("LISTEN_FDS")) != NULL && strcmp(v, "1") == 0)
		v = "fd:3";
	if (v != NULL && !parse_listen(cfg, v, err))
		return false;
	if (!load_numbers(cfg, get, err))
		return false;
	if ((v = get("CRM_LOG_LEVEL")) != NULL && !crm_log_level_parse(v, &cfg->log_level))
		return crm_err_set(err, CRM_E_INVALID, "CRM_LOG_LEVEL: expected error, warn, info or debug");
	if ((v = get("CRM_LOG_FORMAT")) != NULL && !crm_log_format_parse(v, &cfg->log_format))
		return crm_err_set(err, CRM_E_INVALID, "CRM_LOG_FORMAT: expected text or json");
	if ((v = get("CRM_AUTO_MIGRATE")) != NULL && !parse_bool(v, &cfg->auto_migrate))
		return crm_err_set(err, CRM_E_INVALID, "CRM_AUTO_MIGRATE: expected on or off");
	if ((v = get("CRM_BENCH_NO_AUTH")) != NULL && !parse_bool(v, &cfg->bench_no_auth))
		return crm_err_set(err, CRM_E_INVALID, "CRM_BENCH_NO_AUTH: expected 1 or 0");
	if (!load_name(get, "CRM_USER", cfg->user, sizeof(cfg->user), err) ||
		!load_name(get, "CRM_GROUP", cfg->group, sizeof(cfg->group), err) ||
		!load_name(get, "CRM_SOCKET_GROUP", cfg->socket_group, sizeof(cfg->socket_group), err))
		return false;
	if ((v = get("CRM_PID_FILE")) != NULL) {
		if (v[0] == '\0' || strlen(v) >= sizeof(cfg->pid_file))
			return crm_err_set(err, CRM_E_INVALID, "CRM_PID_FILE: expected a path");
		snprintf(cfg->pid_file, sizeof(cfg->pid_file), "%s", v);
	}
	return true;
}

/* The configuration file's settings while a load runs (the master is single-threaded). */
static struct file_var {
	char name[32];
	char value[1024];
} file_vars[FILE_VARS_MAX];
static size_t file_nvars;
static crm_getenv_fn env_get;

static const char *const file_names[] = {"CRM_DATABASE_URL", "CRM_LISTEN", "CRM_SOCKET_MODE", "CRM_SOCKET_GROUP",
	"CRM_USER", "CRM_GROUP", "CRM_BODY_LIMIT", "CRM_LOG_LEVEL", "CRM_LOG_FORMAT", "CRM_AUTO_MIGRATE",
	"CRM_BENCH_NO_AUTH", "CRM_PID_FILE"};

static bool known_name(const char *name)
{
	for (size_t i = 0; i < CRM_COUNT(file_names); i++) {
		if (strcmp(file_names[i], name) == 0)
			return true;
	}
	for (size_t i = 0; i < CRM_COUNT(int_settings); i++) {
		if (strcmp(int_settings[i].name, name) == 0)
			return true;
	}
	return false;
}

static const char *layered_get(const char *name)
{
	for (size_t i = 0; i < file_nvars; i++) {
		if (strcmp(file_vars[i].name, name) == 0)
			return file_vars[i].value;
	}
	return env_get(name);
}

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		s[--n] = '\0';
	return s;
}

/* Stores NAME=value; a later line of the same name replaces an earlier one. */
static bool store_var(const char *name, const char *value, const char *path, int lineno, struct crm_err *err)
{
	size_t i;

	if (!known_name(name))
		return crm_err_set(err, CRM_E_INVALID, "%s line %d: %s is not a setting of crm (see crm --help)", path,
			lineno, name);
	if (strlen(value) >= sizeof(file_vars[0].value))
		return crm_err_set(err, CRM_E_INVALID, "%s line %d: the value of %s is too long", path, lineno, name);
	for (i = 0; i < file_nvars && strcmp(file_vars[i].name, name) != 0; i++)
		;
	if (i == CRM_COUNT(file_vars))
		return crm_err_set(err, CRM_E_INVALID, "%s: too many settings", path);
	snprintf(file_vars[i].name, sizeof(file_vars[i].name), "%s", name);
	snprintf(file_vars[i].value, sizeof(file_vars[i].value), "%s", value);
	if (i == file_nvars)
		file_nvars++;
	return true;
}

/* One line: blank, a comment (# or ;), or [export ]NAME=value with the value optionally in
 * single or double quotes (taken as they are: no escapes, no variable expansion). */
static bool parse_line(char *line, const char *path, int lineno, struct crm_err *err)
{
	char *p = trim(line), *eq, *value;
	size_t n;

	if (*p == '\0' || *p == '#' || *p == ';')
		return true;
	if (strncmp(p, "export ", 7) == 0)
		p = trim(p + 7);
	eq = strchr(p, '=');
	if (eq == NULL || eq == p)
		return crm_err_set(err, CRM_E_INVALID, "%s line %d: expected NAME=value", path, lineno);
	*eq = '\0';
	p = trim(p);
	value = trim(eq + 1);
	n = strlen(value);
	if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
		value[n - 1] = '\0';
		value++;
	}
	return store_var(p, value, path, lineno, err);
}

static bool read_file(const char *path, struct crm_err *err)
{
	char line[2048];
	int lineno = 0;
	bool ok = true;
	FILE *f = fopen(path, "r");

	file_nvars = 0;
	if (f == NULL)
		return crm_err_set(err, CRM_E_INVALID, "CRM_CONFIG_FILE: cannot read %s: %s", path, strerror(errno));
	while (ok && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
			ok = crm_err_set(err, CRM_E_INVALID, "%s line %d: longer than %zu bytes", path, lineno,
				sizeof(line) - 2);
		else
			ok = parse_line(line, path, lineno, err);
	}
	if (ok && ferror(f))
		ok = crm_err_set(err, CRM_E_INVALID, "CRM_CONFIG_FILE: error reading %s", path);
	fclose(f);
	return ok;
}

bool crm_config_load(struct crm_config *cfg, crm_getenv_fn get, struct crm_err *err)
{
	const char *path = get("CRM_CONFIG_FILE");
	bool ok;

	if (path == NULL)
		return load_all(cfg, get, err);
	if (path[0] != '/' || strlen(path) >= sizeof(cfg->config_file))
		return crm_err_set(err, CRM_E_INVALID, "CRM_CONFIG_FILE: expected an absolute path");
	if (!read_file(path, err)) {
		file_nvars = 0;
		return false;
	}
	env_get = get;
	ok = load_all(cfg, layered_get, err);
	file_nvars = 0;
	if (ok)
		snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", path);
	return ok;
}

static void keep_int(int *next, int old, const char *name)
{
	if (*next == old)
		return;
	crm_log_warn("%s changed (%d to %d): ignored until serve restarts", name, old, *next);
	*next = old;
}

static void keep_str(char *next, const char *old, size_t size, const char *name)
{
	if (strcmp(next, old) == 0)
		return;
	crm_log_warn("%s changed: ignored until serve restarts", name);
	snprintf(next, size, "%s", old);
}

bool crm_config_reload(const struct crm_config *old, struct crm_config *next, crm_getenv_fn get, struct crm_err *err)
{
	int mode;

	if (!crm_config_load(next, get, err))
		return false;
	if (next->listen_kind != old->listen_kind || next->listen_fd != old->listen_fd ||
		strcmp(next->listen_addr, old->listen_addr) != 0) {
		crm_log_warn("CRM_LISTEN changed: ignored until serve restarts");
		next->listen_kind = old->listen_kind;
		next->listen_fd = old->listen_fd;
		memcpy(next->listen_addr, old->listen_addr, sizeof(next->listen_addr));
	}
	mode = (int)next->socket_mode;
	keep_int(&mode, (int)old->socket_mode, "CRM_SOCKET_MODE");
	next->socket_mode = (unsigned)mode;
	keep_int(&next->workers, old->workers, "CRM_WORKERS");
	keep_int(&next->listen_backlog, old->listen_backlog, "CRM_LISTEN_BACKLOG");
	if (next->auto_migrate != old->auto_migrate || next->bench_no_auth != old->bench_no_auth) {
		crm_log_warn("CRM_AUTO_MIGRATE or CRM_BENCH_NO_AUTH changed: ignored until serve restarts");
		next->auto_migrate = old->auto_migrate;
		next->bench_no_auth = old->bench_no_auth;
	}
	keep_str(next->pid_file, old->pid_file, sizeof(next->pid_file), "CRM_PID_FILE");
	keep_str(next->user, old->user, sizeof(next->user), "CRM_USER");
	keep_str(next->group, old->group, sizeof(next->group), "CRM_GROUP");
	keep_str(next->socket_group, old->socket_group, sizeof(next->socket_group), "CRM_SOCKET_GROUP");
	return true;
}
