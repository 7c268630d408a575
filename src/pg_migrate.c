/* pg_migrate.c -- schema migrations, safe to run from many processes at once
 *
 * The migrations are the files of sql/, compiled into the binary (see src/embed_sql.py):
 * - numbered ones (sql/NNNN_name.sql: tables, indexes, types, trigger bindings), applied once
 *   each, in order, recorded in crm_migrations; never edited once released;
 * - repeatable ones (sql/functions/name.sql: every function), applied after them in name order
 *   whenever a file's checksum differs from the one recorded in crm_schema_repeatable, and all
 *   of them after any numbered migration (which may have dropped what they define). Each file
 *   is idempotent (CREATE OR REPLACE), so the live definition of a function is its file.
 * One call is one transaction, taken while holding a session advisory lock: the schema moves
 * to the binary's version completely or not at all, and a second process starting at the same
 * moment waits, then finds nothing left to do.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "pg_internal.h"

/* "crm\0" as a 64-bit advisory lock key */
#define MIGRATE_LOCK_KEY "1668443392"

/* Runs SQL text; a file of comments only (PGRES_EMPTY_QUERY) is fine. */
static bool run(struct crm_pg *pg, const char *sql, struct crm_err *err)
{
	PGresult *res = PQexec(pg->conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		(void)crm_pg_error(pg, res, err);
		PQclear(res);
		return false;
	}
	PQclear(res);
	return true;
}

static bool create_bookkeeping(struct crm_pg *pg, struct crm_err *err)
{
	return run(pg,
		       "CREATE TABLE IF NOT EXISTS crm_migrations (version integer PRIMARY KEY, name text NOT NULL,"
		       " applied_at timestamptz NOT NULL DEFAULT now())",
		       err) &&
	       run(pg,
		       "CREATE TABLE IF NOT EXISTS crm_schema_repeatable (name text PRIMARY KEY, checksum text NOT NULL,"
		       " applied_at timestamptz NOT NULL DEFAULT now())",
		       err);
}

static bool applied_versions(struct crm_pg *pg, bool *done, size_t n, struct crm_err *err)
{
	PGresult *res = PQexec(pg->conn, "SELECT version FROM crm_migrations ORDER BY version");
	int rows;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		(void)crm_pg_error(pg, res, err);
		PQclear(res);
		return false;
	}
	rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		long v = strtol(PQgetvalue(res, i, 0), NULL, 10);

		if (v >= 1 && (size_t)v <= n)
			done[v - 1] = true;
		else
			crm_log_warn("database has migration %ld, unknown to this binary (newer schema?)", v);
	}
	PQclear(res);
	return true;
}

static bool apply_numbered(struct crm_pg *pg, const struct crm_migration *m, struct crm_err *err)
{
	char record[256];

	snprintf(record, sizeof(record), "INSERT INTO crm_migrations (version, name) VALUES (%d, '%s')", m->version,
		m->name); /* both come from the build, not from input */
	if (!run(pg, m->sql, err) || !run(pg, record, err)) {
		crm_log_error("migration %04d_%s failed", m->version, m->name);
		return false;
	}
	crm_log_info("applied migration %04d_%s", m->version, m->name);
	return true;
}

/* Records r's checksum; *stale says whether it differed (or `all` was asked for), i.e. whether
 * the file must be applied now. */
static bool record_repeatable(struct crm_pg *pg, const struct crm_repeatable *r, bool all, bool *stale,
	struct crm_err *err)
{
	const char *values[] = {r->name, r->checksum, all ? "t" : "f"};
	PGresult *res = PQexecParams(pg->conn,
		"INSERT INTO crm_schema_repeatable AS t (name, checksum) VALUES ($1, $2)"
		" ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()"
		" WHERE $3::boolean OR t.checksum <> EXCLUDED.checksum RETURNING 1",
		3, NULL, values, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		(void)crm_pg_error(pg, res, err);
		PQclear(res);
		return false;
	}
	*stale = PQntuples(res) == 1;
	PQclear(res);
	return true;
}

static bool apply_repeatables(struct crm_pg *pg, bool all, struct crm_err *err)
{
	for (size_t i = 0; i < crm_repeatables_count; i++) {
		const struct crm_repeatable *r = &crm_repeatables[i];
		bool stale;

		if (!record_repeatable(pg, r, all, &stale, err))
			return false;
		if (!stale)
			continue;
		if (!run(pg, r->sql, err)) {
			crm_log_error("migration %s failed", r->name);
			return false;
		}
		crm_log_info("applied %s", r->name);
	}
	return true;
}

/* Everything pending, inside the transaction the caller opened. */
static bool apply_pending(struct crm_pg *pg, int *applied, struct crm_err *err)
{
	bool *done = calloc(crm_migrations_count + 1, sizeof(*done));
	bool ok = false;

	if (!create_bookkeeping(pg, err) || !applied_versions(pg, done, crm_migrations_count, err))
		goto out;
	for (size_t i = 0; i < crm_migrations_count; i++) {
		if (done[i])
			continue;
		if (!apply_numbered(pg, &crm_migrations[i], err))
			goto out;
		(*applied)++;
	}
	ok = apply_repeatables(pg, *applied > 0, err);
out:
	free(done);
	return ok;
}

bool crm_pg_migrate(struct crm_pg *pg, int *applied, struct crm_err *err)
{
	bool ok;

	*applied = 0;
	if (!crm_pg_connect(pg, err))
		return false;
	if (!run(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err))
		return false;
	ok = run(pg, "SET client_min_messages = warning", err) && run(pg, "BEGIN", err) &&
	     apply_pending(pg, applied, err) && run(pg, "COMMIT", err);
	if (pg->conn != NULL) {
		PGresult *res;

		if (!ok) {
			*applied = 0;
			res = PQexec(pg->conn, "ROLLBACK");
			PQclear(res);
		}
		res = PQexec(pg->conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")");
		PQclear(res);
		res = PQexec(pg->conn, "RESET client_min_messages");
		PQclear(res);
	}
	return ok;
}

static const char *arena_fmt(struct crm_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *arena_fmt(struct crm_arena *a, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return crm_arena_strdup(a, text);
}

/* Whether the recorded migrations and repeatable checksums are exactly this binary's: *problem
 * NULL when they are, else (in the arena) the first difference found. */
static const char *schema_diff(struct crm_arena *a, const PGresult *res)
{
	size_t numbered = 0, repeatable = 0;

	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0), *sum = PQgetvalue(res, i, 1);
		size_t j;

		if (PQgetisnull(res, i, 1)) { /* a numbered migration: its version */
			long v = strtol(name, NULL, 10);

			if (v < 1 || (size_t)v > crm_migrations_count)
				return arena_fmt(a, "the database has migration %ld, unknown to this binary", v);
			numbered++;
			continue;
		}
		for (j = 0; j < crm_repeatables_count && strcmp(crm_repeatables[j].name, name) != 0; j++)
			;
		if (j == crm_repeatables_count)
			return arena_fmt(a, "the database has %s, unknown to this binary", name);
		if (strcmp(crm_repeatables[j].checksum, sum) != 0)
			return arena_fmt(a, "%s differs from this binary's", name);
		repeatable++;
	}
	if (numbered != crm_migrations_count)
		return arena_fmt(a, "%zu of this binary's %zu migrations are applied", numbered, crm_migrations_count);
	if (repeatable != crm_repeatables_count)
		return arena_fmt(a, "%zu of this binary's %zu function files are applied", repeatable,
			crm_repeatables_count);
	return NULL;
}

bool crm_pg_schema_check(struct crm_pg *pg, struct crm_arena *a, const char **problem, struct crm_err *err)
{
	PGresult *res;

	*problem = NULL;
	if (!crm_pg_ensure(pg, err))
		return false;
	res = PQexec(pg->conn, "SELECT version::text, NULL FROM crm_migrations"
			       " UNION ALL SELECT name, checksum FROM crm_schema_repeatable");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : "",
			    "42P01") == 0) { /* no bookkeeping tables: never migrated */
			*problem = "the database was never migrated";
			PQclear(res);
			return true;
		}
		(void)crm_pg_error(pg, res, err);
		PQclear(res);
		return false;
	}
	*problem = schema_diff(a, res);
	PQclear(res);
	return true;
}
