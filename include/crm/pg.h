/* pg.h -- the database: one connection per worker, prepared statements, migrations
 *
 * pg.c, pg_queries.c and pg_migrate.c are the only includers of libpq-fe.h and hold all SQL
 * text. They fill the plain structs of domain.h; strings come from the caller's arena.
 * SQLSTATEs are read only here: 23505 -> CRM_E_CONFLICT, 23503/23514/22xxx -> CRM_E_INVALID,
 * 40001/40P01 -> CRM_E_RETRY, connection loss/08xxx/57Pxx -> CRM_E_UNAVAILABLE.
 */
#ifndef CRM_PG_H
#define CRM_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crm/arena.h"
#include "crm/domain.h"
#include "crm/err.h"
#include "crm/simulate.h"

struct crm_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct crm_migration crm_migrations[];
extern const size_t crm_migrations_count;

/* A repeatable migration (sql/functions/): re-applied whenever its checksum changes. */
struct crm_repeatable {
	const char *name;     /* "functions/20_candidates.sql" */
	const char *checksum; /* sha256 of the text, hex */
	const char *sql;
};

extern const struct crm_repeatable crm_repeatables[];
extern const size_t crm_repeatables_count;

struct crm_pg;

/* Creates the handle; does not connect. conninfo may be "" (libpq defaults, PG* variables). */
struct crm_pg *crm_pg_create(const char *conninfo);
void crm_pg_destroy(struct crm_pg *pg);

/* Connects (or reconnects a broken connection) and prepares the statements. */
bool crm_pg_ensure(struct crm_pg *pg, struct crm_err *err) CRM_MUSTCHECK;

/* After every request: rolls back a transaction left open, drops a broken connection. */
void crm_pg_after_request(struct crm_pg *pg);

/* Applies pending numbered migrations, then the repeatable ones whose checksum changed (all of
 * them after a numbered one), in one transaction under an advisory lock. *applied is the number
 * of numbered migrations applied by this call. */
bool crm_pg_migrate(struct crm_pg *pg, int *applied, struct crm_err *err) CRM_MUSTCHECK;

/* GET /readyz: connects if needed, then compares the migrations and function checksums the
 * database recorded with the ones this binary embeds (one small query). *problem is NULL when
 * they are the same, else names the first difference (in the arena); false with err when the
 * database cannot say (CRM_E_UNAVAILABLE, ...). */
bool crm_pg_schema_check(struct crm_pg *pg, struct crm_arena *a, const char **problem,
	struct crm_err *err) CRM_MUSTCHECK;

/* After a change that may free capacity, the transaction itself assigns at most this many
 * waiting contacts; the drainer process does the rest. Set once at start. */
void crm_pg_set_drain_batch(struct crm_pg *pg, int batch);

/* statement_timeout and lock_timeout (seconds, 0 = none) of the connections made from now on,
 * sent as connection options; a statement past either fails with CRM_E_TIMEOUT (503) and its
 * transaction is rolled back. Not set for migrations. Set once at start, before connecting. */
void crm_pg_set_timeouts(struct crm_pg *pg, int statement_seconds, int lock_seconds);

/* --- operators --- */
bool crm_pg_operator_create(struct crm_pg *pg, struct crm_arena *a, const char *name, bool is_active,
	int32_t max_load_limit, const char *schedule, struct crm_operator *out, struct crm_err *err) CRM_MUSTCHECK;
bool crm_pg_operator_get(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_operator *out,
	struct crm_err *err) CRM_MUSTCHECK;
/* Also assigns waiting contacts of the operator's sources if capacity appeared. */
bool crm_pg_operator_update(struct crm_pg *pg, struct crm_arena *a, int64_t id, const struct crm_operator_patch *patch,
	struct crm_operator *out, struct crm_err *err) CRM_MUSTCHECK;

/* The row callbacks (crm_operator_fn, ...) are declared in domain.h. */
bool crm_pg_operators_list(struct crm_pg *pg, struct crm_arena *a, crm_operator_fn fn, void *ctx,
	struct crm_err *err) CRM_MUSTCHECK;

/* --- sources --- */
bool crm_pg_source_create(struct crm_pg *pg, struct crm_arena *a, const char *name, const char *description,
	struct crm_source *out, struct crm_err *err) CRM_MUSTCHECK;
bool crm_pg_source_get(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_source *out,
	struct crm_err *err) CRM_MUSTCHECK;
/* NOT_FOUND; a taken name is CONFLICT (as for a create). */
bool crm_pg_source_update(struct crm_pg *pg, struct crm_arena *a, int64_t id, const struct crm_source_patch *patch,
	struct crm_source *out, struct crm_err *err) CRM_MUSTCHECK;
bool crm_pg_sources_list(struct crm_pg *pg, struct crm_arena *a, crm_source_fn fn, void *ctx,
	struct crm_err *err) CRM_MUSTCHECK;
/* Replaces the source's configuration atomically (entries of kept operators keep their ids).
 * Unknown operators are field errors "operators[i].operator_id"; nothing changes on error.
 * *out receives the new configuration by operator_id (arena array). */
bool crm_pg_source_operators_set(struct crm_pg *pg, struct crm_arena *a, int64_t source_id,
	const struct crm_source_operator *items, size_t n, struct crm_source_operator **out, size_t *nout,
	struct crm_err *err) CRM_MUSTCHECK;
/* Adds a field error "operators[i].operator_id" for every items[i] (with operator_id > 0) that
 * names no operator. Returns false if any is missing or on a database error. */
bool crm_pg_operators_check(struct crm_pg *pg, const struct crm_source_operator *items, size_t n,
	struct crm_err *err) CRM_MUSTCHECK;
bool crm_pg_source_operators_list(struct crm_pg *pg, struct crm_arena *a, int64_t source_id, crm_source_operator_fn fn,
	void *ctx, struct crm_err *err) CRM_MUSTCHECK;

/* --- contacts and leads --- */
/* One distribution in one transaction (crm_intake(), sql/functions/30_intake.sql): reads the
 * source's operators, draws their weighted random order, finds or creates the lead, takes the
 * first operator of that order that is still configured, active and below its limit
 * (conditional row update), and stores the contact (unassigned when none) with its history
 * row. *sticky: the operator was the lead's earlier one (a sticky source, README "Sticky
 * returning leads"). NOT_FOUND when the source does not exist. */
bool crm_pg_intake(struct crm_pg *pg, struct crm_arena *a, const char *email, int64_t source_id,
	struct crm_contact *out, bool *sticky, struct crm_err *err) CRM_MUSTCHECK;
bool crm_pg_contact_get(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_contact *out,
	struct crm_err *err) CRM_MUSTCHECK;
/* Streams matching contacts by id through a cursor: memory stays flat for any count. */
bool crm_pg_contacts_list(struct crm_pg *pg, struct crm_arena *a, const struct crm_contact_filter *f, crm_contact_fn fn,
	void *ctx, struct crm_err *err) CRM_MUSTCHECK;
/* Streams leads by id with their contacts: one lead when only_id > 0 (NOT_FOUND if absent),
 * else the leads after after_id, at most limit of them (0 = all). */
bool crm_pg_leads_list(struct crm_pg *pg, struct crm_arena *a, int64_t only_id, int64_t after_id, int32_t limit,
	crm_lead_contact_fn fn, void *ctx, struct crm_err *err) CRM_MUSTCHECK;

/* Status and/or operator of a contact in one transaction, keeping the loads exact; then the
 * waiting contacts of the affected sources are assigned. NOT_FOUND; CONFLICT with the reason
 * (not configured, inactive, at its limit); field error operator_id for an unknown operator. */
bool crm_pg_contact_update(struct crm_pg *pg, struct crm_arena *a, int64_t id, const struct crm_contact_patch *patch,
	struct crm_contact *out, struct crm_err *err) CRM_MUSTCHECK;

/* The contact's assignment history, oldest first; NOT_FOUND if the contact does not exist. */
bool crm_pg_assignments_list(struct crm_pg *pg, struct crm_arena *a, int64_t contact_id, crm_assignment_fn fn,
	void *ctx, struct crm_err *err) CRM_MUSTCHECK;
bool crm_pg_source_stats(struct crm_pg *pg, struct crm_arena *a, int64_t source_id, struct crm_source_stats *out,
	struct crm_err *err) CRM_MUSTCHECK;

/* The dry run's inputs in one REPEATABLE READ READ ONLY transaction (no row lock): the source's
 * waiting contacts and one crm_sim_operator per operator of the configuration, by operator id
 * (sql/functions/90_simulate.sql). preview NULL: the source's own configuration; else the
 * preview's operators and weights (npreview may be 0: nobody), whose unknown operators are field
 * errors "operators[i].operator_id" (crm_pg_operators_check). NOT_FOUND for an unknown source.
 * *mode: the source's mode (sources.mode, in the arena), which a preview keeps. */
bool crm_pg_simulate_read(struct crm_pg *pg, struct crm_arena *a, int64_t source_id,
	const struct crm_source_operator *preview, size_t npreview, struct crm_sim_operator **ops, size_t *nops,
	int64_t *waiting, const char **mode, struct crm_err *err) CRM_MUSTCHECK;

/* --- Idempotency-Key (sql/functions/70_idempotency.sql) --- */
/* Returns once everything committed so far is on the synchronous standby (a transaction that
 * commits a transaction id waits for it), at once without synchronous replication. A stored
 * answer is replayed only after it: a primary restarted after a crash shows transactions that
 * its standby may never have received, and that a failover to that standby loses. */
bool crm_pg_replicated(struct crm_pg *pg, struct crm_err *err) CRM_MUSTCHECK;

/* Opens the request's transaction and claims the key (a row older than ttl seconds counts as
 * absent). On CRM_IDEM_NEW the transaction stays open: the request's own statements run in it
 * (their BEGIN/COMMIT are skipped) until crm_pg_idem_store commits; crm_pg_after_request rolls
 * it back. Any other outcome ends the transaction; *stored is filled on CRM_IDEM_REPLAY. */
bool crm_pg_idem_claim(struct crm_pg *pg, struct crm_arena *a, const struct crm_idem_request *rq, int ttl,
	enum crm_idem_outcome *outcome, struct crm_idem_response *stored, struct crm_err *err) CRM_MUSTCHECK;
/* Stores the response of the claimed key and commits the transaction. */
bool crm_pg_idem_store(struct crm_pg *pg, const struct crm_idem_request *rq, const struct crm_idem_response *resp,
	struct crm_err *err) CRM_MUSTCHECK;
/* POST /api/contacts with a key in one statement and its own transaction (crm_idem_intake): the
 * claim and crm_pg_intake's work, the key stored on the contact. *answer is filled on
 * CRM_IDEM_NEW and CRM_IDEM_REPLAY; an unknown source is NOT_FOUND and stores nothing. Without
 * probe the key is assumed new (no lookup of the contacts): a contact holding it makes the
 * statement fail and undo everything with RETRY, and the retry must probe. On CRM_IDEM_NEW, *made
 * says what the intake decided (for the metrics). */
bool crm_pg_idem_intake(struct crm_pg *pg, struct crm_arena *a, const struct crm_idem_request *rq, int ttl,
	const char *email, int64_t source_id, bool probe, enum crm_idem_outcome *outcome,
	struct crm_idem_response *answer, struct crm_idem_intake_made *made, struct crm_err *err) CRM_MUSTCHECK;
/* Deletes at most limit keys older than ttl seconds; *deleted says how many. */
bool crm_pg_idem_expire(struct crm_pg *pg, int ttl, int limit, int *deleted, struct crm_err *err) CRM_MUSTCHECK;
/* Clears the keys of contacts older than ttl seconds (POST /api/contacts keeps its key on the
 * contact, migration 0011), going past at most limit contacts in id order: *walked how many
 * (limit: call again), *cleared how many keys. */
bool crm_pg_idem_expire_contacts(struct crm_pg *pg, int ttl, int limit, int *walked, int *cleared,
	struct crm_err *err) CRM_MUSTCHECK;

/* --- API keys (sql/functions/80_keys.sql) --- */
/* What the workers need of a presented key (crm_key_lookup). */
struct crm_key_record {
	int64_t id;
	uint8_t hash[32]; /* SHA-256 of the secret */
	unsigned scopes;
	bool has_sources; /* limited to sources[0..nsources) */
	int64_t sources[CRM_KEY_SOURCES_MAX];
	size_t nsources;
};

/* Stores a new key (hash: SHA-256 of its secret, 32 bytes). Sources that do not exist are field
 * errors "source_ids[i]" and nothing is stored. source_ids NULL: any source. */
bool crm_pg_key_create(struct crm_pg *pg, struct crm_arena *a, const char *public_id, const uint8_t *hash,
	const char *name, unsigned scopes, const int64_t *source_ids, size_t nsources, struct crm_api_key *out,
	struct crm_err *err) CRM_MUSTCHECK;
/* The live (not revoked) key with this public id: *found false when there is none. Writes its
 * last_used_at when older than a minute. */
bool crm_pg_key_lookup(struct crm_pg *pg, const char *public_id, bool *found, struct crm_key_record *out,
	struct crm_err *err) CRM_MUSTCHECK;
bool crm_pg_key_get(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_api_key *out,
	struct crm_err *err) CRM_MUSTCHECK;
/* Sets revoked_at unless already set; NOT_FOUND when no key has this id. */
bool crm_pg_key_revoke(struct crm_pg *pg, struct crm_arena *a, int64_t id, struct crm_api_key *out,
	struct crm_err *err) CRM_MUSTCHECK;
/* Keys by id after after_id, at most limit (0: all). */
bool crm_pg_keys_list(struct crm_pg *pg, struct crm_arena *a, int64_t after_id, int32_t limit, crm_api_key_fn fn,
	void *ctx, struct crm_err *err) CRM_MUSTCHECK;

/* --- backlog drainer --- */
/* Connects if needed and LISTENs on the backlog channel. */
bool crm_pg_backlog_listen(struct crm_pg *pg, struct crm_err *err) CRM_MUSTCHECK;
/* Working hours (sql/functions/45_shifts.sql): recomputes the on-shift state of the operator
 * whose shift_change_at is the earliest past one, if any (*advanced), in its own transaction,
 * draining its sources if it came on shift; *wait_ms is the time until the next
 * shift_change_at of all operators (-1: none). */
bool crm_pg_shift_advance(struct crm_pg *pg, bool *advanced, int64_t *wait_ms, struct crm_err *err) CRM_MUSTCHECK;
/* Accept or lose it: times out the earliest contact whose accept deadline has come (advanced),
 * and says how long until the next deadline (-1: none). */
bool crm_pg_accept_timeout_advance(struct crm_pg *pg, bool *advanced, int64_t *wait_ms,
	struct crm_err *err) CRM_MUSTCHECK;
/* Waits up to timeout_ms for a backlog wake-up and consumes the notifications. The contacts that
 * other transactions assigned from the backlog and told (crm_drained) are counted in the metrics
 * as they come; they do not end the wait. */
void crm_pg_backlog_wait(struct crm_pg *pg, int timeout_ms);
/* One step of the drainer, in a transaction of its own: the first source after `after` (by id)
 * with waiting contacts gets at most the drain batch of them assigned (crm_drain_next).
 * *source is that source, 0 when no source after `after` has anyone waiting; *assigned says
 * how many were assigned. */
bool crm_pg_backlog_drain_next(struct crm_pg *pg, int64_t after, int64_t *source, int *assigned,
	struct crm_err *err) CRM_MUSTCHECK;
/* The backlog for /metrics in one statement: contacts waiting, and the age in seconds of the
 * oldest of them (0 when none waits). */
bool crm_pg_backlog_gauge(struct crm_pg *pg, int64_t *waiting, double *oldest_seconds,
	struct crm_err *err) CRM_MUSTCHECK;

#endif
