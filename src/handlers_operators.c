/* handlers_operators.c -- HTTP handlers of /api/operators */
#include <stddef.h>

#include "crm/domain.h"
#include "crm/schema.h"
#include "crm/service.h"
#include "handlers.h"

static void write_operator(struct crm_jw *w, const struct crm_operator *op)
{
	crm_jw_obj_begin(w);
	crm_jw_key(w, "id");
	crm_jw_int(w, op->id);
	crm_jw_key(w, "name");
	crm_jw_str(w, op->name);
	crm_jw_key(w, "is_active");
	crm_jw_bool(w, op->is_active);
	crm_jw_key(w, "max_load_limit");
	crm_jw_int(w, op->max_load_limit);
	crm_jw_key(w, "active_contacts");
	crm_jw_int(w, op->active_contacts);
	crm_jw_obj_end(w);
}

static void answer_operator(struct crm_ctx *ctx, const struct crm_operator *op)
{
	struct crm_jw w;

	crm_jw_init(&w, &ctx->resp->body);
	write_operator(&w, op);
}

static void operator_create(struct crm_ctx *ctx)
{
	struct crm_operator_body b;
	struct crm_operator op;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_decode(ctx, &crm_schema_operator_create, &b))
		return;
	if (!crm_service_operator_create(ctx->svc, ctx->arena, b.name, b.has_is_active ? b.is_active : true,
		    (int32_t)b.max_load_limit, &op, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_h_created(ctx, "/api/operators", op.id);
	answer_operator(ctx, &op);
}

void crm_h_operator_create(struct crm_ctx *ctx)
{
	crm_h_idempotent(ctx, "POST /api/operators", operator_create);
}

static bool operator_row(void *p, const struct crm_operator *op)
{
	struct crm_list *l = p;

	write_operator(&l->w, op);
	return crm_list_row_done(l);
}

void crm_h_operators_list(struct crm_ctx *ctx)
{
	struct crm_list l;
	struct crm_err err;
	bool ok;

	crm_err_init_arena(&err, ctx->arena);
	crm_list_begin(&l, ctx, true);
	ok = crm_service_operators_list(ctx->svc, ctx->arena, operator_row, &l, &err);
	crm_list_end(&l, ok, &err);
}

void crm_h_operator_get(struct crm_ctx *ctx)
{
	struct crm_operator op;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_operator_get(ctx->svc, ctx->arena, ctx->req->params[0], &op, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	answer_operator(ctx, &op);
}

void crm_h_operator_update(struct crm_ctx *ctx)
{
	struct crm_operator_patch patch;
	struct crm_operator_body b;
	struct crm_operator op;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_decode(ctx, &crm_schema_operator_patch, &b))
		return;
	patch.has_name = b.has_name;
	patch.has_is_active = b.has_is_active;
	patch.has_max_load_limit = b.has_max_load_limit;
	patch.name = b.name;
	patch.is_active = b.is_active;
	patch.max_load_limit = (int32_t)b.max_load_limit;
	if (!crm_service_operator_update(ctx->svc, ctx->arena, ctx->req->params[0], &patch, &op, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	answer_operator(ctx, &op);
}
