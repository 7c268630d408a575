/* pg_migrate.c -- forward-only schema migrations, safe to run from many processes at once
 *
 * The migrations are the files of sql/, compiled into the binary (see src/embed_sql.py). They
 * are applied in order, each in its own transaction together with its row in crm_migrations,
 * while holding a session advisory lock: a second process starting at the same moment waits,
 * then finds nothing left to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"
#include "pg_internal.h"

/* "crm\0" as a 64-bit advisory lock key */
#define MIGRATE_LOCK_KEY "1668443392"

static bool run(struct crm_pg *pg, const char *sql, struct crm_err *err)
{
	PGresult *res = PQexec(pg->conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		(void)crm_pg_error(pg, res, err);
		PQclear(res);
		return false;
	}
	PQclear(res);
	return true;
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

static bool apply_one(struct crm_pg *pg, const struct crm_migration *m, struct crm_err *err)
{
	char record[256];
	PGresult *res;

	snprintf(record, sizeof(record), "INSERT INTO crm_migrations (version, name) VALUES (%d, '%s')", m->version,
		m->name); /* both come from the build, not from input */
	if (!run(pg, "BEGIN", err))
		return false;
	if (!run(pg, m->sql, err) || !run(pg, record, err) || !run(pg, "COMMIT", err)) {
		res = PQexec(pg->conn, "ROLLBACK");
		PQclear(res);
		crm_log_error("migration %04d_%s failed", m->version, m->name);
		return false;
	}
	crm_log_info("applied migration %04d_%s", m->version, m->name);
	return true;
}

bool crm_pg_migrate(struct crm_pg *pg, int *applied, struct crm_err *err)
{
	bool *done, ok = false;

	*applied = 0;
	if (!crm_pg_connect(pg, err))
		return false;
	if (!run(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err))
		return false;
	done = calloc(crm_migrations_count + 1, sizeof(*done));
	if (!run(pg, "SET client_min_messages = warning", err) ||
		!run(pg, "CREATE TABLE IF NOT EXISTS crm_migrations (version integer PRIMARY KEY, name text NOT NULL,"
			" applied_at timestamptz NOT NULL DEFAULT now())", err) ||
		!applied_versions(pg, done, crm_migrations_count, err))
		goto out;
	for (size_t i = 0; i < crm_migrations_count; i++) {
		if (done[i])
			continue;
		if (!apply_one(pg, &crm_migrations[i], err))
			goto out;
		(*applied)++;
	}
	ok = true;
out:
	free(done);
	if (pg->conn != NULL) {
		PGresult *res = PQexec(pg->conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")");

		PQclear(res);
		res = PQexec(pg->conn, "RESET client_min_messages");
		PQclear(res);
	}
	return ok;
}
