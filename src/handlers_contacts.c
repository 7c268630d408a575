/* handlers_contacts.c -- HTTP handlers of /api/contacts: arrival, reads, the lifecycle (PATCH)
 * and the assignment history; and the contact object that lead answers reuse
 */
#include <stddef.h>
#include <string.h>

#include "crm/domain.h"
#include "crm/schema.h"
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
	crm_jw_key(w, "accepted_at");
	crm_jw_str(w, c->accepted_at);
	crm_jw_obj_end(w);
}

/* --- query parameters --- */

static bool contact_filter(struct crm_ctx *ctx, struct crm_contact_filter *f, struct crm_err *err)
{
	const char *v;

	memset(f, 0, sizeof(*f));
	crm_h_query_int(ctx, "source_id", 1, CRM_ID_MAX, &f->source_id, err);
	crm_h_query_int(ctx, "operator_id", 1, CRM_ID_MAX, &f->operator_id, err);
	crm_h_query_int(ctx, "lead_id", 1, CRM_ID_MAX, &f->lead_id, err);
	if ((v = crm_http_query_get(ctx->arena, ctx->req->query, "status")) != NULL) {
		if (crm_contact_status_valid(v))
			f->status = v;
		else
			crm_err_field(err, "status", CRM_CONTACT_STATUS_RULE);
	}
	if ((v = crm_http_query_get(ctx->arena, ctx->req->query, "unassigned")) != NULL) {
		f->has_unassigned = true;
		if (strcmp(v, "true") == 0)
			f->unassigned = true;
		else if (strcmp(v, "false") != 0)
			crm_err_field(err, "unassigned", "must be true or false");
	}
	return crm_h_query_paging(ctx, &f->after_id, &f->limit, err);
}

/* --- contacts --- */

static void contact_create(struct crm_ctx *ctx)
{
	struct crm_contact_body b;
	struct crm_contact c;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_decode(ctx, &crm_schema_contact_create, &b))
		return;
	if (ctx->req->principal != NULL && !crm_principal_may_use_source(ctx->req->principal, b.source_id)) {
		crm_err_set(&err, CRM_E_FORBIDDEN, "this API key may post contacts only for its own sources");
		crm_h_fail(ctx, &err);
		return;
	}
	if (!crm_service_contact_create(ctx->svc, ctx->arena, b.email, b.source_id, &c, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_h_created(ctx, "/api/contacts", c.id);
	crm_jw_init(&w, &ctx->resp->body);
	crm_h_write_contact(&w, &c);
}

/* A body the one-statement path can take: valid, for a source this API key may post to, with
 * a valid email (normalised into *email). Checked quietly: anything else goes the general way,
 * which answers it exactly as before (a refusal after the key's claim, so a mismatch is 422). */
static bool contact_keyed_body(struct crm_ctx *ctx, struct crm_contact_body *b, const char **email)
{
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_json_decode(ctx->req->body, ctx->req->body_len, &crm_schema_contact_create, b, ctx->arena, &err))
		return false;
	if (ctx->req->principal != NULL && !crm_principal_may_use_source(ctx->req->principal, b->source_id))
		return false;
	return crm_service_contact_email(ctx->arena, b->email, email, &err);
}

/* With an Idempotency-Key the claim and the intake, whose contact keeps the key, are one
 * statement (one round trip, like a POST without a key); see crm_idem_intake in
 * sql/functions/70_idempotency.sql. */
void crm_h_contact_create(struct crm_ctx *ctx)
{
	static const char route[] = "POST /api/contacts";
	struct crm_idem_request rq;
	struct crm_contact_body b;
	enum crm_idem_outcome outcome;
	struct crm_idem_response answer;
	const char *email = NULL;
	struct crm_err err;

	if (!crm_h_idem_keyed(ctx, route, &rq) || !contact_keyed_body(ctx, &b, &email)) {
		crm_h_idempotent(ctx, route, contact_create);
		return;
	}
	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_idem_contact_create(ctx->svc, ctx->arena, &rq, email, b.source_id, &outcome, &answer, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_h_idem_answer(ctx, outcome, &answer);
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

	crm_err_init_arena(&err, ctx->arena);
	if (!contact_filter(ctx, &f, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_list_begin(&cl.list, ctx, f.limit == 0);
	ok = crm_service_contacts_list(ctx->svc, ctx->arena, &f, contact_row, &cl, &err);
	crm_list_end(&cl.list, ok, &err);
	if (ok && f.limit > 0 && cl.list.count == (size_t)f.limit)
		crm_h_link_next(ctx, "/api/contacts", &f, f.limit, cl.last_id);
}

void crm_h_contact_get(struct crm_ctx *ctx)
{
	struct crm_contact c;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_contact_get(ctx->svc, ctx->arena, ctx->req->params[0], &c, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_jw_init(&w, &ctx->resp->body);
	crm_h_write_contact(&w, &c);
}

/* --- the lifecycle --- */

void crm_h_contact_update(struct crm_ctx *ctx)
{
	struct crm_contact_patch_body b;
	struct crm_contact_patch patch;
	struct crm_contact c;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_json_decode(ctx->req->body, ctx->req->body_len, &crm_schema_contact_patch, &b, ctx->arena, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	if (b.has_status && !crm_contact_status_valid(b.status))
		crm_err_field(&err, "status", CRM_CONTACT_STATUS_RULE);
	/* an acceptance is alone, or with the operator expected to hold the contact */
	if (b.has_accepted && !b.accepted)
		crm_err_field(&err, "accepted", "must be true (an acceptance cannot be withdrawn)");
	if (b.has_accepted && b.has_status)
		crm_err_field(&err, "status", "cannot be combined with accepted");
	if (b.has_accepted && b.has_operator && b.operator_id == 0)
		crm_err_field(&err, "operator_id",
			"with accepted: the operator expected to hold the contact, not null");
	if (err.code != CRM_E_OK) {
		crm_h_fail(ctx, &err);
		return;
	}
	patch.accepted = b.has_accepted;
	patch.has_status = b.has_status;
	patch.status = b.status;
	patch.has_operator = b.has_operator;
	patch.operator_id = b.operator_id;
	if (!crm_service_contact_update(ctx->svc, ctx->arena, ctx->req->params[0], &patch, &c, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_jw_init(&w, &ctx->resp->body);
	crm_h_write_contact(&w, &c);
}

static bool assignment_row(void *p, const struct crm_assignment *as)
{
	struct crm_list *l = p;
	struct crm_jw *w = &l->w;

	crm_jw_obj_begin(w);
	crm_jw_key(w, "id");
	crm_jw_int(w, as->id);
	crm_jw_key(w, "contact_id");
	crm_jw_int(w, as->contact_id);
	crm_jw_key(w, "operator_id");
	crm_jw_opt_int(w, as->operator_id != 0, as->operator_id);
	crm_jw_key(w, "reason");
	crm_jw_str(w, as->reason);
	crm_jw_key(w, "note");
	crm_jw_str(w, as->note);
	crm_jw_key(w, "load_before");
	crm_jw_opt_int(w, as->has_load, as->load_before);
	crm_jw_key(w, "max_load_limit");
	crm_jw_opt_int(w, as->has_load, as->load_limit);
	crm_jw_key(w, "config_version");
	crm_jw_opt_int(w, as->has_version, as->config_version);
	crm_jw_key(w, "candidates");
	crm_jw_raw(w, as->candidates);
	crm_jw_key(w, "created_at");
	crm_jw_str(w, as->created_at);
	crm_jw_key(w, "sticky_contact_id");
	crm_jw_opt_int(w, as->sticky_contact_id != 0, as->sticky_contact_id);
	crm_jw_obj_end(w);
	return crm_list_row_done(l);
}

void crm_h_assignments_list(struct crm_ctx *ctx)
{
	struct crm_list l;
	struct crm_err err;
	bool ok;

	crm_err_init_arena(&err, ctx->arena);
	crm_list_begin(&l, ctx, true);
	ok = crm_service_assignments_list(ctx->svc, ctx->arena, ctx->req->params[0], assignment_row, &l, &err);
	crm_list_end(&l, ok, &err);
}
