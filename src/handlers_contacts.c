/* handlers_contacts.c -- HTTP handlers of contacts and leads
 *
 * Lists stream: rows are written as PostgreSQL sends them, so a worker's memory does not grow
 * with the table. With ?limit=N a page is buffered instead, because its Link header (rel=next)
 * can only be known once the page is complete.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "crm/domain.h"
#include "crm/service.h"
#include "handlers.h"

void crm_h_write_contact(struct crm_jw *w, const struct crm_contact *c)
{
	crm_jw_obj_begin(w);
	crm_jw_key(w, "id");
	crm_jw_int(w, c->id);
	crm_jw_key(w, "lead_id");
	crm_jw_int(w, c->lead_id);
	crm_jw_key(w, "source_id");
	crm_jw_int(w, c->source_id);
	crm_jw_key(w, "operator_id");
	crm_jw_opt_int(w, c->operator_id != 0, c->operator_id);
	crm_jw_key(w, "status");
	crm_jw_str(w, c->status);
	crm_jw_key(w, "created_at");
	crm_jw_str(w, c->created_at);
	crm_jw_obj_end(w);
}

/* --- query parameters --- */

/* An id-like query parameter: digits only, min..CRM_ID_MAX. Absent leaves *out unchanged. */
static void query_int(struct crm_ctx *ctx, const char *name, int64_t min, int64_t max, int64_t *out,
	struct crm_err *err)
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

static bool query_paging(struct crm_ctx *ctx, int64_t *after_id, int32_t *limit, struct crm_err *err)
{
	int64_t lim = 0;

	query_int(ctx, "after_id", 0, CRM_ID_MAX, after_id, err);
	query_int(ctx, "limit", 1, CRM_PAGE_MAX, &lim, err);
	*limit = (int32_t)lim;
	return err->code == CRM_E_OK;
}

static bool contact_filter(struct crm_ctx *ctx, struct crm_contact_filter *f, struct crm_err *err)
{
	const char *v;

	memset(f, 0, sizeof(*f));
	query_int(ctx, "source_id", 1, CRM_ID_MAX, &f->source_id, err);
	query_int(ctx, "operator_id", 1, CRM_ID_MAX, &f->operator_id, err);
	query_int(ctx, "lead_id", 1, CRM_ID_MAX, &f->lead_id, err);
	if ((v = crm_http_query_get(ctx->arena, ctx->req->query, "status")) != NULL) {
		if (strcmp(v, "active") == 0 || strcmp(v, "closed") == 0)
			f->status = v;
		else
			crm_err_field(err, "status", "must be active or closed");
	}
	if ((v = crm_http_query_get(ctx->arena, ctx->req->query, "unassigned")) != NULL) {
		f->has_unassigned = true;
		if (strcmp(v, "true") == 0)
			f->unassigned = true;
		else if (strcmp(v, "false") != 0)
			crm_err_field(err, "unassigned", "must be true or false");
	}
	return query_paging(ctx, &f->after_id, &f->limit, err);
}

/* Link: <path?filters&limit=N&after_id=LAST>; rel="next" */
static void link_next(struct crm_ctx *ctx, const char *path, const struct crm_contact_filter *f, int32_t limit,
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

/* --- contacts --- */

struct contact_body {
	const char *email;
	int64_t source_id;
};

static const struct crm_jfield contact_create_fields[] = {
	{"email", CRM_JT_STRING, CRM_JF_REQUIRED, 0, 1000, offsetof(struct contact_body, email), CRM_JNOSEEN, NULL},
	/* any integer: an id that names no source is 404, like any unknown source */
	{"source_id", CRM_JT_INT, CRM_JF_REQUIRED, -CRM_ID_MAX, CRM_ID_MAX, offsetof(struct contact_body, source_id),
		CRM_JNOSEEN, NULL},
};
static const struct crm_jschema contact_create_schema = {contact_create_fields, 2, sizeof(struct contact_body)};

void crm_h_contact_create(struct crm_ctx *ctx)
{
	struct contact_body b;
	struct crm_contact c;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init(&err);
	if (!crm_h_decode(ctx, &contact_create_schema, &b))
		return;
	if (!crm_service_contact_create(ctx->svc, ctx->arena, b.email, b.source_id, &c, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_h_created(ctx, "/api/contacts", c.id);
	crm_jw_init(&w, &ctx->resp->body);
	crm_h_write_contact(&w, &c);
}

struct contact_list {
	struct crm_list list;
	int64_t last_id;
};

static bool contact_row(void *p, const struct crm_contact *c)
{
	struct contact_list *cl = p;

	crm_h_write_contact(&cl->list.w, c);
	cl->last_id = c->id;
	return crm_list_row_done(&cl->list);
}

void crm_h_contacts_list(struct crm_ctx *ctx)
{
	struct crm_contact_filter f;
	struct contact_list cl = {0};
	struct crm_err err;
	bool ok;

	crm_err_init(&err);
	if (!contact_filter(ctx, &f, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_list_begin(&cl.list, ctx, f.limit == 0);
	ok = crm_service_contacts_list(ctx->svc, ctx->arena, &f, contact_row, &cl, &err);
	crm_list_end(&cl.list, ok, &err);
	if (ok && f.limit > 0 && cl.list.count == (size_t)f.limit)
		link_next(ctx, "/api/contacts", &f, f.limit, cl.last_id);
}

void crm_h_contact_get(struct crm_ctx *ctx)
{
	struct crm_contact c;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init(&err);
	if (!crm_service_contact_get(ctx->svc, ctx->arena, ctx->req->params[0], &c, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_jw_init(&w, &ctx->resp->body);
	crm_h_write_contact(&w, &c);
}

/* --- leads: rows arrive as (lead, contact) pairs ordered by lead, then contact --- */

struct lead_writer {
	struct crm_list list;
	int64_t current; /* lead whose object is open, 0 if none */
	size_t leads;
};

static bool lead_row(void *p, const struct crm_lead *lead, const struct crm_contact *c)
{
	struct lead_writer *lw = p;
	struct crm_jw *w = &lw->list.w;

	if (lead->id != lw->current) {
		if (lw->current != 0) {
			crm_jw_arr_end(w);
			crm_jw_obj_end(w);
			if (!crm_list_row_done(&lw->list))
				return false;
		}
		lw->current = lead->id;
		lw->leads++;
		crm_jw_obj_begin(w);
		crm_jw_key(w, "id");
		crm_jw_int(w, lead->id);
		crm_jw_key(w, "email");
		crm_jw_str(w, lead->email);
		crm_jw_key(w, "contacts");
		crm_jw_arr_begin(w);
	}
	if (c != NULL)
		crm_h_write_contact(w, c);
	return true;
}

static void lead_close(struct lead_writer *lw)
{
	if (lw->current != 0) {
		crm_jw_arr_end(&lw->list.w);
		crm_jw_obj_end(&lw->list.w);
	}
}

void crm_h_leads_list(struct crm_ctx *ctx)
{
	struct lead_writer lw = {0};
	struct crm_err err;
	int64_t after_id = 0;
	int32_t limit = 0;
	bool ok;

	crm_err_init(&err);
	if (!query_paging(ctx, &after_id, &limit, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_list_begin(&lw.list, ctx, limit == 0);
	ok = crm_service_leads_list(ctx->svc, ctx->arena, after_id, limit, lead_row, &lw, &err);
	if (ok)
		lead_close(&lw);
	crm_list_end(&lw.list, ok, &err);
	if (ok && limit > 0 && lw.leads == (size_t)limit)
		link_next(ctx, "/api/leads", NULL, limit, lw.current);
}

void crm_h_lead_get(struct crm_ctx *ctx)
{
	struct lead_writer lw = {0};
	struct crm_err err;

	crm_err_init(&err);
	lw.list.ctx = ctx;
	lw.list.stream = false;
	crm_jw_init(&lw.list.w, &ctx->resp->body);
	if (!crm_service_lead_get(ctx->svc, ctx->arena, ctx->req->params[0], lead_row, &lw, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	lead_close(&lw);
}
