/* handlers_lifecycle.c -- HTTP handlers of the contact lifecycle, assignment history and stats */
#include <stddef.h>
#include <string.h>

#include "crm/domain.h"
#include "crm/service.h"
#include "handlers.h"

struct contact_patch_body {
	const char *status;
	int64_t operator_id;
	bool has_status, has_operator;
};

static const struct crm_jfield contact_patch_fields[] = {
	{"status", CRM_JT_STRING, 0, 0, 16, offsetof(struct contact_patch_body, status),
		offsetof(struct contact_patch_body, has_status), NULL},
	/* null returns the contact to the queue; it decodes as 0, which no operator has */
	{"operator_id", CRM_JT_INT, CRM_JF_NULLABLE, 1, CRM_ID_MAX, offsetof(struct contact_patch_body, operator_id),
		offsetof(struct contact_patch_body, has_operator), NULL},
};
static const struct crm_jschema contact_patch_schema = {contact_patch_fields, 2, sizeof(struct contact_patch_body)};

void crm_h_contact_update(struct crm_ctx *ctx)
{
	struct contact_patch_body b;
	struct crm_contact_patch patch;
	struct crm_contact c;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init(&err);
	if (!crm_json_decode(ctx->req->body, ctx->req->body_len, &contact_patch_schema, &b, ctx->arena, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	if (b.has_status && (b.status == NULL || (strcmp(b.status, "active") != 0 && strcmp(b.status, "closed") != 0))) {
		crm_err_field(&err, "status", "must be active or closed");
		crm_h_fail(ctx, &err);
		return;
	}
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
	crm_jw_key(w, "candidates");
	crm_jw_raw(w, as->candidates);
	crm_jw_key(w, "created_at");
	crm_jw_str(w, as->created_at);
	crm_jw_obj_end(w);
	return crm_list_row_done(l);
}

void crm_h_assignments_list(struct crm_ctx *ctx)
{
	struct crm_list l;
	struct crm_err err;
	bool ok;

	crm_err_init(&err);
	crm_list_begin(&l, ctx, true);
	ok = crm_service_assignments_list(ctx->svc, ctx->arena, ctx->req->params[0], assignment_row, &l, &err);
	crm_list_end(&l, ok, &err);
}

void crm_h_source_stats(struct crm_ctx *ctx)
{
	struct crm_source_stats st;
	struct crm_err err;
	struct crm_jw w;
	int64_t total_weight = 0;

	crm_err_init(&err);
	if (!crm_service_source_stats(ctx->svc, ctx->arena, ctx->req->params[0], &st, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	for (size_t i = 0; i < st.noperators; i++)
		total_weight += st.operators[i].weight;
	crm_jw_init(&w, &ctx->resp->body);
	crm_jw_obj_begin(&w);
	crm_jw_key(&w, "source_id");
	crm_jw_int(&w, st.source_id);
	crm_jw_key(&w, "waiting");
	crm_jw_int(&w, st.waiting);
	crm_jw_key(&w, "assigned_total");
	crm_jw_int(&w, st.assigned_total);
	crm_jw_key(&w, "operators");
	crm_jw_arr_begin(&w);
	for (size_t i = 0; i < st.noperators; i++) {
		const struct crm_operator_stats *os = &st.operators[i];

		crm_jw_obj_begin(&w);
		crm_jw_key(&w, "operator_id");
		crm_jw_int(&w, os->operator_id);
		crm_jw_key(&w, "name");
		crm_jw_str(&w, os->name);
		crm_jw_key(&w, "weight");
		crm_jw_int(&w, os->weight);
		crm_jw_key(&w, "configured_share");
		crm_jw_double(&w, total_weight ? (double)os->weight / (double)total_weight : 0.0);
		crm_jw_key(&w, "assigned");
		crm_jw_int(&w, os->assigned);
		crm_jw_key(&w, "actual_share");
		crm_jw_double(&w, st.assigned_total ? (double)os->assigned / (double)st.assigned_total : 0.0);
		crm_jw_key(&w, "active_contacts");
		crm_jw_int(&w, os->active_contacts);
		crm_jw_key(&w, "max_load_limit");
		crm_jw_int(&w, os->max_load_limit);
		crm_jw_key(&w, "is_active");
		crm_jw_bool(&w, os->is_active);
		crm_jw_obj_end(&w);
	}
	crm_jw_arr_end(&w);
	crm_jw_obj_end(&w);
}
