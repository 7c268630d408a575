/* pg.c -- the worker's database connection: connect, prepare, run, stream, map errors
 *
 * Owns the PGconn and the mapping from SQLSTATE to crm_errcode (the only place that reads
 * SQLSTATEs). PgBouncer's rule applies: a connection is never reused with a transaction left
 * open, and a broken one is dropped and made again on the next request (503 meanwhile).
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm/arena.h"
#include "crm/log.h"
#include "crm/metrics.h"
#include "pg_internal.h"

struct crm_pg *crm_pg_create(const char *conninfo)
{
	struct crm_pg *pg = crm_xmalloc(sizeof(*pg));

	pg->conninfo = crm_xstrdup(conninfo);
	pg->conn = NULL;
	pg->prepared = false;
	pg->down_logged = false;
	pg->connected_once = false;
	pg->listening = false;
	pg->outer = false;
	pg->drain_batch = 32;
	crm_pg_set_timeouts(pg, 0, 0);
	return pg;
}

void crm_pg_destroy(struct crm_pg *pg)
{
	if (pg == NULL)
		return;
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	free(pg->conninfo);
	free(pg);
}

static void drop(struct crm_pg *pg)
{
	if (pg->conn != NULL) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	pg->prepared = false;
	pg->listening = false;
	pg->outer = false;
}

void crm_pg_set_drain_batch(struct crm_pg *pg, int batch)
{
	pg->drain_batch = batch;
}

void crm_pg_set_timeouts(struct crm_pg *pg, int statement_seconds, int lock_seconds)
{
	snprintf(pg->options, sizeof(pg->options),
		"SET TimeZone = 'UTC'; SET statement_timeout = '%ds'; SET lock_timeout = '%ds'", statement_seconds,
		lock_seconds);
}

static bool prepare_all(struct crm_pg *pg, struct crm_err *err)
{
	for (int i = 0; i < PGS__COUNT; i++) {
		const struct pg_statement *st = &crm_pg_statements[i];
		PGresult *res = PQprepare(pg->conn, st->name, st->sql, st->nparams, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			crm_log_error("could not prepare statement %s: %s", st->name,
				res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
			PQclear(res);
			drop(pg);
			return crm_err_set(err, CRM_E_UNAVAILABLE, NULL);
		}
		PQclear(res);
	}
	pg->prepared = true;
	return true;
}

/* The session's settings, as statements rather than the startup packet's "options", which
 * PgBouncer 1.18 refuses (or drops, with ignore_startup_parameters). */
static bool set_session(struct crm_pg *pg)
{
	PGresult *res = PQexec(pg->conn, pg->options);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		crm_log_error("could not set the session's time zone and time limits: %s",
			res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
	PQclear(res);
	return ok;
}

bool crm_pg_connect(struct crm_pg *pg, struct crm_err *err)
{
	/* Later keywords override earlier ones, so values in CRM_DATABASE_URL win (a multi-host
	 * host=a,b with target_session_attrs=read-write finds the primary after a failover). Over
	 * TCP, a peer that vanished (host down, network cut) is noticed in about a minute by the
	 * keepalives when idle, and in 30 s by tcp_user_timeout when data is unacknowledged; unix
	 * sockets ignore both. */
	static const char *const keys[] = {"connect_timeout", "application_name", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", NULL};
	const char *values[] = {"5", "crm", "1", "30", "10", "3", "30000", pg->conninfo, NULL};

	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK)
		return true;
	drop(pg);
	pg->conn = PQconnectdbParams(keys, values, 1);
	if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK || !set_session(pg)) {
		if (!pg->down_logged)
			crm_log_error("could not connect to database: %s",
				pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
		pg->down_logged = true;
		drop(pg);
		crm_metrics_db_error("08"); /* connection exception: no SQLSTATE without a connection */
		return crm_err_set(err, CRM_E_UNAVAILABLE, NULL);
	}
	if (pg->down_logged)
		crm_log_info("connected to database");
	pg->down_logged = false;
	if (pg->connected_once)
		crm_metrics_db_reconnect();
	pg->connected_once = true;
	return true;
}

/* An idle connection has nothing to read unless the server is closing it (restart, terminated
 * backend, idle timeout): then reconnect before sending the request, so the request goes over a
 * fresh connection instead of failing. (The drainer's connection carries notifications.) */
static bool idle_connection_alive(struct crm_pg *pg)
{
	struct pollfd pfd = {PQsocket(pg->conn), POLLIN, 0};

	if (pg->listening || poll(&pfd, 1, 0) <= 0)
		return true;
	crm_log_warn("database connection closed by the server; reconnecting");
	return false;
}

bool crm_pg_ensure(struct crm_pg *pg, struct crm_err *err)
{
	if (pg->outer) {
		/* inside a request's transaction: a new connection would run the rest outside it, and
		 * after a failed statement (a lost race) the transaction can only be rolled back */
		if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK &&
			PQtransactionStatus(pg->conn) == PQTRANS_INTRANS)
			return true;
		return crm_err_set(err, CRM_E_RETRY, NULL);
	}
	if (pg->conn != NULL && pg->prepared && PQstatus(pg->conn) == CONNECTION_OK) {
		if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE || idle_connection_alive(pg))
			return true;
	}
	drop(pg);
	return crm_pg_connect(pg, err) && prepare_all(pg, err);
}

void crm_pg_after_request(struct crm_pg *pg)
{
	PGresult *res;

	pg->outer = false;
	if (pg->conn == NULL)
		return;
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		drop(pg);
		return;
	}
	switch (PQtransactionStatus(pg->conn)) {
	case PQTRANS_IDLE: return;
	case PQTRANS_INTRANS:
	case PQTRANS_INERROR:
		res = PQexec(pg->conn, "ROLLBACK");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			drop(pg);
		PQclear(res);
		return;
	default: /* a query still running or an unknown state: start afresh */
		crm_log_warn("dropping a database connection left busy");
		drop(pg);
	}
}

static bool sqlstate_is(const char *state, const char *prefix)
{
	return strncmp(state, prefix, strlen(prefix)) == 0;
}

/* Every named constraint a request can violate, mapped once to its answer. A row with a field
 * is a 422 naming that field; the others use the code and message as they are. A constraint
 * that is not here (an internal invariant, or one added without a row) is a 500, never a
 * guess: see constraint_error. */
static const struct pg_constraint {
	const char *name;
	enum crm_errcode code;
	const char *field;
	const char *message;
} pg_constraints[] = {
	{"sources_name_folded_key", CRM_E_CONFLICT, NULL,
		"a source with this name exists (names are compared regardless of case and Unicode form)"},
	{"sources_name_check", CRM_E_INVALID, "name", "must be 1 to 200 characters"},
	{"sources_description_check", CRM_E_INVALID, "description", "must be at most 2000 characters"},
	{"sources_mode", CRM_E_INVALID, "mode", "must be weighted_random or least_loaded"},
	{"sources_sticky_window", CRM_E_INVALID, "sticky_window_seconds", "must be 1 to 31536000 or null"},
	{"operators_name_check", CRM_E_INVALID, "name", "must be 1 to 200 characters"},
	{"operators_max_load_limit_check", CRM_E_INVALID, "max_load_limit", "must be >= 0"},
	{"operators_schedule_timezone", CRM_E_INVALID, "schedule.timezone", "is not a time zone the database knows"},
	{"source_operators_weight_check", CRM_E_INVALID, "operators", "every weight must be > 0"},
	{"source_operators_source_id_fkey", CRM_E_NOT_FOUND, NULL, "source not found"},
	{"source_operators_operator_id_fkey", CRM_E_INVALID, "operators", "an operator does not exist"},
	{"leads_email_check", CRM_E_INVALID, "email", "must be a lower-case address of 3 to 254 characters"},
	{"contacts_source_id_fkey", CRM_E_NOT_FOUND, NULL, "source not found"},
	{"contacts_operator_id_fkey", CRM_E_INVALID, "operator_id", "operator does not exist"},
	{"contacts_status_check", CRM_E_INVALID, "status", "must be active or closed"},
	{"api_keys_name_check", CRM_E_INVALID, "name", "must be 1 to 200 characters"},
	{"api_keys_scopes_check", CRM_E_INVALID, "scopes", "must be 1 to 4 of admin, intake, agent, read"},
	{"api_keys_source_ids_check", CRM_E_INVALID, "source_ids", "needs the intake scope and at least one id"},
	{"api_keys_public_id_key", CRM_E_RETRY, NULL, "key id collision, try again"},
	/* a keyed POST /api/contacts whose first attempt met a contact holding its Idempotency-Key:
	 * retried the careful way, which replays (crm_service_idem_contact_create) */
	{"contacts_idem_hash_key", CRM_E_RETRY, NULL, "the Idempotency-Key is on a contact already"},
};

static const char *field_or(const PGresult *res, int code, const char *fallback)
{
	const char *v = PQresultErrorField(res, code);

	return v != NULL ? v : fallback;
}

/* Class 23 (integrity) errors. Logged with SQLSTATE, constraint and table only: the server's
 * DETAIL holds the row ("Failing row contains (...)"), which may be personal data. */
static bool constraint_error(const PGresult *res, const char *state, struct crm_err *err)
{
	const char *name = field_or(res, PG_DIAG_CONSTRAINT_NAME, NULL);
	const char *table = field_or(res, PG_DIAG_TABLE_NAME, "?");

	for (size_t i = 0; name != NULL && i < sizeof(pg_constraints) / sizeof(pg_constraints[0]); i++) {
		const struct pg_constraint *c = &pg_constraints[i];

		if (strcmp(c->name, name) != 0)
			continue;
		crm_log_info("rejected by the database (%s, constraint %s, table %s)", state, name, table);
		if (c->field != NULL)
			return crm_err_field(err, c->field, "%s", c->message);
		return crm_err_set(err, c->code, "%s", c->message);
	}
	crm_log_error("database integrity error (%s, constraint %s, table %s, column %s)", state, name ? name : "none",
		table, field_or(res, PG_DIAG_COLUMN_NAME, "none"));
	return crm_err_set(err, CRM_E_INTERNAL, NULL);
}

bool crm_pg_error(struct crm_pg *pg, const PGresult *res, struct crm_err *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	crm_metrics_db_error(state != NULL && pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK ? state : "08");
	if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK || state == NULL) {
		crm_log_error("database connection lost: %s", pg->conn ? PQerrorMessage(pg->conn) : "no connection");
		drop(pg);
		return crm_err_set(err, CRM_E_UNAVAILABLE, NULL);
	}
	if (sqlstate_is(state, "23"))
		return constraint_error(res, state, err);
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
		crm_log_info("transaction must be retried (%s)", state);
		return crm_err_set(err, CRM_E_RETRY, NULL);
	}
	if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0) {
		crm_log_warn("database time limit hit (%s)", state);
		return crm_err_set(err, CRM_E_TIMEOUT, NULL);
	}
	if (sqlstate_is(state, "08") || sqlstate_is(state, "57P") || sqlstate_is(state, "53")) {
		crm_log_error("database unavailable (%s)", state);
		return crm_err_set(err, CRM_E_UNAVAILABLE, NULL);
	}
	if (sqlstate_is(state, "22")) {
		/* the primary message of a data exception may quote the value: not logged */
		crm_log_info("rejected by the database (%s)", state);
		return crm_err_field(err, "body", "a value is outside what the database accepts");
	}
	/* neither the primary message nor DETAIL: both may quote a value of the request (a raise in
	 * a function, a cast); the SQLSTATE and the constraint, table and column names identify it */
	crm_log_error("database error (%s, constraint %s, table %s, column %s)", state,
		field_or(res, PG_DIAG_CONSTRAINT_NAME, "none"), field_or(res, PG_DIAG_TABLE_NAME, "none"),
		field_or(res, PG_DIAG_COLUMN_NAME, "none"));
	return crm_err_set(err, CRM_E_INTERNAL, NULL);
}

static PGresult *check(struct crm_pg *pg, PGresult *res, struct crm_err *err)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	(void)crm_pg_error(pg, res, err);
	PQclear(res);
	return NULL;
}

PGresult *crm_pg_exec(struct crm_pg *pg, enum pg_stmt stmt, const char *const *values, struct crm_err *err)
{
	const struct pg_statement *st = &crm_pg_statements[stmt];

	if (!crm_pg_ensure(pg, err))
		return NULL;
	return check(pg, PQexecPrepared(pg->conn, st->name, st->nparams, values, NULL, NULL, 0), err);
}

/* Reads the results of one pipelined query: keeps the first failure in *failed, the statement's
 * rows in *keep (when keep != NULL). False when the connection broke. */
static bool pipeline_read(struct crm_pg *pg, PGresult **keep, PGresult **failed)
{
	PGresult *res = PQgetResult(pg->conn);

	if (res == NULL)
		return false;
	for (; res != NULL; res = PQgetResult(pg->conn)) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			if (keep != NULL && *keep == NULL) {
				*keep = res;
				continue;
			}
		} else if (st != PGRES_PIPELINE_ABORTED && *failed == NULL) {
			*failed = res;
			continue;
		}
		PQclear(res);
	}
	return true;
}

static bool pipeline_send(struct crm_pg *pg, const char *before, const struct pg_statement *st,
	const char *const *values, const char *after)
{
	return PQenterPipelineMode(pg->conn) &&
	       (before == NULL || PQsendQueryParams(pg->conn, before, 0, NULL, NULL, NULL, NULL, 0)) &&
	       PQsendQueryPrepared(pg->conn, st->name, st->nparams, values, NULL, NULL, 0) &&
	       (after == NULL || PQsendQueryParams(pg->conn, after, 0, NULL, NULL, NULL, NULL, 0)) &&
	       PQpipelineSync(pg->conn);
}

PGresult *crm_pg_exec_between(struct crm_pg *pg, const char *before, enum pg_stmt stmt, const char *const *values,
	const char *after, struct crm_err *err)
{
	PGresult *keep = NULL, *failed = NULL, *sync;
	bool alive;

	if (!crm_pg_ensure(pg, err))
		return NULL;
	alive = pipeline_send(pg, before, &crm_pg_statements[stmt], values, after) &&
		(before == NULL || pipeline_read(pg, NULL, &failed)) && pipeline_read(pg, &keep, &failed) &&
		(after == NULL || pipeline_read(pg, NULL, &failed));
	sync = alive ? PQgetResult(pg->conn) : NULL;
	alive = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC && PQexitPipelineMode(pg->conn);
	PQclear(sync);
	if (!alive || failed != NULL) {
		PQclear(keep);
		(void)crm_pg_error(pg, alive ? failed : NULL, err);
		if (!alive)
			drop(pg);
		PQclear(failed);
		return NULL;
	}
	return keep;
}

PGresult *crm_pg_exec_params(struct crm_pg *pg, const char *sql, int n, const char *const *values, struct crm_err *err)
{
	if (!crm_pg_ensure(pg, err))
		return NULL;
	return check(pg, PQexecParams(pg->conn, sql, n, NULL, values, NULL, NULL, 0), err);
}

bool crm_pg_replicated(struct crm_pg *pg, struct crm_err *err)
{
	/* A transaction with an xid writes a commit record; under synchronous replication its COMMIT
	 * returns once the standby has the WAL up to that record, so everything committed before it */
	PGresult *res = crm_pg_exec_params(pg, "SELECT pg_current_xact_id()", 0, NULL, err);

	PQclear(res);
	return res != NULL;
}

/* Reads the remaining results of a query we stopped consuming: cancel, then drain. */
static void abandon(struct crm_pg *pg)
{
	PGcancel *cancel = PQgetCancel(pg->conn);
	char buf[256];
	PGresult *res;

	if (cancel != NULL) {
		(void)PQcancel(cancel, buf, sizeof(buf));
		PQfreeCancel(cancel);
	}
	while ((res = PQgetResult(pg->conn)) != NULL)
		PQclear(res);
}

static bool stream_results(struct crm_pg *pg, pg_row_fn fn, void *ctx, struct crm_err *err)
{
	PGresult *res;
	bool ok = true;

	if (!PQsetSingleRowMode(pg->conn))
		return crm_pg_error(pg, NULL, err);
	while ((res = PQgetResult(pg->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_SINGLE_TUPLE) {
			if (!fn(ctx, res)) {
				PQclear(res);
				abandon(pg);
				return false; /* err stays OK: the consumer stopped */
			}
		} else if (st != PGRES_TUPLES_OK) {
			ok = crm_pg_error(pg, res, err);
			if (pg->conn == NULL) {
				PQclear(res);
				return false;
			}
		}
		PQclear(res);
	}
	return ok;
}

bool crm_pg_stream(struct crm_pg *pg, const char *sql, int n, const char *const *values, pg_row_fn fn, void *ctx,
	struct crm_err *err)
{
	if (!crm_pg_ensure(pg, err))
		return false;
	if (!PQsendQueryParams(pg->conn, sql, n, NULL, values, NULL, NULL, 0))
		return crm_pg_error(pg, NULL, err);
	return stream_results(pg, fn, ctx, err);
}

bool crm_pg_stream_prepared(struct crm_pg *pg, enum pg_stmt stmt, const char *const *values, pg_row_fn fn, void *ctx,
	struct crm_err *err)
{
	const struct pg_statement *st = &crm_pg_statements[stmt];

	if (!crm_pg_ensure(pg, err))
		return false;
	if (!PQsendQueryPrepared(pg->conn, st->name, st->nparams, values, NULL, NULL, 0))
		return crm_pg_error(pg, NULL, err);
	return stream_results(pg, fn, ctx, err);
}

bool crm_pg_backlog_listen(struct crm_pg *pg, struct crm_err *err)
{
	PGresult *res;

	if (pg->listening && pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK)
		return true;
	if (!crm_pg_ensure(pg, err))
		return false;
	res = check(pg, PQexec(pg->conn, "LISTEN crm_backlog; LISTEN crm_drained"), err);
	if (res == NULL)
		return false;
	PQclear(res);
	pg->listening = true;
	return true;
}

void crm_pg_backlog_wait(struct crm_pg *pg, int timeout_ms)
{
	struct timespec now, end;
	sigset_t none;
	PGnotify *n;
	bool wake = false;

	if (pg->conn == NULL)
		return;
	sigemptyset(&none);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (!wake) {
		struct pollfd pfd = {.fd = PQsocket(pg->conn), .events = POLLIN};
		struct timespec left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			return; /* the time is up */
		/* Every signal is let in only during the wait, atomically (ppoll): a SIGTERM that came
		 * while the caller ran SQL with it blocked ends this wait at once instead of after the
		 * timeout. */
		if (ppoll(&pfd, 1, &left, &none) <= 0)
			return; /* the time is up, or a signal came */
		if (!PQconsumeInput(pg->conn)) {
			crm_log_warn("backlog listener lost its connection: %s", PQerrorMessage(pg->conn));
			drop(pg);
			return;
		}
		/* any number of wake-ups mean one more pass; a drain done elsewhere is only counted,
		 * at once (the drainer's slot of the metrics), and the wait goes on */
		while ((n = PQnotifies(pg->conn)) != NULL) {
			if (strcmp(n->relname, "crm_drained") == 0)
				crm_metrics_assignments(CRM_METRICS_REASON_BACKLOG, strtoull(n->extra, NULL, 10));
			else
				wake = true;
			PQfreemem(n);
		}
	}
}
