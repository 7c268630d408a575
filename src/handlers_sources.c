/* handlers_sources.c -- HTTP handlers of /api/sources: sources, their operators, their stats */
#include <stddef.h>

#include "crm/domain.h"
#include "crm/service.h"
#include "handlers.h"

static void write_source(struct crm_jw *w, const struct crm_source *src)
{
	crm_jw_obj_begin(w);
	crm_jw_key(w, "id");
	crm_jw_int(w, src->id);
	crm_jw_key(w, "name");
	crm_jw_str(w, src->name);
	crm_jw_key(w, "description");
	crm_jw_str(w, src->description);
	crm_jw_obj_end(w);
}

static void write_source_operator(struct crm_jw *w, const struct crm_source_operator *so)
{
	crm_jw_obj_begin(w);
	crm_jw_key(w, "id");
	crm_jw_int(w, so->id);
	crm_jw_key(w, "operator_id");
	crm_jw_int(w, so->operator_id);
	crm_jw_key(w, "source_id");
	crm_jw_int(w, so->source_id);
	crm_jw_key(w, "weight");
	crm_jw_int(w, so->weight);
	crm_jw_obj_end(w);
}

static void answer_source(struct crm_ctx *ctx, const struct crm_source *src)
{
	struct crm_jw w;

	crm_jw_init(&w, &ctx->resp->body);
	write_source(&w, src);
}

struct source_body {
	const char *name;
	const char *description;
};

static const struct crm_jfield source_create_fields[] = {
	{"name", CRM_JT_STRING, CRM_JF_REQUIRED | CRM_JF_TRIM, 1, CRM_NAME_MAX, offsetof(struct source_body, name),
		CRM_JNOSEEN, NULL},
	{"description", CRM_JT_STRING, CRM_JF_NULLABLE, 0, CRM_DESCRIPTION_MAX,
		offsetof(struct source_body, description), CRM_JNOSEEN, NULL},
};
static const struct crm_jschema source_create_schema = {source_create_fields, 2, sizeof(struct source_body)};

void crm_h_source_create(struct crm_ctx *ctx)
{
	struct source_body b;
	struct crm_source src;
	struct crm_err err;

	crm_err_init(&err);
	if (!crm_h_decode(ctx, &source_create_schema, &b))
		return;
	if (!crm_service_source_create(ctx->svc, ctx->arena, b.name, b.description, &src, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_h_created(ctx, "/api/sources", src.id);
	answer_source(ctx, &src);
}

static bool source_row(void *p, const struct crm_source *src)
{
	struct crm_list *l = p;

	write_source(&l->w, src);
	return crm_list_row_done(l);
}

void crm_h_sources_list(struct crm_ctx *ctx)
{
	struct crm_list l;
	struct crm_err err;
	bool ok;

	crm_err_init(&err);
	crm_list_begin(&l, ctx, true);
	ok = crm_service_sources_list(ctx->svc, ctx->arena, source_row, &l, &err);
	crm_list_end(&l, ok, &err);
}

void crm_h_source_get(struct crm_ctx *ctx)
{
	struct crm_source src;
	struct crm_err err;

	crm_err_init(&err);
	if (!crm_service_source_get(ctx->svc, ctx->arena, ctx->req->params[0], &src, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	answer_source(ctx, &src);
}

struct so_item {
	int64_t operator_id;
	int64_t weight;
};

struct so_body {
	struct crm_jarray operators;
};

static const struct crm_jfield so_item_fields[] = {
	{"operator_id", CRM_JT_INT, CRM_JF_REQUIRED, 1, CRM_ID_MAX, offsetof(struct so_item, operator_id),
		CRM_JNOSEEN, NULL},
	{"weight", CRM_JT_INT, CRM_JF_REQUIRED, 1, CRM_WEIGHT_MAX, offsetof(struct so_item, weight), CRM_JNOSEEN,
		NULL},
};
static const struct crm_jschema so_item_schema = {so_item_fields, 2, sizeof(struct so_item)};

static const struct crm_jfield so_body_fields[] = {
	{"operators", CRM_JT_ARRAY, CRM_JF_REQUIRED, 0, CRM_SOURCE_OPERATORS_MAX, offsetof(struct so_body, operators),
		CRM_JNOSEEN, &so_item_schema},
};
static const struct crm_jschema so_body_schema = {so_body_fields, 1, sizeof(struct so_body)};

void crm_h_source_operators_set(struct crm_ctx *ctx)
{
	struct crm_source_operator *items, *out;
	const struct so_item *in;
	struct so_body b;
	struct crm_err err;
	struct crm_jw w;
	size_t nout;
	bool decoded;

	crm_err_init(&err);
	decoded = crm_json_decode(ctx->req->body, ctx->req->body_len, &so_body_schema, &b, ctx->arena, &err);
	if (!decoded && b.operators.items == NULL) {
		crm_h_fail(ctx, &err);
		return;
	}
	in = b.operators.items;
	items = crm_arena_calloc(ctx->arena, b.operators.n + 1, sizeof(*items));
	for (size_t i = 0; i < b.operators.n; i++) {
		items[i].source_id = ctx->req->params[0];
		items[i].operator_id = in[i].operator_id;
		items[i].weight = (int32_t)in[i].weight;
	}
	if (!decoded) {
		/* report unknown and repeated operators together with the shape errors */
		if (err.code == CRM_E_INVALID)
			crm_service_source_operators_report(ctx->svc, items, b.operators.n, &err);
		crm_h_fail(ctx, &err);
		return;
	}
	if (!crm_service_source_operators_set(ctx->svc, ctx->arena, ctx->req->params[0], items, b.operators.n, &out,
		&nout, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_jw_init(&w, &ctx->resp->body);
	crm_jw_arr_begin(&w);
	for (size_t i = 0; i < nout; i++)
		write_source_operator(&w, &out[i]);
	crm_jw_arr_end(&w);
}

static bool source_operator_row(void *p, const struct crm_source_operator *so)
{
	struct crm_list *l = p;

	write_source_operator(&l->w, so);
	return crm_list_row_done(l);
}

void crm_h_source_operators_list(struct crm_ctx *ctx)
{
	struct crm_list l;
	struct crm_err err;
	bool ok;

	crm_err_init(&err);
	crm_list_begin(&l, ctx, true);
	ok = crm_service_source_operators_list(ctx->svc, ctx->arena, ctx->req->params[0], source_operator_row, &l,
		&err);
	crm_list_end(&l, ok, &err);
}

void crm_h_source_stats(struct crm_ctx *ctx)
{
	struct crm_source_stats st;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init(&err);
	if (!crm_service_source_stats(ctx->svc, ctx->arena, ctx->req->params[0], &st, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
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
		crm_jw_double(&w, os->configured_share);
		crm_jw_key(&w, "assigned");
		crm_jw_int(&w, os->assigned);
		crm_jw_key(&w, "actual_share");
		crm_jw_double(&w, os->actual_share);
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
