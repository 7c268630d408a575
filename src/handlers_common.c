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
