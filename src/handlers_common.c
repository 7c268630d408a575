/* handlers_common.c -- what every handler file shares: decoding, errors, lists, query strings
 *
 * A handler decodes its input with a static JSON schema, calls one service function and
 * writes the answer. The HTTP status comes from the error table (err.h) or is 200/201.
 * Lists stream: rows are written as PostgreSQL sends them, so a worker's memory does not grow
 * with the table. With ?limit=N a page is buffered instead, because its Link header (rel=next)
 * can only be known once the page is complete.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "crm/domain.h"
#include "crm/json_valid.h"
#include "crm/service.h"
#include "handlers.h"

#define FLUSH_THRESHOLD (32 * 1024)

/* --- shared helpers --- */

void crm_h_fail(struct crm_ctx *ctx, const struct crm_err *err)
{
	crm_resp_error(ctx->resp, err);
}

bool crm_h_decode(struct crm_ctx *ctx, const struct crm_jschema *schema, void *out)
{
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (crm_json_decode(ctx->req->body, ctx->req->body_len, schema, out, ctx->arena, &err))
		return true;
	crm_h_fail(ctx, &err);
	return false;
}

void crm_h_created(struct crm_ctx *ctx, const char *prefix, int64_t id)
{
	ctx->resp->status = 201;
	crm_resp_header(ctx->resp, "Location: %s/%lld", prefix, (long long)id);
}

void crm_list_begin(struct crm_list *l, struct crm_ctx *ctx, bool stream)
{
	l->ctx = ctx;
	l->stream = stream;
	l->count = 0;
	crm_jw_init(&l->w, &ctx->resp->body);
	crm_jw_arr_begin(&l->w);
}

bool crm_list_row_done(struct crm_list *l)
{
	struct crm_response *resp = l->ctx->resp;

	l->count++;
	if (!l->stream || resp->body.len < FLUSH_THRESHOLD)
		return !resp->failed;
	if (!resp->streaming)
		crm_resp_stream_begin(resp, 200);
	return crm_resp_flush(resp, FLUSH_THRESHOLD);
}

void crm_list_end(struct crm_list *l, bool ok, const struct crm_err *err)
{
	if (!ok) {
		if (err->code != CRM_E_OK)
			crm_h_fail(l->ctx, err);
		else
			l->ctx->resp->failed = true; /* the client went away */
		return;
	}
	crm_jw_arr_end(&l->w);
	l->ctx->resp->status = 200;
}

/* --- Idempotency-Key --- */

#define IDEM_KEY_MAX 255

/* 1 to 255 visible ASCII characters (0x21-0x7E). */
static bool idem_key_valid(const char *key)
{
	size_t n = 0;

	for (; key[n] != '\0'; n++) {
		if ((unsigned char)key[n] < 0x21 || (unsigned char)key[n] > 0x7e)
			return false;
	}
	return n >= 1 && n <= IDEM_KEY_MAX;
}

/* The canonical request whose sha256 is the fingerprint: method, route pattern, path
 * parameters and the body bytes as received. The raw body, not a re-serialised parse: a retry
 * resends the same bytes, and comparing them needs no second JSON writer whose output could
 * change between releases and turn a retry into a 422; a body that differs in any byte is
 * another request. NULL when the body cannot travel as text (not UTF-8, or a NUL): such a body
 * is refused by the handler anyway, before anything is stored. */
static const char *idem_request(struct crm_ctx *ctx, const char *route)
{
	const struct crm_request *req = ctx->req;
	char head[256];
	char *text;
	int n;

	if (req->body_too_large || memchr(req->body, '\0', req->body_len) != NULL ||
		!crm_json_utf8_valid(req->body, req->body_len))
		return NULL;
	n = snprintf(head, sizeof(head), "%s %" PRId64 " %" PRId64 "\n", route, req->params[0], req->params[1]);
	text = crm_arena_alloc(ctx->arena, (size_t)n + req->body_len + 1);
	memcpy(text, head, (size_t)n);
	memcpy(text + n, req->body, req->body_len);
	text[(size_t)n + req->body_len] = '\0';
	return text;
}

/* The value of the Location header the handler set, or NULL. */
static const char *idem_location(struct crm_ctx *ctx)
{
	static const char name[] = "Location: ";
	const char *h = ctx->resp->extra_headers;

	for (const char *line = h; *line != '\0';) {
		const char *end = strstr(line, "\r\n");
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

		if (len >= sizeof(name) - 1 && strncmp(line, name, sizeof(name) - 1) == 0)
			return crm_arena_strndup(ctx->arena, line + sizeof(name) - 1, len - (sizeof(name) - 1));
		if (end == NULL)
			break;
		line = end + 2;
	}
	return NULL;
}

/* A stored answer: status, Location and body; replayed says Idempotent-Replayed: true. */
static void idem_send(struct crm_ctx *ctx, const struct crm_idem_response *stored, bool replayed)
{
	struct crm_response *resp = ctx->resp;

	resp->status = stored->status;
	if (stored->location != NULL)
		crm_resp_header(resp, "Location: %s", stored->location);
	if (replayed)
		crm_resp_header(resp, "Idempotent-Replayed: true");
	crm_buf_clear(&resp->body);
	if (stored->body != NULL)
		crm_buf_puts(&resp->body, stored->body);
}

void crm_h_idem_answer(struct crm_ctx *ctx, enum crm_idem_outcome outcome, const struct crm_idem_response *answer)
{
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	switch (outcome) {
	case CRM_IDEM_NEW: idem_send(ctx, answer, false); return;
	case CRM_IDEM_REPLAY: idem_send(ctx, answer, true); return;
	case CRM_IDEM_MISMATCH:
		crm_err_set(&err, CRM_E_INVALID, "this Idempotency-Key was used for a different request");
		crm_err_field(&err, "Idempotency-Key", "was used for a different request (method, path or body)");
		crm_h_fail(ctx, &err);
		return;
	case CRM_IDEM_BUSY:
		crm_err_set(&err, CRM_E_CONFLICT, "a request with this Idempotency-Key is still being processed");
		crm_h_fail(ctx, &err);
		crm_resp_header(ctx->resp, "Retry-After: %d", CRM_RETRY_AFTER_SECONDS);
		return;
	}
}

bool crm_h_idem_keyed(struct crm_ctx *ctx, const char *route, struct crm_idem_request *rq)
{
	rq->client = ctx->req->key_id ? ctx->req->key_id : "";
	rq->key = ctx->req->idempotency_key;
	if (rq->key == NULL || !idem_key_valid(rq->key))
		return false;
	return (rq->request = idem_request(ctx, route)) != NULL;
}

/* After fn answered 2xx in the claimed transaction: store the answer and commit. A failure
 * here (the database went away) replaces the answer: nothing was committed, or the client's
 * retry finds the stored answer. */
static void idem_store(struct crm_ctx *ctx, const struct crm_idem_request *rq)
{
	struct crm_response *resp = ctx->resp;
	struct crm_idem_response r;
	struct crm_err err;

	r.status = resp->status;
	r.location = idem_location(ctx);
	r.body = resp->body.data != NULL ? resp->body.data : "";
	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_idem_store(ctx->svc, rq, &r, &err)) {
		crm_service_idem_abandon(ctx->svc);
		resp->extra_headers[0] = '\0'; /* not the Location of what was not stored */
		if (resp->request_id != NULL)
			crm_resp_header(resp, "X-Request-Id: %s", resp->request_id);
		crm_h_fail(ctx, &err);
	}
}

void crm_h_idempotent(struct crm_ctx *ctx, const char *route, crm_handler_fn fn)
{
	/* keys are per API key: one client can never replay (or block) another's answer */
	struct crm_idem_request rq = {ctx->req->key_id ? ctx->req->key_id : "", ctx->req->idempotency_key, NULL};
	enum crm_idem_outcome outcome;
	struct crm_idem_response stored;
	struct crm_err err;

	if (rq.key == NULL) {
		fn(ctx);
		return;
	}
	crm_err_init_arena(&err, ctx->arena);
	if (!idem_key_valid(rq.key)) {
		crm_err_set(&err, CRM_E_BAD_REQUEST, "Idempotency-Key must be 1 to %d visible ASCII characters",
			IDEM_KEY_MAX);
		crm_h_fail(ctx, &err);
		return;
	}
	if ((rq.request = idem_request(ctx, route)) == NULL) {
		fn(ctx); /* refuses the body; nothing is stored, nothing claimed */
		return;
	}
	if (!crm_service_idem_claim(ctx->svc, ctx->arena, &rq, &outcome, &stored, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	if (outcome != CRM_IDEM_NEW) {
		crm_h_idem_answer(ctx, outcome, &stored);
		return;
	}
	fn(ctx);
	if (ctx->resp->status >= 200 && ctx->resp->status < 300 && !ctx->resp->streaming)
		idem_store(ctx, &rq);
	else
		crm_service_idem_abandon(ctx->svc); /* the claim goes with the work, before the answer */
}

/* --- query parameters --- */

/* An id-like query parameter: digits only, min..CRM_ID_MAX. Absent leaves *out unchanged. */
void crm_h_query_int(struct crm_ctx *ctx, const char *name, int64_t min, int64_t max, int64_t *out, struct crm_err *err)
{
	const char *v = crm_http_query_get(ctx->arena, ctx->req->query, name);
	int64_t n = 0;
	size_t len;

	if (v == NULL)
		return;
	len = strlen(v);
	if (len == 0 || len > 16 || strspn(v, "0123456789") != len) {
		crm_err_field(err, name, "must be an integer from %" PRId64 " to %" PRId64, min, max);
		return;
	}
	for (size_t i = 0; i < len; i++)
		n = n * 10 + (v[i] - '0');
	if (n < min || n > max) {
		crm_err_field(err, name, "must be an integer from %" PRId64 " to %" PRId64, min, max);
		return;
	}
	*out = n;
}

bool crm_h_query_paging(struct crm_ctx *ctx, int64_t *after_id, int32_t *limit, struct crm_err *err)
{
	int64_t lim = 0;

	crm_h_query_int(ctx, "after_id", 0, CRM_ID_MAX, after_id, err);
	crm_h_query_int(ctx, "limit", 1, CRM_PAGE_MAX, &lim, err);
	*limit = (int32_t)lim;
	return err->code == CRM_E_OK;
}

/* Link: <path?filters&limit=N&after_id=LAST>; rel="next" */
void crm_h_link_next(struct crm_ctx *ctx, const char *path, const struct crm_contact_filter *f, int32_t limit,
	int64_t last)
{
	char q[256] = "";
	size_t n = 0;

#define ADD(fmt, val) n += (size_t)snprintf(q + n, sizeof(q) - n, fmt "&", val)
	if (f != NULL) {
		if (f->source_id)
			ADD("source_id=%" PRId64, f->source_id);
		if (f->operator_id)
			ADD("operator_id=%" PRId64, f->operator_id);
		if (f->lead_id)
			ADD("lead_id=%" PRId64, f->lead_id);
		if (f->status)
			ADD("status=%s", f->status);
		if (f->has_unassigned)
			ADD("unassigned=%s", f->unassigned ? "true" : "false");
	}
#undef ADD
	crm_resp_header(ctx->resp, "Link: <%s?%slimit=%" PRId32 "&after_id=%" PRId64 ">; rel=\"next\"", path, q, limit,
		last);
}
