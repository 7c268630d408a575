/* pg_queries.c -- every SQL statement of the service and the row -> struct mapping
 *
 * Statements are prepared once per connection (crm_pg_statements). The list queries whose
 * WHERE clause depends on the filters given are built here from fixed fragments, with every
 * value passed as a parameter, and stream in single-row mode.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/buf.h"
#include "crm/log.h"
#include "crm/util.h"
#include "pg_internal.h"

#define OPERATOR_COLS "id, name, is_active, max_load_limit, active_contacts, schedule::text, crm_on_shift_now(o)"
#define SOURCE_COLS "id, name, description, accept_timeout_seconds, mode, sticky_window_seconds"
#define SO_COLS "id, operator_id, source_id, weight"
#define KEY_COLS                                                                                                     \
	"k.id, k.public_id, k.name, k.scopes, k.source_ids, crm_rfc3339(k.created_at), crm_rfc3339(k.last_used_at)," \
	" crm_rfc3339(k.revoked_at)"
#define CONTACT_COLS \
	"c.id, c.lead_id, c.source_id, c.operator_id, c.status, crm_rfc3339(c.created_at), crm_rfc3339(c.accepted_at)"

const struct pg_statement crm_pg_statements[PGS__COUNT] = {
	[PGS_OPERATOR_CREATE] = {"operator_create",
		"INSERT INTO operators AS o (name, is_active, max_load_limit, schedule) VALUES ($1, $2, $3, $4::jsonb)"
		" RETURNING " OPERATOR_COLS,
		4},
	[PGS_OPERATOR_GET] = {"operator_get", "SELECT " OPERATOR_COLS " FROM operators o WHERE id = $1", 1},
	[PGS_OPERATOR_UPDATE] = {"operator_update",
		"SELECT " OPERATOR_COLS
		" FROM crm_operator_update($1, $2, $3::boolean, $4::integer, $5, $6::boolean, $7::jsonb) o",
		7},
	[PGS_OPERATORS_LIST] = {"operators_list", "SELECT " OPERATOR_COLS " FROM operators o ORDER BY id", 0},
	[PGS_SOURCE_CREATE] = {"source_create",
		"INSERT INTO sources (name, description) VALUES ($1, $2) RETURNING " SOURCE_COLS, 2},
	[PGS_SOURCE_GET] = {"source_get", "SELECT " SOURCE_COLS " FROM sources WHERE id = $1", 1},
	/* each field is written only when given ($2, $4, $6, $8, $10); NULL values are JSON nulls */
	[PGS_SOURCE_UPDATE] = {"source_update",
		"UPDATE sources SET name = CASE WHEN $2::boolean THEN $3 ELSE name END,"
		" description = CASE WHEN $4::boolean THEN $5 ELSE description END,"
		" accept_timeout_seconds = CASE WHEN $6::boolean THEN $7::integer ELSE accept_timeout_seconds END,"
		" mode = CASE WHEN $8::boolean THEN $9 ELSE mode END,"
		" sticky_window_seconds = CASE WHEN $10::boolean THEN $11::integer ELSE sticky_window_seconds END"
		" WHERE id = $1 RETURNING " SOURCE_COLS,
		11},
	[PGS_SOURCE_LOCK] = {"source_lock", "SELECT id FROM sources WHERE id = $1 FOR NO KEY UPDATE", 1},
	[PGS_SOURCES_LIST] = {"sources_list", "SELECT " SOURCE_COLS " FROM sources ORDER BY id", 0},
	[PGS_OPERATORS_MISSING] = {"operators_missing",
		"SELECT t.i - 1 FROM unnest($1::bigint[]) WITH ORDINALITY AS t(x, i)"
		" WHERE NOT EXISTS (SELECT 1 FROM operators o WHERE o.id = t.x) ORDER BY t.i",
		1},
	[PGS_SOURCE_OPERATORS_DELETE] = {"source_operators_delete",
		"DELETE FROM source_operators WHERE source_id = $1 AND operator_id <> ALL ($2::bigint[])", 2},
	[PGS_SOURCE_OPERATORS_UPSERT] = {"source_operators_upsert",
		"WITH up AS (INSERT INTO source_operators (source_id, operator_id, weight)"
		" SELECT $1, t.op, t.w FROM unnest($2::bigint[], $3::integer[]) AS t(op, w)"
		" ON CONFLICT (source_id, operator_id) DO UPDATE SET weight = EXCLUDED.weight"
		" RETURNING " SO_COLS ") SELECT " SO_COLS " FROM up ORDER BY operator_id",
		3},
	[PGS_SOURCE_OPERATORS_LIST] = {"source_operators_list",
		"SELECT " SO_COLS " FROM source_operators WHERE source_id = $1 ORDER BY operator_id", 1},
	/* sticky first: the contact's columns follow (read_contact) */
	[PGS_INTAKE] = {"intake",
		"SELECT sticky, id, lead_id, source_id, operator_id, status, created_at FROM crm_intake($1, $2)", 2},
	[PGS_CONTACT_GET] = {"contact_get", "SELECT " CONTACT_COLS " FROM contacts c WHERE c.id = $1", 1},
	[PGS_CONTACT_UPDATE] = {"contact_update",
		"SELECT u.o_error, " CONTACT_COLS " FROM crm_contact_update($1, $2, $3::boolean, $4::bigint, $5) u"
		" LEFT JOIN LATERAL (SELECT (u.o_contact).*) c ON true",
		5},
	[PGS_DRAIN_SOURCES] = {"drain_sources", "SELECT crm_drain_sources(ARRAY[$1::bigint], $2)", 2},
	[PGS_DRAIN_NEXT] = {"drain_next", "SELECT o_source, o_assigned FROM crm_drain_next($1, $2)", 2},
	[PGS_SHIFT_ADVANCE] = {"shift_advance", "SELECT o_advanced, o_wait_ms FROM crm_shift_advance($1)", 1},
	[PGS_ACCEPT_TIMEOUT_ADVANCE] = {"accept_timeout_advance",
		"SELECT o_advanced, o_wait_ms FROM crm_accept_timeout_advance($1)", 1},
	[PGS_CONTACT_ACCEPT] = {"contact_accept",
		"SELECT u.o_error, " CONTACT_COLS " FROM crm_contact_accept($1, $2::bigint) u"
		" LEFT JOIN LATERAL (SELECT (u.o_contact).*) c ON true",
		2},
	[PGS_CONTACT_EXISTS] = {"contact_exists", "SELECT 1 FROM contacts WHERE id = $1", 1},
	[PGS_ASSIGNMENTS_LIST] = {"assignments_list",
		"SELECT id, contact_id, operator_id, reason, note, load_before, load_limit, candidates, created_at,"
		" config_version, sticky_contact_id FROM crm_history($1)",
		1},
	/* the counts are the counters sql/0008_source_counts.sql keeps: O(operators), not O(contacts) */
	[PGS_SOURCE_STATS] = {"source_stats",
		"SELECT so.operator_id, o.name, so.weight, o.active_contacts, o.max_load_limit, o.is_active,"
		" coalesce(k.assigned, 0), crm_on_shift_now(o)"
		" FROM source_operators so JOIN operators o ON o.id = so.operator_id"
		" LEFT JOIN source_operator_counts k ON k.source_id = so.source_id AND k.operator_id = so.operator_id"
		" WHERE so.source_id = $1 ORDER BY so.operator_id",
		1},
	[PGS_SOURCE_COUNTS] = {"source_counts",
		"SELECT coalesce((SELECT sum(w.waiting) FROM source_waiting w WHERE w.source_id = $1), 0),"
		" coalesce((SELECT sum(k.assigned) FROM source_operator_counts k WHERE k.source_id = $1), 0)",
		1},
	[PGS_IDEM_CLAIM] = {"idem_claim",
		"SELECT o_outcome, o_status, o_location, o_body FROM crm_idem_claim($1, $2, $3, $4)", 4},
	[PGS_IDEM_STORE] = {"idem_store", "SELECT crm_idem_store($1, $2, $3, $4, $5, $6)", 6},
	[PGS_IDEM_EXPIRE] = {"idem_expire", "SELECT crm_idem_expire($1, $2)", 2},
	[PGS_IDEM_EXPIRE_CONTACTS] = {"idem_expire_contacts",
		"SELECT o_walked, o_cleared FROM crm_idem_expire_contacts($1, $2)", 2},
	[PGS_IDEM_INTAKE] = {"idem_intake",
		"SELECT o_outcome, o_status, o_location, o_body, o_operator, o_sticky"
		" FROM crm_idem_intake($1, $2, $3, $4, $5, $6, $7)",
		7},
	[PGS_KEY_CREATE] = {"key_create",
		"SELECT r.o_missing, " KEY_COLS
		" FROM crm_key_create($1, decode($2, 'hex'), $3, $4::text[], $5::bigint[]) r"
		" LEFT JOIN LATERAL (SELECT (r.o_key).*) k ON r.o_missing IS NULL",
		5},
	[PGS_KEY_LOOKUP] = {"key_lookup",
		"SELECT o_id, encode(o_hash, 'hex'), o_scopes, o_source_ids FROM crm_key_lookup($1)", 1},
	[PGS_KEY_GET] = {"key_get", "SELECT " KEY_COLS " FROM api_keys k WHERE k.id = $1", 1},
	[PGS_KEY_REVOKE] = {"key_revoke", "SELECT " KEY_COLS " FROM crm_key_revoke($1) k", 1},
	[PGS_KEYS_LIST] = {"keys_list", "SELECT " KEY_COLS " FROM crm_keys_list($1, $2::integer) k", 2},
	/* the waiting count from the counters of 0008; the oldest contact from the head of each
	 * waiting source's queue (contacts_waiting_idx, ids follow arrival): O(sources waiting) */
	[PGS_BACKLOG_GAUGE] = {"backlog_gauge",
		"SELECT coalesce(sum(w.n), 0)::bigint,"
		" coalesce(extract(epoch FROM statement_timestamp() - min(c.created_at)), 0)::float8"
		" FROM (SELECT source_id, sum(waiting) AS n FROM source_waiting GROUP BY source_id"
		" HAVING sum(waiting) > 0) w"
		" LEFT JOIN LATERAL (SELECT created_at FROM contacts WHERE source_id = w.source_id"
		" AND operator_id IS NULL AND status = 'active' ORDER BY id LIMIT 1) c ON true",
		0},
	/* the dry run's inputs (sql/functions/90_simulate.sql); $2 NULL: the source's configuration */
	[PGS_SIMULATE_INPUTS] = {"simulate_inputs",
		"SELECT operator_id, weight, load, max_load_limit, eligible_now"
		" FROM crm_simulate_inputs($1, $2::bigint[], $3::integer[])",
		3},
};

/* --- small helpers --- */

static int64_t col_i64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *col_str(struct crm_arena *a, const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return crm_arena_strndup(a, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

static bool col_bool(const PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] == 't';
}

struct num {
	char s[24];
};

static const char *num(struct num *n, int64_t v)
{
	snprintf(n->s, sizeof(n->s), "%" PRId64, v);
	return n->s;
}

static void read_operator(struct crm_arena *a, const PGresult *res, int row, struct crm_operator *op)
{
	op->id = col_i64(res, row, 0);
	op->name = col_str(a, res, row, 1);
	op->is_active = col_bool(res, row, 2);
	op->max_load_limit = (int32_t)col_i64(res, row, 3);
	op->active_contacts = (int32_t)col_i64(res, row, 4);
	op->schedule = col_str(a, res, row, 5);
	op->on_shift = col_bool(res, row, 6);
}

static void read_source(struct crm_arena *a, const PGresult *res, int row, struct crm_source *src)
{
	src->id = col_i64(res, row, 0);
	src->name = col_str(a, res, row, 1);
	src->description = col_str(a, res, row, 2);
	src->accept_timeout_seconds = PQgetisnull(res, row, 3) ? 0 : (int32_t)col_i64(res, row, 3);
	src->mode = col_str(a, res, row, 4);
	src->sticky_window_seconds = (int32_t)col_i64(res, row, 5); /* NULL: 0 */
}

static void read_source_operator(const PGresult *res, int row, struct crm_source_operator *so)
{
	so->id = col_i64(res, row, 0);
	so->operator_id = col_i64(res, row, 1);
	so->source_id = col_i64(res, row, 2);
	so->weight = (int32_t)col_i64(res, row, 3);
}

/* Contact columns start at `col`; strings point into res (valid until it is cleared) unless an
 * arena is given. */
static void read_contact(struct crm_arena *a, const PGresult *res, int row, int col, struct crm_contact *c)
{
	c->id = col_i64(res, row, col);
	c->lead_id = col_i64(res, row, col + 1);
	c->source_id = col_i64(res, row, col + 2);
	c->operator_id = col_i64(res, row, col + 3);
	c->status = a ? col_str(a, res, row, col + 4) : PQgetvalue(res, row, col + 4);
	c->created_at = a ? col_str(a, res, row, col + 5) : PQgetvalue(res, row, col + 5);
	c->accepted_at = NULL; /* the intake's result has no such column: a new contact is not accepted */
	if (PQnfields(res) > col + 6 && !PQgetisnull(res, row, col + 6))
		c->accepted_at = a ? col_str(a, res, row, col + 6) : PQgetvalue(res, row, col + 6);
}

/* Runs a statement expected to return at most one row; NOT_FOUND (with `what`) when none. */
static PGresult *one_row(struct crm_pg *pg, enum pg_stmt stmt, const char *const *values, const char *what,
	struct crm_err *err)
{
	PGresult *res = crm_pg_exec(pg, stmt, values, err);

	if (res != NULL && PQntuples(res) == 0) {
		PQclear(res);
		crm_err_set(err, CRM_E_NOT_FOUND, "%s not found", what);
		return NULL;
	}
	return res;
}

static bool simple(struct crm_pg *pg, const char *sql, struct crm_err *err)
{
	PGresult *res = crm_pg_exec_params(pg, sql, 0, NULL, err);

	PQclear(res);
	return res != NULL;
}

/* BEGIN and COMMIT of a function's own transaction; inside a request's transaction (an
 * Idempotency-Key claim, pg->outer) the work joins that one instead, and its COMMIT is
 * crm_pg_idem_store's. */
static bool tx_begin(struct crm_pg *pg, struct crm_err *err)
{
	return pg->outer || simple(pg, "BEGIN", err);
}

static bool tx_commit(struct crm_pg *pg, struct crm_err *err)
{
	return pg->outer || simple(pg, "COMMIT", err);
}

/* "{1,2,3}" for a bigint[] parameter. */
static const char *id_array(struct crm_buf *b, const int64_t *ids, size_t n, size_t stride)
{
	crm_buf_clear(b);
	crm_buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		int64_t v = *(const int64_t *)((const char *)ids + i * stride);

		crm_buf_printf(b, "%s%" PRId64, i ? "," : "", v);
	}
	crm_buf_putc(b, '}');
	return b->data;
}

/* --- operators --- */

bool crm_pg_operator_create(struct crm_pg *pg, struct crm_arena *a, const char *name, bool is_active,
	int32_t max_load_limit, const char *schedule, struct crm_operator *out, struct crm_err *err)
{
	struct num lim;
	const char *values[] = {name, is_active ? "t" : "f", num(&lim, max_load_limit), schedule};
	PGresult *res = crm_pg_exec(pg, PGS_OPERATOR_CREATE, values, err);

	if (res == NULL)
		return false;
	read_operator(a, res, 0, out);
	PQclear(res);
	return true;
}

bool crm_pg_operator_get(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_operator *out,
	struct crm_err *err)
{
	struct num n;
	const char *values[] = {num(&n, id)};
	PGresult *res = one_row(pg, PGS_OPERATOR_GET, values, "operator", err);

	if (res == NULL)
		return false;
	read_operator(a, res, 0, out);
	PQclear(res);
	return true;
}

bool crm_pg_operator_update(struct crm_pg *pg, struct crm_arena *a, int64_t id, const struct crm_operator_patch *patch,
	struct crm_operator *out, struct crm_err *err)
{
	struct num n, lim, batch;
	const char *values[] = {
		num(&n, id),
		patch->has_name ? patch->name : NULL,
		patch->has_is_active ? (patch->is_active ? "t" : "f") : NULL,
		patch->has_max_load_limit ? num(&lim, patch->max_load_limit) : NULL,
		num(&batch, pg->drain_batch),
		patch->has_schedule ? "t" : "f",
		patch->has_schedule ? patch->schedule : NULL,
	};
	PGresult *res = one_row(pg, PGS_OPERATOR_UPDATE, values, "operator", err);

	if (res == NULL)
		return false;
	read_operator(a, res, 0, out);
	PQclear(res);
	return true;
}

/* The row callback of one list call: exactly one member is set, the one its row reader calls. */
union list_fn {
	crm_operator_fn operator;
	crm_source_fn source;
	crm_source_operator_fn source_operator;
	crm_contact_fn contact;
	crm_lead_contact_fn lead_contact;
	crm_assignment_fn assignment;
	crm_api_key_fn api_key;
};

struct list_ctx {
	struct crm_arena *arena;
	union list_fn fn;
	void *ctx;
	size_t rows;
};

static bool operator_row(void *p, const PGresult *res)
{
	struct list_ctx *lc = p;
	struct crm_operator op;

	read_operator(lc->arena, res, 0, &op);
	return lc->fn.operator(lc->ctx, &op);
}

bool crm_pg_operators_list(struct crm_pg *pg, struct crm_arena *a, crm_operator_fn fn, void *ctx, struct crm_err *err)
{
	struct list_ctx lc = {a, {.operator= fn }, ctx, 0};

	return crm_pg_stream_prepared(pg, PGS_OPERATORS_LIST, NULL, operator_row, &lc, err);
}

/* --- sources --- */

bool crm_pg_source_create(struct crm_pg *pg, struct crm_arena *a, const char *name, const char *description,
	struct crm_source *out, struct crm_err *err)
{
	const char *values[] = {name, description};
	PGresult *res = crm_pg_exec(pg, PGS_SOURCE_CREATE, values, err);

	if (res == NULL)
		return false; /* a taken name is 409 by its constraint (pg.c) */
	read_source(a, res, 0, out);
	PQclear(res);
	return true;
}

bool crm_pg_source_get(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_source *out, struct crm_err *err)
{
	struct num n;
	const char *values[] = {num(&n, id)};
	PGresult *res = one_row(pg, PGS_SOURCE_GET, values, "source", err);

	if (res == NULL)
		return false;
	read_source(a, res, 0, out);
	PQclear(res);
	return true;
}

bool crm_pg_source_update(struct crm_pg *pg, struct crm_arena *a, int64_t id, const struct crm_source_patch *patch,
	struct crm_source *out, struct crm_err *err)
{
	struct num n, t, w;
	const char *values[] = {
		num(&n, id),
		patch->has_name ? "t" : "f",
		patch->has_name ? patch->name : NULL,
		patch->has_description ? "t" : "f",
		patch->has_description ? patch->description : NULL,
		patch->has_accept_timeout ? "t" : "f",
		patch->has_accept_timeout && patch->accept_timeout_seconds ? num(&t, patch->accept_timeout_seconds)
									   : NULL,
		patch->has_mode ? "t" : "f",
		patch->has_mode ? patch->mode : NULL,
		patch->has_sticky_window ? "t" : "f",
		patch->has_sticky_window && patch->sticky_window_seconds ? num(&w, patch->sticky_window_seconds) : NULL,
	};
	PGresult *res = one_row(pg, PGS_SOURCE_UPDATE, values, "source", err);

	if (res == NULL)
		return false; /* a taken name is 409 by its constraint (pg.c) */
	read_source(a, res, 0, out);
	PQclear(res);
	return true;
}

static bool source_row(void *p, const PGresult *res)
{
	struct list_ctx *lc = p;
	struct crm_source src;

	read_source(lc->arena, res, 0, &src);
	return lc->fn.source(lc->ctx, &src);
}

bool crm_pg_sources_list(struct crm_pg *pg, struct crm_arena *a, crm_source_fn fn, void *ctx, struct crm_err *err)
{
	struct list_ctx lc = {a, {.source = fn}, ctx, 0};

	return crm_pg_stream_prepared(pg, PGS_SOURCES_LIST, NULL, source_row, &lc, err);
}

bool crm_pg_operators_check(struct crm_pg *pg, const struct crm_source_operator *items, size_t n, struct crm_err *err)
{
	struct crm_buf ids;
	PGresult *res;
	int missing;

	crm_buf_init(&ids);
	{
		const char *values[] = {id_array(&ids, &items[0].operator_id, n, sizeof(items[0]))};

		res = crm_pg_exec(pg, PGS_OPERATORS_MISSING, values, err);
	}
	crm_buf_finish(&ids);
	if (res == NULL)
		return false;
	missing = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		char field[64];
		int64_t idx = col_i64(res, i, 0);

		if (idx < 0 || (size_t)idx >= n || items[idx].operator_id <= 0)
			continue; /* an id the JSON layer already rejected */
		snprintf(field, sizeof(field), "operators[%" PRId64 "].operator_id", idx);
		crm_err_field(err, field, "operator does not exist");
		missing++;
	}
	PQclear(res);
	return missing == 0;
}

static bool source_operators_upsert(struct crm_pg *pg, struct crm_arena *a, const char *sid, const char *ids,
	const struct crm_source_operator *items, size_t n, struct crm_source_operator **out, size_t *nout,
	struct crm_err *err)
{
	struct crm_buf weights;
	PGresult *res;

	crm_buf_init(&weights);
	crm_buf_putc(&weights, '{');
	for (size_t i = 0; i < n; i++)
		crm_buf_printf(&weights, "%s%" PRId32, i ? "," : "", items[i].weight);
	crm_buf_putc(&weights, '}');
	{
		const char *values[] = {sid, ids, weights.data};

		res = crm_pg_exec(pg, PGS_SOURCE_OPERATORS_UPSERT, values, err);
	}
	crm_buf_finish(&weights);
	if (res == NULL)
		return false;
	*nout = (size_t)PQntuples(res);
	*out = crm_arena_calloc(a, *nout ? *nout : 1, sizeof(**out));
	for (size_t i = 0; i < *nout; i++)
		read_source_operator(res, (int)i, &(*out)[i]);
	PQclear(res);
	return true;
}

bool crm_pg_source_operators_set(struct crm_pg *pg, struct crm_arena *a, int64_t source_id,
	const struct crm_source_operator *items, size_t n, struct crm_source_operator **out, size_t *nout,
	struct crm_err *err)
{
	struct num sid;
	struct crm_buf ids;
	const char *values[2];
	PGresult *res;
	bool ok = false;

	crm_buf_init(&ids);
	values[0] = num(&sid, source_id);
	values[1] = id_array(&ids, &items[0].operator_id, n, sizeof(items[0]));
	if (!tx_begin(pg, err))
		goto out;
	if ((res = one_row(pg, PGS_SOURCE_LOCK, values, "source", err)) == NULL)
		goto out;
	PQclear(res);
	if (!crm_pg_operators_check(pg, items, n, err))
		goto out;
	if ((res = crm_pg_exec(pg, PGS_SOURCE_OPERATORS_DELETE, values, err)) == NULL)
		goto out;
	PQclear(res);
	if (!source_operators_upsert(pg, a, values[0], values[1], items, n, out, nout, err))
		goto out;
	{
		struct num batch;
		const char *dv[] = {values[0], num(&batch, pg->drain_batch)};

		if ((res = crm_pg_exec(pg, PGS_DRAIN_SOURCES, dv, err)) == NULL)
			goto out;
		PQclear(res);
	}
	ok = tx_commit(pg, err);
out:
	crm_buf_finish(&ids);
	if (!ok && !pg->outer)
		crm_pg_after_request(pg); /* rolls the transaction back (a request's one at its end) */
	return ok;
}

static bool source_operator_row(void *p, const PGresult *res)
{
	struct list_ctx *lc = p;
	struct crm_source_operator so;

	read_source_operator(res, 0, &so);
	return lc->fn.source_operator(lc->ctx, &so);
}

bool crm_pg_source_operators_list(struct crm_pg *pg, struct crm_arena *a, int64_t source_id, crm_source_operator_fn fn,
	void *ctx, struct crm_err *err)
{
	struct num sid;
	const char *values[] = {num(&sid, source_id)};
	struct list_ctx lc = {a, {.source_operator = fn}, ctx, 0};

	return crm_pg_stream_prepared(pg, PGS_SOURCE_OPERATORS_LIST, values, source_operator_row, &lc, err);
}

/* --- contacts and leads --- */

bool crm_pg_intake(struct crm_pg *pg, struct crm_arena *a, const char *email, int64_t source_id,
	struct crm_contact *out, bool *sticky, struct crm_err *err)
{
	struct num sid;
	const char *values[] = {email, num(&sid, source_id)};
	PGresult *res = one_row(pg, PGS_INTAKE, values, "source", err);

	if (res == NULL)
		return false;
	*sticky = col_bool(res, 0, 0);
	read_contact(a, res, 0, 1, out);
	PQclear(res);
	return true;
}

bool crm_pg_contact_get(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_contact *out,
	struct crm_err *err)
{
	struct num n;
	const char *values[] = {num(&n, id)};
	PGresult *res = one_row(pg, PGS_CONTACT_GET, values, "contact", err);

	if (res == NULL)
		return false;
	read_contact(a, res, 0, 0, out);
	PQclear(res);
	return true;
}

static bool contact_row(void *p, const PGresult *res)
{
	struct list_ctx *lc = p;
	struct crm_contact c;

	read_contact(NULL, res, 0, 0, &c);
	return lc->fn.contact(lc->ctx, &c);
}

/* Appends "AND <cond>" with the next parameter number. */
static void where_param(struct crm_buf *sql, const char *cond, int *nparams, const char **values, const char *value)
{
	(*nparams)++;
	crm_buf_printf(sql, " AND %s $%d", cond, *nparams);
	values[*nparams - 1] = value;
}

bool crm_pg_contacts_list(struct crm_pg *pg, struct crm_arena *a, const struct crm_contact_filter *f, crm_contact_fn fn,
	void *ctx, struct crm_err *err)
{
	struct list_ctx lc = {a, {.contact = fn}, ctx, 0};
	struct num src, op, lead, after, lim;
	const char *values[6];
	struct crm_buf sql;
	int n = 0;
	bool ok;

	crm_buf_init(&sql);
	crm_buf_puts(&sql, "SELECT " CONTACT_COLS " FROM contacts c WHERE true");
	if (f->source_id)
		where_param(&sql, "c.source_id =", &n, values, num(&src, f->source_id));
	if (f->operator_id)
		where_param(&sql, "c.operator_id =", &n, values, num(&op, f->operator_id));
	if (f->lead_id)
		where_param(&sql, "c.lead_id =", &n, values, num(&lead, f->lead_id));
	if (f->status)
		where_param(&sql, "c.status =", &n, values, f->status);
	if (f->has_unassigned)
		crm_buf_puts(&sql, f->unassigned ? " AND c.operator_id IS NULL" : " AND c.operator_id IS NOT NULL");
	if (f->after_id)
		where_param(&sql, "c.id >", &n, values, num(&after, f->after_id));
	crm_buf_puts(&sql, " ORDER BY c.id");
	if (f->limit > 0) {
		n++;
		crm_buf_printf(&sql, " LIMIT $%d", n);
		values[n - 1] = num(&lim, f->limit);
	}
	ok = crm_pg_stream(pg, sql.data, n, values, contact_row, &lc, err);
	crm_buf_finish(&sql);
	return ok;
}

static bool lead_row(void *p, const PGresult *res)
{
	struct list_ctx *lc = p;
	struct crm_lead lead;
	struct crm_contact c;

	lc->rows++;
	lead.id = col_i64(res, 0, 0);
	lead.email = PQgetvalue(res, 0, 1);
	lead.next_after = PQgetisnull(res, 0, 2) ? 0 : col_i64(res, 0, 2);
	if (PQgetisnull(res, 0, 3))
		return lc->fn.lead_contact(lc->ctx, &lead, NULL);
	read_contact(NULL, res, 0, 3, &c);
	return lc->fn.lead_contact(lc->ctx, &lead, &c);
}

/* One row per (lead, contact), in single-row mode: a lead's contacts are never held together,
 * neither here nor in the caller. With a limit every row also carries the page's next after_id
 * when the page is full (a window over the page's leads, computed before the join), so the
 * caller can send the Link header before the first contact. */
bool crm_pg_leads_list(struct crm_pg *pg, struct crm_arena *a, int64_t only_id, int64_t after_id, int32_t limit,
	crm_lead_contact_fn fn, void *ctx, struct crm_err *err)
{
	struct list_ctx lc = {a, {.lead_contact = fn}, ctx, 0};
	struct num id, after, lim;
	const char *values[3];
	struct crm_buf sql;
	int n = 0;
	bool ok;

	crm_buf_init(&sql);
	crm_buf_puts(&sql, "SELECT l.id, l.email, l.next_after, " CONTACT_COLS " FROM (SELECT id, email, ");
	if (limit > 0) {
		n++;
		values[n - 1] = num(&lim, limit);
		crm_buf_printf(&sql, "CASE WHEN count(*) OVER () = $%d THEN max(id) OVER () END", n);
	} else {
		crm_buf_puts(&sql, "NULL::bigint");
	}
	crm_buf_puts(&sql, " AS next_after FROM (SELECT id, email FROM leads WHERE true");
	if (only_id)
		where_param(&sql, "id =", &n, values, num(&id, only_id));
	if (after_id)
		where_param(&sql, "id >", &n, values, num(&after, after_id));
	crm_buf_puts(&sql, " ORDER BY id");
	if (limit > 0)
		crm_buf_puts(&sql, " LIMIT $1");
	crm_buf_puts(&sql, ") p) l LEFT JOIN contacts c ON c.lead_id = l.id ORDER BY l.id, c.id");
	ok = crm_pg_stream(pg, sql.data, n, values, lead_row, &lc, err);
	crm_buf_finish(&sql);
	if (ok && only_id && lc.rows == 0)
		return crm_err_set(err, CRM_E_NOT_FOUND, "lead not found");
	return ok;
}

/* --- lifecycle, history, stats, backlog --- */

/* The refusals of crm_contact_update(): the closed set of the SQL enum crm_contact_update_error
 * (sql/0004_repeatable_functions.sql), each mapped once to its error. A refusal with a field is
 * a field error (422); one that names the operator starts its message with "operator N". */
static const struct contact_refusal {
	const char *name; /* the enum label */
	const char *field;
	const char *message;
	enum crm_errcode code;
	bool names_operator;
} contact_refusals[] = {
	{"not_found", NULL, "contact not found", CRM_E_NOT_FOUND, false},
	{"unknown_operator", "operator_id", "operator does not exist", CRM_E_INVALID, false},
	{"not_configured", NULL, "is not configured for the contact's source", CRM_E_CONFLICT, true},
	{"inactive", NULL, "is not active", CRM_E_CONFLICT, true},
	{"at_limit", NULL, "the operator is at its max_load_limit of active contacts", CRM_E_CONFLICT, false},
	{"off_shift", NULL, "is off shift (its working hours)", CRM_E_CONFLICT, true},
	{"not_assigned", NULL, "the contact is not assigned: nobody can accept it", CRM_E_CONFLICT, false},
	{"closed", NULL, "the contact is closed", CRM_E_CONFLICT, false},
	{"already_accepted", NULL, "the contact is already accepted", CRM_E_CONFLICT, false},
	{"other_operator", NULL, "does not hold the contact (it was reassigned)", CRM_E_CONFLICT, true},
};

static bool contact_update_error(const char *name, const struct crm_contact_patch *patch, struct crm_err *err)
{
	const struct contact_refusal *r = NULL;

	for (size_t i = 0; i < sizeof(contact_refusals) / sizeof(contact_refusals[0]) && r == NULL; i++) {
		if (strcmp(contact_refusals[i].name, name) == 0)
			r = &contact_refusals[i];
	}
	if (r == NULL) {
		crm_log_error("unexpected contact update result: %s", name);
		return crm_err_set(err, CRM_E_INTERNAL, NULL);
	}
	if (r->field != NULL) {
		crm_err_field(err, r->field, "%s", r->message);
		return false;
	}
	if (r->names_operator)
		return crm_err_set(err, r->code, "operator %" PRId64 " %s", patch->operator_id, r->message);
	return crm_err_set(err, r->code, "%s", r->message);
}

bool crm_pg_contact_update(struct crm_pg *pg, struct crm_arena *a, int64_t id, const struct crm_contact_patch *patch,
	struct crm_contact *out, struct crm_err *err)
{
	struct num n, op, batch;
	const char *values[] = {
		num(&n, id),
		patch->has_status ? patch->status : NULL,
		patch->has_operator ? "t" : "f",
		patch->has_operator && patch->operator_id ? num(&op, patch->operator_id) : NULL,
		num(&batch, pg->drain_batch),
	};
	const char *accept[] = {values[0], values[3]};
	PGresult *res = patch->accepted ? crm_pg_exec(pg, PGS_CONTACT_ACCEPT, accept, err)
					: crm_pg_exec(pg, PGS_CONTACT_UPDATE, values, err);
	bool ok;

	if (res == NULL)
		return false;
	ok = PQgetisnull(res, 0, 0);
	if (ok)
		read_contact(a, res, 0, 1, out);
	else
		contact_update_error(PQgetvalue(res, 0, 0), patch, err);
	PQclear(res);
	return ok;
}

static bool assignment_row(void *p, const PGresult *res)
{
	struct list_ctx *lc = p;
	struct crm_assignment as;

	lc->rows++;
	as.id = col_i64(res, 0, 0);
	as.contact_id = col_i64(res, 0, 1);
	as.operator_id = col_i64(res, 0, 2);
	as.reason = PQgetvalue(res, 0, 3);
	as.note = PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4);
	as.has_load = !PQgetisnull(res, 0, 5);
	as.load_before = (int32_t)col_i64(res, 0, 5);
	as.load_limit = (int32_t)col_i64(res, 0, 6);
	as.candidates = PQgetvalue(res, 0, 7);
	as.created_at = PQgetvalue(res, 0, 8);
	as.has_version = !PQgetisnull(res, 0, 9);
	as.config_version = (int32_t)col_i64(res, 0, 9);
	as.sticky_contact_id = col_i64(res, 0, 10);
	return lc->fn.assignment(lc->ctx, &as);
}

bool crm_pg_assignments_list(struct crm_pg *pg, struct crm_arena *a, int64_t contact_id, crm_assignment_fn fn,
	void *ctx, struct crm_err *err)
{
	struct num n;
	const char *values[] = {num(&n, contact_id)};
	struct list_ctx lc = {a, {.assignment = fn}, ctx, 0};
	PGresult *res = one_row(pg, PGS_CONTACT_EXISTS, values, "contact", err);

	if (res == NULL)
		return false;
	PQclear(res);
	return crm_pg_stream_prepared(pg, PGS_ASSIGNMENTS_LIST, values, assignment_row, &lc, err);
}

bool crm_pg_source_stats(struct crm_pg *pg, struct crm_arena *a, int64_t source_id, struct crm_source_stats *out,
	struct crm_err *err)
{
	struct num n;
	const char *values[] = {num(&n, source_id)};
	struct crm_source src;
	PGresult *res;

	/* one snapshot for the three reads, so the figures agree with each other */
	if (!simple(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
		return false;
	if (!crm_pg_source_get(pg, a, source_id, &src, err))
		goto fail;
	out->mode = src.mode;
	if ((res = crm_pg_exec(pg, PGS_SOURCE_COUNTS, values, err)) == NULL)
		goto fail;
	out->source_id = source_id;
	out->waiting = col_i64(res, 0, 0);
	out->assigned_total = col_i64(res, 0, 1);
	PQclear(res);
	if ((res = crm_pg_exec(pg, PGS_SOURCE_STATS, values, err)) == NULL)
		goto fail;
	out->noperators = (size_t)PQntuples(res);
	out->operators = crm_arena_calloc(a, out->noperators + 1, sizeof(*out->operators));
	for (size_t i = 0; i < out->noperators; i++) {
		struct crm_operator_stats *os = &out->operators[i];

		os->operator_id = col_i64(res, (int)i, 0);
		os->name = col_str(a, res, (int)i, 1);
		os->weight = (int32_t)col_i64(res, (int)i, 2);
		os->active_contacts = (int32_t)col_i64(res, (int)i, 3);
		os->max_load_limit = (int32_t)col_i64(res, (int)i, 4);
		os->is_active = col_bool(res, (int)i, 5);
		os->assigned = col_i64(res, (int)i, 6);
		os->on_shift = col_bool(res, (int)i, 7);
	}
	PQclear(res);
	return simple(pg, "COMMIT", err);
fail:
	crm_pg_after_request(pg);
	return false;
}

/* The preview's weights as an integer[] parameter. */
static const char *weight_array(struct crm_buf *b, const struct crm_source_operator *items, size_t n)
{
	crm_buf_clear(b);
	crm_buf_putc(b, '{');
	for (size_t i = 0; i < n; i++)
		crm_buf_printf(b, "%s%" PRId32, i ? "," : "", items[i].weight);
	crm_buf_putc(b, '}');
	return b->data;
}

static bool simulate_inputs(struct crm_pg *pg, struct crm_arena *a, const char *sid,
	const struct crm_source_operator *preview, size_t npreview, struct crm_sim_operator **ops, size_t *nops,
	struct crm_err *err)
{
	struct crm_buf ids, weights;
	const char *values[3] = {sid, NULL, NULL};
	PGresult *res;

	crm_buf_init(&ids);
	crm_buf_init(&weights);
	if (preview != NULL) {
		values[1] = id_array(&ids, &preview[0].operator_id, npreview, sizeof(preview[0]));
		values[2] = weight_array(&weights, preview, npreview);
	}
	res = crm_pg_exec(pg, PGS_SIMULATE_INPUTS, values, err);
	crm_buf_finish(&ids);
	crm_buf_finish(&weights);
	if (res == NULL)
		return false;
	*nops = (size_t)PQntuples(res);
	*ops = crm_arena_calloc(a, *nops + 1, sizeof(**ops));
	for (size_t i = 0; i < *nops; i++) {
		struct crm_sim_operator *op = &(*ops)[i];

		op->operator_id = col_i64(res, (int)i, 0);
		op->weight = (int32_t)col_i64(res, (int)i, 1);
		op->load = (int32_t)col_i64(res, (int)i, 2);
		op->limit = (int32_t)col_i64(res, (int)i, 3);
		op->eligible_now = col_bool(res, (int)i, 4);
	}
	PQclear(res);
	return true;
}

bool crm_pg_simulate_read(struct crm_pg *pg, struct crm_arena *a, int64_t source_id,
	const struct crm_source_operator *preview, size_t npreview, struct crm_sim_operator **ops, size_t *nops,
	int64_t *waiting, const char **mode, struct crm_err *err)
{
	struct num n;
	const char *values[] = {num(&n, source_id)};
	struct crm_source src;
	PGresult *res;

	/* one snapshot, read only: no row lock is taken, so no intake waits for the dry run */
	if (!simple(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
		return false;
	if (!crm_pg_source_get(pg, a, source_id, &src, err))
		goto fail;
	*mode = src.mode;
	if (preview != NULL && npreview > 0 && !crm_pg_operators_check(pg, preview, npreview, err))
		goto fail;
	if ((res = crm_pg_exec(pg, PGS_SOURCE_COUNTS, values, err)) == NULL)
		goto fail;
	*waiting = col_i64(res, 0, 0);
	PQclear(res);
	if (!simulate_inputs(pg, a, values[0], preview, npreview, ops, nops, err))
		goto fail;
	return simple(pg, "COMMIT", err);
fail:
	crm_pg_after_request(pg);
	return false;
}

/* One step of a drainer's timer (shifts, accept timeouts): whether something was due, and the
 * wait until the next (-1: none). */
static bool timer_advance(struct crm_pg *pg, enum pg_stmt stmt, bool *advanced, int64_t *wait_ms, struct crm_err *err)
{
	struct num batch;
	const char *values[] = {num(&batch, pg->drain_batch)};
	PGresult *res = crm_pg_exec(pg, stmt, values, err);

	if (res == NULL)
		return false;
	*advanced = col_bool(res, 0, 0);
	*wait_ms = PQgetisnull(res, 0, 1) ? -1 : col_i64(res, 0, 1);
	PQclear(res);
	return true;
}

bool crm_pg_shift_advance(struct crm_pg *pg, bool *advanced, int64_t *wait_ms, struct crm_err *err)
{
	return timer_advance(pg, PGS_SHIFT_ADVANCE, advanced, wait_ms, err);
}

bool crm_pg_accept_timeout_advance(struct crm_pg *pg, bool *advanced, int64_t *wait_ms, struct crm_err *err)
{
	return timer_advance(pg, PGS_ACCEPT_TIMEOUT_ADVANCE, advanced, wait_ms, err);
}

bool crm_pg_backlog_drain_next(struct crm_pg *pg, int64_t after, int64_t *source, int *assigned, struct crm_err *err)
{
	struct num n, batch;
	const char *values[] = {num(&n, after), num(&batch, pg->drain_batch)};
	PGresult *res = crm_pg_exec(pg, PGS_DRAIN_NEXT, values, err);

	if (res == NULL)
		return false;
	*source = PQgetisnull(res, 0, 0) ? 0 : col_i64(res, 0, 0);
	*assigned = (int)col_i64(res, 0, 1);
	PQclear(res);
	return true;
}

bool crm_pg_backlog_gauge(struct crm_pg *pg, int64_t *waiting, double *oldest_seconds, struct crm_err *err)
{
	PGresult *res = crm_pg_exec(pg, PGS_BACKLOG_GAUGE, NULL, err);

	if (res == NULL)
		return false;
	*waiting = col_i64(res, 0, 0);
	*oldest_seconds = strtod(PQgetvalue(res, 0, 1), NULL);
	PQclear(res);
	return true;
}

/* --- Idempotency-Key --- */

static const struct {
	const char *name;
	enum crm_idem_outcome outcome;
} idem_outcomes[] = {
	{"new", CRM_IDEM_NEW},
	{"replay", CRM_IDEM_REPLAY},
	{"mismatch", CRM_IDEM_MISMATCH},
	{"busy", CRM_IDEM_BUSY},
};

static bool idem_outcome(const char *name, enum crm_idem_outcome *out, struct crm_err *err)
{
	for (size_t i = 0; i < sizeof(idem_outcomes) / sizeof(idem_outcomes[0]); i++) {
		if (strcmp(idem_outcomes[i].name, name) == 0) {
			*out = idem_outcomes[i].outcome;
			return true;
		}
	}
	crm_log_error("crm_idem_claim answered an unknown outcome '%s'", name);
	return crm_err_set(err, CRM_E_INTERNAL, NULL);
}

bool crm_pg_idem_claim(struct crm_pg *pg, struct crm_arena *a, const struct crm_idem_request *rq, int ttl,
	enum crm_idem_outcome *outcome, struct crm_idem_response *stored, struct crm_err *err)
{
	struct num t;
	const char *values[] = {rq->client, rq->key, rq->request, num(&t, ttl)};
	PGresult *res;
	bool ok;

	res = crm_pg_exec_between(pg, "BEGIN", PGS_IDEM_CLAIM, values, NULL, err);
	pg->outer = true;
	if (res == NULL || !idem_outcome(PQgetvalue(res, 0, 0), outcome, err)) {
		PQclear(res);
		crm_pg_after_request(pg);
		return false;
	}
	stored->status = (int)col_i64(res, 0, 1);
	stored->location = col_str(a, res, 0, 2);
	stored->body = col_str(a, res, 0, 3);
	PQclear(res);
	if (*outcome == CRM_IDEM_NEW)
		return true;
	pg->outer = false;
	ok = simple(pg, "COMMIT", err); /* the expired row it may have deleted */
	if (!ok)
		crm_pg_after_request(pg);
	return ok;
}

bool crm_pg_idem_store(struct crm_pg *pg, const struct crm_idem_request *rq, const struct crm_idem_response *resp,
	struct crm_err *err)
{
	struct num st;
	const char *values[] = {rq->client, rq->key, rq->request, num(&st, resp->status), resp->location, resp->body};
	PGresult *res;

	if (!pg->outer)
		return crm_err_set(err, CRM_E_UNAVAILABLE, "the request's transaction was lost");
	/* when the store fails, the pipeline skips COMMIT: the work is rolled back with it */
	res = crm_pg_exec_between(pg, NULL, PGS_IDEM_STORE, values, "COMMIT", err);
	PQclear(res);
	if (res == NULL)
		return false;
	pg->outer = false;
	return true;
}

/* The claim, the intake and the stored answer as one statement in its own transaction. */
bool crm_pg_idem_intake(struct crm_pg *pg, struct crm_arena *a, const struct crm_idem_request *rq, int ttl,
	const char *email, int64_t source_id, bool probe, enum crm_idem_outcome *outcome,
	struct crm_idem_response *answer, struct crm_idem_intake_made *made, struct crm_err *err)
{
	struct num t, sid;
	const char *values[] = {rq->client, rq->key, rq->request, num(&t, ttl), email, num(&sid, source_id),
		probe ? "true" : "false"};
	PGresult *res = crm_pg_exec(pg, PGS_IDEM_INTAKE, values, err);
	bool ok;

	if (res == NULL)
		return false;
	if (strcmp(PQgetvalue(res, 0, 0), "missing") == 0)
		ok = crm_err_set(err, CRM_E_NOT_FOUND, "source not found");
	else
		ok = idem_outcome(PQgetvalue(res, 0, 0), outcome, err);
	if (ok) {
		answer->status = (int)col_i64(res, 0, 1);
		answer->location = col_str(a, res, 0, 2);
		answer->body = col_str(a, res, 0, 3);
		made->operator_id = col_i64(res, 0, 4); /* NULL: 0 */
		made->sticky = !PQgetisnull(res, 0, 5) && PQgetvalue(res, 0, 5)[0] == 't';
	}
	PQclear(res);
	return ok;
}

bool crm_pg_idem_expire(struct crm_pg *pg, int ttl, int limit, int *deleted, struct crm_err *err)
{
	struct num t, l;
	const char *values[] = {num(&t, ttl), num(&l, limit)};
	PGresult *res = crm_pg_exec(pg, PGS_IDEM_EXPIRE, values, err);

	if (res == NULL)
		return false;
	*deleted = (int)col_i64(res, 0, 0);
	PQclear(res);
	return true;
}

bool crm_pg_idem_expire_contacts(struct crm_pg *pg, int ttl, int limit, int *walked, int *cleared, struct crm_err *err)
{
	struct num t, l;
	const char *values[] = {num(&t, ttl), num(&l, limit)};
	PGresult *res = crm_pg_exec(pg, PGS_IDEM_EXPIRE_CONTACTS, values, err);

	if (res == NULL)
		return false;
	*walked = (int)col_i64(res, 0, 0);
	*cleared = (int)col_i64(res, 0, 1);
	PQclear(res);
	return true;
}

/* --- API keys --- */

/* The scope bits of a text[] value "{admin,read}". */
static unsigned scopes_of(const char *text)
{
	unsigned mask = 0;
	char name[16];

	for (const char *p = text + (*text == '{'); *p != '\0' && *p != '}';) {
		size_t n = strcspn(p, ",}");

		if (n < sizeof(name)) {
			memcpy(name, p, n);
			name[n] = '\0';
			mask |= crm_scope_from_name(name);
		}
		p += n + (p[n] == ',');
	}
	return mask;
}

/* "{admin,read}" for a text[] parameter. */
static const char *scopes_array(struct crm_buf *b, unsigned mask)
{
	crm_buf_clear(b);
	crm_buf_putc(b, '{');
	for (unsigned bit = 1; bit & CRM_SCOPE_ALL; bit <<= 1) {
		if (mask & bit)
			crm_buf_printf(b, "%s%s", b->len > 1 ? "," : "", crm_scope_name(bit));
	}
	crm_buf_putc(b, '}');
	return b->data;
}

/* The ids of a bigint[] value "{1,2}" into out (at most max); returns how many. */
static size_t ids_of(const char *text, int64_t *out, size_t max)
{
	size_t n = 0;

	for (const char *p = text + (*text == '{'); *p != '\0' && *p != '}' && n < max;) {
		char *end;

		out[n++] = strtoll(p, &end, 10);
		p = end + (*end == ',');
	}
	return n;
}

static void read_key(struct crm_arena *a, const PGresult *res, int row, int col, struct crm_api_key *k)
{
	k->id = col_i64(res, row, col);
	k->public_id = col_str(a, res, row, col + 1);
	k->name = col_str(a, res, row, col + 2);
	k->scopes = scopes_of(PQgetvalue(res, row, col + 3));
	k->source_ids = NULL;
	k->nsources = 0;
	if (!PQgetisnull(res, row, col + 4)) {
		int64_t *ids = crm_arena_calloc(a, CRM_KEY_SOURCES_MAX, sizeof(*ids));

		k->nsources = ids_of(PQgetvalue(res, row, col + 4), ids, CRM_KEY_SOURCES_MAX);
		k->source_ids = ids;
	}
	k->created_at = col_str(a, res, row, col + 5);
	k->last_used_at = col_str(a, res, row, col + 6);
	k->revoked_at = col_str(a, res, row, col + 7);
}

static void hex_of(const uint8_t *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

static void missing_sources(const char *positions, struct crm_err *err)
{
	int64_t idx[CRM_KEY_SOURCES_MAX];
	size_t n = ids_of(positions, idx, CRM_KEY_SOURCES_MAX);

	for (size_t i = 0; i < n; i++) {
		char field[48];

		snprintf(field, sizeof(field), "source_ids[%" PRId64 "]", idx[i]);
		crm_err_field(err, field, "source does not exist");
	}
}

bool crm_pg_key_create(struct crm_pg *pg, struct crm_arena *a, const char *public_id, const uint8_t *hash,
	const char *name, unsigned scopes, const int64_t *source_ids, size_t nsources, struct crm_api_key *out,
	struct crm_err *err)
{
	char hash_hex[2 * 32 + 1];
	struct crm_buf sc, ids;
	PGresult *res;
	bool ok = false;

	hex_of(hash, 32, hash_hex);
	crm_buf_init(&sc);
	crm_buf_init(&ids);
	{
		const char *values[] = {public_id, hash_hex, name, scopes_array(&sc, scopes),
			source_ids ? id_array(&ids, source_ids, nsources, sizeof(*source_ids)) : NULL};

		res = crm_pg_exec(pg, PGS_KEY_CREATE, values, err);
	}
	crm_buf_finish(&sc);
	crm_buf_finish(&ids);
	if (res == NULL)
		return false;
	if (!PQgetisnull(res, 0, 0))
		missing_sources(PQgetvalue(res, 0, 0), err);
	else
		ok = true, read_key(a, res, 0, 1, out);
	PQclear(res);
	return ok;
}

bool crm_pg_key_lookup(struct crm_pg *pg, const char *public_id, bool *found, struct crm_key_record *out,
	struct crm_err *err)
{
	const char *values[] = {public_id};
	PGresult *res = crm_pg_exec(pg, PGS_KEY_LOOKUP, values, err);
	const char *hash;

	if (res == NULL)
		return false;
	*found = PQntuples(res) == 1 && PQgetlength(res, 0, 1) == 64;
	if (*found) {
		out->id = col_i64(res, 0, 0);
		hash = PQgetvalue(res, 0, 1);
		for (size_t i = 0; i < 32; i++)
			out->hash[i] = (uint8_t)(crm_hexval((unsigned char)hash[2 * i]) * 16 +
						 crm_hexval((unsigned char)hash[2 * i + 1]));
		out->scopes = scopes_of(PQgetvalue(res, 0, 2));
		out->has_sources = !PQgetisnull(res, 0, 3);
		out->nsources = out->has_sources ? ids_of(PQgetvalue(res, 0, 3), out->sources, CRM_KEY_SOURCES_MAX) : 0;
	}
	PQclear(res);
	return true;
}

bool crm_pg_key_get(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_api_key *out, struct crm_err *err)
{
	struct num n;
	const char *values[] = {num(&n, id)};
	PGresult *res = one_row(pg, PGS_KEY_GET, values, "key", err);

	if (res == NULL)
		return false;
	read_key(a, res, 0, 0, out);
	PQclear(res);
	return true;
}

bool crm_pg_key_revoke(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_api_key *out, struct crm_err *err)
{
	struct num n;
	const char *values[] = {num(&n, id)};
	PGresult *res = one_row(pg, PGS_KEY_REVOKE, values, "key", err);

	if (res == NULL)
		return false;
	read_key(a, res, 0, 0, out);
	PQclear(res);
	return true;
}

static bool key_row(void *p, const PGresult *res)
{
	struct list_ctx *lc = p;
	struct crm_api_key k;

	read_key(lc->arena, res, 0, 0, &k);
	return lc->fn.api_key(lc->ctx, &k);
}

bool crm_pg_keys_list(struct crm_pg *pg, struct crm_arena *a, int64_t after_id, int32_t limit, crm_api_key_fn fn,
	void *ctx, struct crm_err *err)
{
	struct list_ctx lc = {a, {.api_key = fn}, ctx, 0};
	struct num after, lim;
	const char *values[] = {num(&after, after_id), limit > 0 ? num(&lim, limit) : NULL};

	return crm_pg_stream_prepared(pg, PGS_KEYS_LIST, values, key_row, &lc, err);
}
