/* config.h -- process configuration from the environment, validated once at start */
#ifndef CRM_CONFIG_H
#define CRM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "crm/err.h"
#include "crm/log.h"

enum crm_listen_kind { CRM_LISTEN_TCP, CRM_LISTEN_UNIX, CRM_LISTEN_FD };

struct crm_config {
	char database_url[1024];
	enum crm_listen_kind listen_kind;
	char listen_addr[256]; /* "host:port" or a unix socket path, as libfcgi takes it */
	int listen_fd;         /* CRM_LISTEN_FD only */
	unsigned socket_mode;
	int workers;
	enum crm_log_level log_level;
	enum crm_log_format log_format;
	size_t body_limit;
	bool auto_migrate;
	int drain_batch;       /* waiting contacts a freeing transaction assigns itself */
	int sweep_seconds;     /* the drainer's safety sweep interval */
	int statement_timeout; /* seconds a statement of the application may run; 0: no limit */
	int lock_timeout;      /* seconds a statement may wait for a lock; 0: no limit */
	int body_timeout;      /* seconds from accept until the request body is read whole */
	int queue_timeout_ms;  /* a request that waited longer in the queue is 503; 0: no limit */
	int listen_backlog;    /* connections the kernel queues before refusing more */
	int idempotency_ttl;   /* seconds an Idempotency-Key is kept */
	int key_cache_ms;      /* how long a worker trusts a verified API key (bounds revocation) */
	bool bench_no_auth;    /* CRM_BENCH_NO_AUTH=1: no key check at all; benchmarks only */
	char pid_file[512];
	char user[64];         /* CRM_USER: who serve runs as once started as root; "" none */
	char group[64];        /* CRM_GROUP: "" for the user's primary group */
	char socket_group[64]; /* CRM_SOCKET_GROUP: "" for the group above (or unchanged) */
	char config_file[512]; /* CRM_CONFIG_FILE that was read; "" none */
};

/* Environment lookup; getenv in production, a table in unit tests. */
typedef const char *(*crm_getenv_fn)(const char *name);

/* Fills cfg from the CRM_* variables (see crm_config_usage) and, when CRM_CONFIG_FILE names one,
 * from that file of NAME=value lines, whose values win. On a bad value or line, err names the
 * variable (or file and line) and what it must be; cfg is then unspecified. */
bool crm_config_load(struct crm_config *cfg, crm_getenv_fn getenv_fn, struct crm_err *err) CRM_MUSTCHECK;

/* SIGHUP: loads the configuration again into next. The settings that need a restart (listen
 * address and socket, users, pid file, workers, backlog, auto-migrate, bench mode) keep old's
 * values, each change logged as ignored. False (next unspecified, err says why) when the file or
 * a value is bad: the caller keeps old. */
bool crm_config_reload(const struct crm_config *old, struct crm_config *next, crm_getenv_fn getenv_fn,
	struct crm_err *err) CRM_MUSTCHECK;

/* The help text for the environment variables. */
const char *crm_config_usage(void);

#endif
