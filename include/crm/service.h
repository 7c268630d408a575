/* service.h -- the use cases: what the API can do, independent of HTTP and JSON
 *
 * A service function validates what the domain rules say (email, names), runs the database
 * work through pg.h and retries a transaction that lost a serialization or deadlock race.
 * It knows nothing of requests, statuses or JSON; its callers never see pg.h.
 */
#ifndef CRM_SERVICE_H
#define CRM_SERVICE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crm/arena.h"
#include "crm/domain.h"
#include "crm/err.h"
#include "crm/simulate.h"

struct crm_pg;
struct crm_key_cache; /* service_keys.c */

/* What one worker process owns for its whole life. */
struct crm_service {
	struct crm_pg *pg;
	int idempotency_ttl;        /* seconds an Idempotency-Key is kept (crm_service_set_idempotency_ttl) */
	int64_t idempotency_sweep;  /* the drainer: monotonic second of the last expiry pass */
	struct crm_key_cache *keys; /* verified API keys of this worker (crm_service_authenticate) */
	int key_cache_ms;           /* how long a verified key is trusted without the database */
	bool auth_off;              /* CRM_BENCH_NO_AUTH: the benchmark's switch, never in production */
	_Atomic int64_t *heartbeat; /* the drainer's (drainer.h), shared; NULL: none */
	int64_t heartbeat_stale_ms; /* older than this, the drainer is not alive */
};

/* Verified keys are trusted this long unless configured (CRM_KEY_CACHE_MS, at most 5000). */
#define CRM_KEY_CACHE_MS_DEFAULT 2000
/* Verified keys one worker keeps; when full, the entry fetched longest ago makes room. */
#define CRM_KEY_CACHE_SIZE 64

/* Idempotency-Keys are kept this long unless configured (CRM_IDEMPOTENCY_TTL). */
#define CRM_IDEMPOTENCY_TTL_DEFAULT (24 * 3600)

/* Transactions that lost a serialization or deadlock race are tried this many times. */
#define CRM_SERVICE_ATTEMPTS 3

/* After failed attempt number `attempt` (from 1): true, with err cleared, when the failure was
 * such a race and another attempt is allowed. */
bool crm_service_retry(struct crm_err *err, int attempt);
/* Counts a contact an intake stored (crm_intake_total, crm_assignments_total): with the operator
 * it went to (0: it waits), given back to the lead's last operator or not (sticky). */
void crm_service_intake_counted(int64_t operator_id, bool sticky);

/* Creates the (not yet connected) database handle; call in each process after fork. */
bool crm_service_init(struct crm_service *s, const char *database_url, int drain_batch,
	struct crm_err *err) CRM_MUSTCHECK;
/* The time limits of the database work of requests and the drainer (seconds, 0 = none), before
 * the first connection: crm_pg_set_timeouts. `crm migrate` does not set them. */
void crm_service_set_timeouts(struct crm_service *s, int statement_seconds, int lock_seconds);
void crm_service_finish(struct crm_service *s);
/* How long Idempotency-Keys are kept (seconds); set once at start by workers and the drainer. */
void crm_service_set_idempotency_ttl(struct crm_service *s, int seconds);

/* A worker connects at start so that its first request finds a connection; a failure is logged
 * and every request retries the connection (and answers 503 until it works). */
void crm_service_connect(struct crm_service *s);
/* After every request: rolls back a transaction left open, drops a broken connection. */
void crm_service_request_done(struct crm_service *s);

/* `crm migrate`: applies pending migrations under an advisory lock. *applied is the number
 * applied by this call, *version the schema version this binary carries. */
bool crm_service_migrate(struct crm_service *s, int *applied, size_t *version, struct crm_err *err) CRM_MUSTCHECK;

/* schedule: canonical JSON text (the handler's, from schedule.h's checks) or NULL; a zone the
 * database does not know is the field error schedule.timezone. */
bool crm_service_operator_create(struct crm_service *s, struct crm_arena *a, const char *name, bool is_active,
	int32_t max_load_limit, const char *schedule, struct crm_operator *out, struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_operator_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_operator *out,
	struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_operator_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_operator_patch *patch, struct crm_operator *out, struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_operators_list(struct crm_service *s, struct crm_arena *a, crm_operator_fn fn, void *ctx,
	struct crm_err *err) CRM_MUSTCHECK;

bool crm_service_source_create(struct crm_service *s, struct crm_arena *a, const char *name, const char *description,
	struct crm_source *out, struct crm_err *err) CRM_MUSTCHECK;
/* PATCH /api/sources/{id}: name, description, accept_timeout_seconds (each when given). */
bool crm_service_source_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_source_patch *patch, struct crm_source *out, struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_source_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_source *out,
	struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_sources_list(struct crm_service *s, struct crm_arena *a, crm_source_fn fn, void *ctx,
	struct crm_err *err) CRM_MUSTCHECK;
/* Replaces the configuration; repeated operators are field errors. */
bool crm_service_source_operators_set(struct crm_service *s, struct crm_arena *a, int64_t source_id,
	const struct crm_source_operator *items, size_t n, struct crm_source_operator **out, size_t *nout,
	struct crm_err *err) CRM_MUSTCHECK;
/* For a configuration already known to be bad: adds every repeated and every unknown operator
 * to err as field errors, so that one answer names each bad entry. */
void crm_service_source_operators_report(struct crm_service *s, const struct crm_source_operator *items, size_t n,
	struct crm_err *err);
bool crm_service_source_operators_list(struct crm_service *s, struct crm_arena *a, int64_t source_id,
	crm_source_operator_fn fn, void *ctx, struct crm_err *err) CRM_MUSTCHECK;

/* The email as stored (crm_email_normalize); a bad one -> field error "email". */
bool crm_service_contact_email(struct crm_arena *a, const char *email, const char **normal,
	struct crm_err *err) CRM_MUSTCHECK;
/* A contact arrives: normalise the email, then one transaction draws the operator and stores
 * the contact. Bad email -> field error "email"; unknown source -> CRM_E_NOT_FOUND. */
bool crm_service_contact_create(struct crm_service *s, struct crm_arena *a, const char *email, int64_t source_id,
	struct crm_contact *out, struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_contact_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_contact *out,
	struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_contacts_list(struct crm_service *s, struct crm_arena *a, const struct crm_contact_filter *f,
	crm_contact_fn fn, void *ctx, struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_lead_get(struct crm_service *s, struct crm_arena *a, int64_t id, crm_lead_contact_fn fn, void *ctx,
	struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_leads_list(struct crm_service *s, struct crm_arena *a, int64_t after_id, int32_t limit,
	crm_lead_contact_fn fn, void *ctx, struct crm_err *err) CRM_MUSTCHECK;

bool crm_service_contact_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_contact_patch *patch, struct crm_contact *out, struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_assignments_list(struct crm_service *s, struct crm_arena *a, int64_t contact_id, crm_assignment_fn fn,
	void *ctx, struct crm_err *err) CRM_MUSTCHECK;
/* The source's figures with every operator's configured and actual share filled in. */
bool crm_service_source_stats(struct crm_service *s, struct crm_arena *a, int64_t source_id,
	struct crm_source_stats *out, struct crm_err *err) CRM_MUSTCHECK;

/* POST /api/sources/{id}/simulate: what `contacts` new contacts would do now (simulate.h). */
struct crm_simulation {
	int64_t source_id;
	int64_t contacts;
	int64_t waiting; /* the source's waiting contacts, served first */
	bool preview;    /* the operators came with the request, not from the source */
	enum crm_sim_mode mode;
	struct crm_sim_operator *ops; /* by operator id, in the arena */
	size_t nops;
	struct crm_sim_result result;
};

/* Reads the inputs in one read-only snapshot (no lock an intake could wait for) and computes
 * the dry run; writes nothing. preview NULL: the source's configuration; else a configuration
 * that is not applied, checked like crm_service_source_operators_set's (repeated and unknown
 * operators are field errors). NOT_FOUND for an unknown source. The Monte Carlo's seed comes
 * from the request's figures, so the same state gives the same answer. */
bool crm_service_source_simulate(struct crm_service *s, struct crm_arena *a, int64_t source_id, int64_t contacts,
	const struct crm_source_operator *preview, size_t npreview, struct crm_simulation *out,
	struct crm_err *err) CRM_MUSTCHECK;

/* Idempotency-Key. claim: opens the request's transaction and claims rq->key (see
 * crm_pg_idem_claim); on CRM_IDEM_NEW the caller does the request's work, which joins that
 * transaction, and then calls crm_service_idem_store, which records the response and commits.
 * A request that fails never stores: crm_service_request_done rolls everything back. Inside
 * the claimed transaction a lost serialization or deadlock race is not retried by the worker
 * (the transaction is gone): it is a 503, and the client's retry with the key does it again. */
bool crm_service_idem_claim(struct crm_service *s, struct crm_arena *a, const struct crm_idem_request *rq,
	enum crm_idem_outcome *outcome, struct crm_idem_response *stored, struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_idem_store(struct crm_service *s, const struct crm_idem_request *rq,
	const struct crm_idem_response *resp, struct crm_err *err) CRM_MUSTCHECK;
/* POST /api/contacts with a key, claim and intake in one statement, the key kept on the contact
 * (one round trip; see crm_pg_idem_intake): normal_email comes from crm_service_contact_email.
 * *answer is the first answer on CRM_IDEM_NEW, rebuilt from the contact on CRM_IDEM_REPLAY. */
bool crm_service_idem_contact_create(struct crm_service *s, struct crm_arena *a, const struct crm_idem_request *rq,
	const char *normal_email, int64_t source_id, enum crm_idem_outcome *outcome, struct crm_idem_response *answer,
	struct crm_err *err) CRM_MUSTCHECK;
/* A claimed request that failed: rolls its transaction back now, before the answer goes out, so
 * that a retry sent as soon as the client has the answer finds the key free (not 409). */
void crm_service_idem_abandon(struct crm_service *s);

/* The drainer's sweep, at most once per sweep_seconds: deletes keys older than the TTL. */
bool crm_service_idem_expire(struct crm_service *s, int sweep_seconds, struct crm_err *err) CRM_MUSTCHECK;

/* --- health (service_health.c) --- */

/* CLOCK_MONOTONIC in milliseconds: the clock of the heartbeat, shared by every process. */
int64_t crm_service_now_ms(void);
/* The drainer's heartbeat (owned by the process layer) and its stale time; set once at start. */
void crm_service_set_heartbeat(struct crm_service *s, _Atomic int64_t *heartbeat, int64_t stale_ms);
/* The drainer shows life: now into the heartbeat. */
void crm_service_heartbeat(struct crm_service *s);

/* What GET /readyz says: NULL for a check that passed, else what is wrong (arena text). */
struct crm_readiness {
	const char *database;
	const char *schema;
	const char *drainer;
};

/* Runs every check; true when all passed. */
bool crm_service_ready(struct crm_service *s, struct crm_arena *a, struct crm_readiness *out);

/* --- API keys (service_keys.c) --- */

/* How long a verified key is cached (0: every request asks the database), and the benchmark's
 * switch that turns the check off (crm_service_auth_off tells the handlers). Set at start. */
void crm_service_set_keys(struct crm_service *s, int cache_ms, bool auth_off);
bool crm_service_auth_off(const struct crm_service *s);
/* The key text a request presented: CRM_E_UNAUTHORIZED when it is malformed, unknown, revoked
 * or its secret does not match; CRM_E_UNAVAILABLE when the database cannot say. A key verified
 * less than the cache time ago is checked without the database (SHA-256 and a constant-time
 * compare against the cached hash); so a revocation reaches every worker within that time.
 * out's strings and sources live in the arena. */
bool crm_service_authenticate(struct crm_service *s, struct crm_arena *a, const char *key_text,
	struct crm_principal *out, struct crm_err *err) CRM_MUSTCHECK;
/* A new key. scope_names are checked here (unknown or repeated: field errors "scopes[i]"),
 * source_ids (NULL: any source) need the intake scope (field error "source_ids"), must not
 * repeat ("source_ids[i]") and must exist ("source_ids[i]"). *key_text is the whole key, in
 * the arena: the only time it exists outside its holder. */
bool crm_service_key_create(struct crm_service *s, struct crm_arena *a, const char *name,
	const char *const *scope_names, size_t nscopes, const int64_t *source_ids, size_t nsources,
	struct crm_api_key *out, const char **key_text, struct crm_err *err) CRM_MUSTCHECK;
/* For a body already known to be bad: adds the field errors of the scope names and sources
 * that crm_service_key_create would (NULL names and ids <= 0 are skipped: already named), so
 * that one answer names every bad field. */
void crm_service_key_report(const char *const *scope_names, size_t nscopes, const int64_t *source_ids, size_t nsources,
	struct crm_err *err);
bool crm_service_key_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_api_key *out,
	struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_key_revoke(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_api_key *out,
	struct crm_err *err) CRM_MUSTCHECK;
bool crm_service_keys_list(struct crm_service *s, struct crm_arena *a, int64_t after_id, int32_t limit,
	crm_api_key_fn fn, void *ctx, struct crm_err *err) CRM_MUSTCHECK;

/* The drainer: recomputes the operators whose shift changed, assigns waiting contacts until a
 * pass assigns none, then waits for a backlog wake-up, the next shift change or the sweep
 * interval, whichever comes first. Returns false when the database is unreachable. */
bool crm_service_backlog_run_once(struct crm_service *s, int sweep_ms, struct crm_err *err) CRM_MUSTCHECK;
/* The backlog as /metrics shows it: contacts waiting and the oldest one's age in seconds. */
bool crm_service_backlog_gauge(struct crm_service *s, int64_t *waiting, double *oldest_seconds,
	struct crm_err *err) CRM_MUSTCHECK;

#endif
