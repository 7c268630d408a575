/* handlers.h -- the HTTP handlers, private to the handlers layer (listed in routes.c)
 *
 * One file per resource: handlers_operators.c, handlers_sources.c (with a source's operators
 * and stats), handlers_contacts.c (with PATCH and the assignment history), handlers_leads.c,
 * handlers_keys.c (the API keys and the check of the key every request presents),
 * handlers_metrics.c (GET /metrics), handlers_health.c (/healthz, /readyz);
 * handlers_common.c holds what they share.
 */
#ifndef CRM_HANDLERS_H
#define CRM_HANDLERS_H

#include "crm/domain.h"
#include "crm/http.h"
#include "crm/json.h"

void crm_h_operator_create(struct crm_ctx *ctx);
void crm_h_operators_list(struct crm_ctx *ctx);
void crm_h_operator_get(struct crm_ctx *ctx);
void crm_h_operator_update(struct crm_ctx *ctx);
void crm_h_source_create(struct crm_ctx *ctx);
void crm_h_sources_list(struct crm_ctx *ctx);
void crm_h_source_get(struct crm_ctx *ctx);
void crm_h_source_update(struct crm_ctx *ctx);
void crm_h_source_operators_set(struct crm_ctx *ctx);
void crm_h_source_operators_list(struct crm_ctx *ctx);
void crm_h_source_simulate(struct crm_ctx *ctx);
void crm_h_contact_create(struct crm_ctx *ctx);
void crm_h_contacts_list(struct crm_ctx *ctx);
void crm_h_contact_get(struct crm_ctx *ctx);
void crm_h_leads_list(struct crm_ctx *ctx);
void crm_h_lead_get(struct crm_ctx *ctx);
void crm_h_contact_update(struct crm_ctx *ctx);
void crm_h_assignments_list(struct crm_ctx *ctx);
void crm_h_source_stats(struct crm_ctx *ctx);
void crm_h_key_create(struct crm_ctx *ctx);
void crm_h_keys_list(struct crm_ctx *ctx);
void crm_h_key_get(struct crm_ctx *ctx);
void crm_h_key_revoke(struct crm_ctx *ctx);
void crm_h_metrics(struct crm_ctx *ctx);
/* handlers_health.c: public, no key */
void crm_h_healthz(struct crm_ctx *ctx);
void crm_h_readyz(struct crm_ctx *ctx);

/* The router's authorize callback (handlers_keys.c): Authorization: Bearer <key>, verified
 * by the service; 401 with WWW-Authenticate when absent or not a live key, 403 naming the
 * scopes when the key holds none of `scopes`. See crm_authorize_fn in http.h. */
bool crm_h_authorize(struct crm_ctx *ctx, unsigned scopes);

/* --- shared by the handler files (handlers_common.c) --- */

/* Streams a JSON array: rows are written into resp->body; the headers go out with the first
 * flush, so an error before any row still gets a proper problem answer. */
struct crm_list {
	struct crm_ctx *ctx;
	struct crm_jw w;
	bool stream; /* false: buffer the whole answer (small pages that need a Link header) */
	size_t count;
};

void crm_list_begin(struct crm_list *l, struct crm_ctx *ctx, bool stream);
/* After writing one element: flushes when enough is buffered; false when the client is gone. */
bool crm_list_row_done(struct crm_list *l);
/* Closes the array; on !ok answers the error instead (or cuts a started stream). */
void crm_list_end(struct crm_list *l, bool ok, const struct crm_err *err);

/* Decodes the body or answers the error; returns false when answered. */
bool crm_h_decode(struct crm_ctx *ctx, const struct crm_jschema *schema, void *out);
/* Answers err as problem+json. */
void crm_h_fail(struct crm_ctx *ctx, const struct crm_err *err);
/* 201 with Location: <prefix>/<id>. */
void crm_h_created(struct crm_ctx *ctx, const char *prefix, int64_t id);

/* An id-like query parameter: digits only, min..max; a bad value is a field error in err.
 * Absent leaves *out unchanged. */
void crm_h_query_int(struct crm_ctx *ctx, const char *name, int64_t min, int64_t max, int64_t *out,
	struct crm_err *err);
/* ?after_id= and ?limit= of a paged list; false (with field errors in err) when either is bad. */
bool crm_h_query_paging(struct crm_ctx *ctx, int64_t *after_id, int32_t *limit, struct crm_err *err);
/* Link: <path?filters&limit=N&after_id=LAST>; rel="next" (f may be NULL: no filters). */
void crm_h_link_next(struct crm_ctx *ctx, const char *path, const struct crm_contact_filter *f, int32_t limit,
	int64_t last);

/* Idempotency-Key (IETF httpapi draft): runs fn, the handler of a POST whose route is
 * `route` ("POST /api/sources/{id}/operators"), so that a retry with the same key never does
 * the work twice. Without the header: fn as it is. A malformed key: 400. Else the key is
 * claimed in a transaction that fn's work joins, and a 2xx answer is stored before that
 * transaction commits; the same key and request again: the stored answer with
 * Idempotent-Replayed: true; another request: 422; while the first still runs: 409. */
void crm_h_idempotent(struct crm_ctx *ctx, const char *route, crm_handler_fn fn);
/* For a handler that does claim, work and store in one statement (POST /api/contacts): true
 * and *rq filled when the request carries a well-formed key and a body that can be
 * fingerprinted; otherwise false, and the handler runs under crm_h_idempotent, which answers
 * the missing, malformed or unusable case as above. */
bool crm_h_idem_keyed(struct crm_ctx *ctx, const char *route, struct crm_idem_request *rq);
/* Answers the outcome of such a statement: CRM_IDEM_NEW sends the answer it stored (the same
 * bytes a replay sends), the others as crm_h_idempotent does. */
void crm_h_idem_answer(struct crm_ctx *ctx, enum crm_idem_outcome outcome, const struct crm_idem_response *answer);

/* The contact object, shared by contact and lead answers (handlers_contacts.c). */
void crm_h_write_contact(struct crm_jw *w, const struct crm_contact *c);

#endif
