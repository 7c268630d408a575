/* pg_internal.h -- private to the pg layer (pg.c, pg_queries.c, pg_migrate.c) */
#ifndef CRM_PG_INTERNAL_H
#define CRM_PG_INTERNAL_H

#include <libpq-fe.h>

#include "crm/pg.h"

struct crm_pg {
	char *conninfo;
	PGconn *conn;        /* NULL until connected; dropped when broken */
	bool prepared;       /* the statements exist on this connection */
	bool down_logged;    /* "could not connect" was logged and not yet followed by a success */
	bool connected_once; /* a later connect is a reconnect (metrics) */
	bool listening;      /* LISTEN crm_backlog was sent on this connection */
	bool outer;          /* a request's transaction is open (Idempotency-Key): inner BEGIN/COMMIT skipped */
	int drain_batch;     /* see crm_pg_set_drain_batch */
	char options[128];   /* SETs run on connect: time zone and the time limits (crm_pg_set_timeouts) */
};

/* Prepared statements, made once per connection. */
enum pg_stmt {
	PGS_OPERATOR_CREATE,
	PGS_OPERATOR_GET,
	PGS_OPERATOR_UPDATE,
	PGS_OPERATORS_LIST,
	PGS_SOURCE_CREATE,
	PGS_SOURCE_GET,
	PGS_SOURCE_UPDATE,
	PGS_SOURCE_LOCK,
	PGS_SOURCES_LIST,
	PGS_OPERATORS_MISSING,
	PGS_SOURCE_OPERATORS_DELETE,
	PGS_SOURCE_OPERATORS_UPSERT,
	PGS_SOURCE_OPERATORS_LIST,
	PGS_INTAKE,
	PGS_CONTACT_GET,
	PGS_CONTACT_UPDATE,
	PGS_CONTACT_ACCEPT,
	PGS_DRAIN_SOURCES,
	PGS_DRAIN_NEXT,
	PGS_SHIFT_ADVANCE,
	PGS_ACCEPT_TIMEOUT_ADVANCE,
	PGS_CONTACT_EXISTS,
	PGS_ASSIGNMENTS_LIST,
	PGS_SOURCE_STATS,
	PGS_SOURCE_COUNTS,
	PGS_IDEM_CLAIM,
	PGS_IDEM_STORE,
	PGS_IDEM_EXPIRE,
	PGS_IDEM_EXPIRE_CONTACTS,
	PGS_IDEM_INTAKE,
	PGS_KEY_CREATE,
	PGS_KEY_LOOKUP,
	PGS_KEY_GET,
	PGS_KEY_REVOKE,
	PGS_KEYS_LIST,
	PGS_BACKLOG_GAUGE,
	PGS_SIMULATE_INPUTS,
	PGS__COUNT
};

struct pg_statement {
	const char *name;
	const char *sql;
	int nparams;
};

extern const struct pg_statement crm_pg_statements[PGS__COUNT];

/* Connects without preparing statements (migrations run before the tables exist). */
bool crm_pg_connect(struct crm_pg *pg, struct crm_err *err);

/* Runs a prepared statement. Returns a result whose status is TUPLES_OK or COMMAND_OK (the
 * caller PQclear's it), or NULL with err set from the SQLSTATE. */
PGresult *crm_pg_exec(struct crm_pg *pg, enum pg_stmt stmt, const char *const *values, struct crm_err *err);
/* Runs `before` (plain SQL without parameters, or NULL), the prepared statement and `after`
 * (likewise) in one round trip (libpq pipeline mode): "BEGIN" + a claim, a store + "COMMIT".
 * After the first failure the rest is skipped by the server. Returns the statement's result
 * (the caller PQclear's it), or NULL with err set from the first failure. */
PGresult *crm_pg_exec_between(struct crm_pg *pg, const char *before, enum pg_stmt stmt, const char *const *values,
	const char *after, struct crm_err *err);
/* Runs unprepared SQL, with or without parameters (text format). Same contract. */
PGresult *crm_pg_exec_params(struct crm_pg *pg, const char *sql, int n, const char *const *values, struct crm_err *err);
/* Sets err from a failed result (or a broken connection when res is NULL); logs the server's
 * text. Returns false. */
bool crm_pg_error(struct crm_pg *pg, const PGresult *res, struct crm_err *err);

/* Single-row streaming of one parameterised query: fn is called per row; returns false with
 * err set on a database error, or false with err->code == CRM_E_OK when fn stopped early. */
typedef bool (*pg_row_fn)(void *ctx, const PGresult *row);
bool crm_pg_stream(struct crm_pg *pg, const char *sql, int n, const char *const *values, pg_row_fn fn, void *ctx,
	struct crm_err *err);
/* The same for a prepared statement. */
bool crm_pg_stream_prepared(struct crm_pg *pg, enum pg_stmt stmt, const char *const *values, pg_row_fn fn, void *ctx,
	struct crm_err *err);

#endif
