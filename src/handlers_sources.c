/* handlers_sources.c -- HTTP handlers of /api/sources: sources, their operators, their stats */
#include <stddef.h>

#include "crm/domain.h"
#include "crm/schema.h"
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
	crm_jw_key(w, "accept_timeout_seconds");
	crm_jw_opt_int(w, src->accept_timeout_seconds != 0, src->accept_timeout_seconds);
	crm_jw_key(w, "mode");
	crm_jw_str(w, src->mode);
	crm_jw_key(w, "sticky_window_seconds");
	crm_jw_opt_int(w, src->sticky_window_seconds != 0, src->sticky_window_seconds);
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

static void source_create(struct crm_ctx *ctx)
{
	struct crm_source_body b;
	struct crm_source src;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_decode(ctx, &crm_schema_source_create, &b))
		return;
	if (!crm_service_source_create(ctx->svc, ctx->arena, b.name, b.description, &src, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_h_created(ctx, "/api/sources", src.id);
	answer_source(ctx, &src);
}

void crm_h_source_create(struct crm_ctx *ctx)
{
	crm_h_idempotent(ctx, "POST /api/sources", source_create);
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

	crm_err_init_arena(&err, ctx->arena);
	crm_list_begin(&l, ctx, true);
	ok = crm_service_sources_list(ctx->svc, ctx->arena, source_row, &l, &err);
	crm_list_end(&l, ok, &err);
}

void crm_h_source_get(struct crm_ctx *ctx)
{
	struct crm_source src;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_source_get(ctx->svc, ctx->arena, ctx->req->params[0], &src, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	answer_source(ctx, &src);
}

void crm_h_source_update(struct crm_ctx *ctx)
{
	struct crm_source_patch_body b;
	struct crm_source_patch patch;
	struct crm_source src;
	struct crm_err err;
	bool decoded;

	crm_err_init_arena(&err, ctx->arena);
	decoded = crm_json_decode(ctx->req->body, ctx->req->body_len, &crm_schema_source_patch, &b, ctx->arena, &err);
	/* an unknown mode is reported with the other fields' errors (a string the decoder took) */
	if ((decoded || err.code == CRM_E_INVALID) && b.has_mode && b.mode != NULL && !crm_source_mode_valid(b.mode))
		crm_err_field(&err, "mode", CRM_SOURCE_MODE_RULE);
	if (err.code != CRM_E_OK) {
		crm_h_fail(ctx, &err);
		return;
	}
	patch.has_name = b.has_name;
	patch.has_description = b.has_description;
	patch.has_accept_timeout = b.has_accept_timeout;
	patch.name = b.name;
	patch.description = b.description;
	patch.accept_timeout_seconds = (int32_t)b.accept_timeout_seconds;
	patch.has_mode = b.has_mode;
	patch.mode = b.mode;
	patch.has_sticky_window = b.has_sticky_window;
	patch.sticky_window_seconds = (int32_t)b.sticky_window_seconds;
	if (!crm_service_source_update(ctx->svc, ctx->arena, ctx->req->params[0], &patch, &src, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	answer_source(ctx, &src);
}

static void source_operators_set(struct crm_ctx *ctx)
{
	struct crm_source_operator *items, *out;
	const struct crm_source_operator_item *in;
	struct crm_source_operators_body b;
	struct crm_err err;
	struct crm_jw w;
	size_t nout;
	bool decoded;

	crm_err_init_arena(&err, ctx->arena);
	decoded =
		crm_json_decode(ctx->req->body, ctx->req->body_len, &crm_schema_source_operators, &b, ctx->arena, &err);
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

void crm_h_source_operators_set(struct crm_ctx *ctx)
{
	crm_h_idempotent(ctx, "POST /api/sources/{id}/operators", source_operators_set);
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

	crm_err_init_arena(&err, ctx->arena);
	crm_list_begin(&l, ctx, true);
	ok = crm_service_source_operators_list(ctx->svc, ctx->arena, ctx->req->params[0], source_operator_row, &l,
		&err);
	crm_list_end(&l, ok, &err);
}

static void write_simulation(struct crm_jw *w, const struct crm_simulation *sim)
{
	crm_jw_obj_begin(w);
	crm_jw_key(w, "source_id");
	crm_jw_int(w, sim->source_id);
	crm_jw_key(w, "contacts");
	crm_jw_int(w, sim->contacts);
	crm_jw_key(w, "mode");
	crm_jw_str(w, crm_sim_mode_name(sim->mode));
	crm_jw_key(w, "preview");
	crm_jw_bool(w, sim->preview);
	crm_jw_key(w, "waiting_before");
	crm_jw_int(w, sim->waiting);
	crm_jw_key(w, "free_slots");
	crm_jw_int(w, sim->result.free_slots);
	crm_jw_key(w, "method");
	crm_jw_str(w, crm_sim_method_name(sim->result.method));
	crm_jw_key(w, "runs");
	crm_jw_int(w, sim->result.runs);
	crm_jw_key(w, "expected_waiting");
	crm_jw_double_digits(w, sim->result.expected_waiting, 6);
	crm_jw_key(w, "operators");
	crm_jw_arr_begin(w);
	for (size_t i = 0; i < sim->nops; i++) {
		const struct crm_sim_operator *op = &sim->ops[i];

		crm_jw_obj_begin(w);
		crm_jw_key(w, "operator_id");
		crm_jw_int(w, op->operator_id);
		crm_jw_key(w, "weight");
		crm_jw_int(w, op->weight);
		crm_jw_key(w, "active_contacts");
		crm_jw_int(w, op->load);
		crm_jw_key(w, "max_load_limit");
		crm_jw_int(w, op->limit);
		crm_jw_key(w, "eligible");
		crm_jw_bool(w, op->eligible_now);
		crm_jw_key(w, "expected_contacts");
		crm_jw_double_digits(w, op->expected, 6);
		crm_jw_key(w, "share");
		crm_jw_double_digits(w, op->share, 6);
		crm_jw_key(w, "std_error");
		crm_jw_double_digits(w, op->std_error, 6);
		crm_jw_obj_end(w);
	}
	crm_jw_arr_end(w);
	crm_jw_obj_end(w);
}

/* The preview's items as the service's struct (an arena array of n + 1, never NULL). */
static struct crm_source_operator *preview_items(struct crm_ctx *ctx, const struct crm_source_simulate_body *b)
{
	const struct crm_source_operator_item *in = b->operators.items;
	struct crm_source_operator *items = crm_arena_calloc(ctx->arena, b->operators.n + 1, sizeof(*items));

	for (size_t i = 0; i < b->operators.n; i++) {
		items[i].source_id = ctx->req->params[0];
		items[i].operator_id = in[i].operator_id;
		items[i].weight = (int32_t)in[i].weight;
	}
	return items;
}

/* Writes nothing, so it is not idempotent-keyed (an Idempotency-Key header is ignored, as for
 * POST /api/keys): storing an answer would be the one write. */
void crm_h_source_simulate(struct crm_ctx *ctx)
{
	struct crm_source_simulate_body b;
	struct crm_source_operator *items = NULL;
	struct crm_simulation sim;
	struct crm_err err;
	struct crm_jw w;
	bool decoded;

	crm_err_init_arena(&err, ctx->arena);
	decoded =
		crm_json_decode(ctx->req->body, ctx->req->body_len, &crm_schema_source_simulate, &b, ctx->arena, &err);
	if (b.has_operators && b.operators.items != NULL)
		items = preview_items(ctx, &b);
	if (!decoded) {
		/* unknown and repeated operators of the preview together with the shape errors */
		if (err.code == CRM_E_INVALID && items != NULL)
			crm_service_source_operators_report(ctx->svc, items, b.operators.n, &err);
		crm_h_fail(ctx, &err);
		return;
	}
	if (!crm_service_source_simulate(ctx->svc, ctx->arena, ctx->req->params[0], b.contacts, items, b.operators.n,
		    &sim, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_jw_init(&w, &ctx->resp->body);
	write_simulation(&w, &sim);
}

void crm_h_source_stats(struct crm_ctx *ctx)
{
	struct crm_source_stats st;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init_arena(&err, ctx->arena);
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
	crm_jw_key(&w, "mode");
	crm_jw_str(&w, st.mode);
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
		crm_jw_key(&w, "on_shift");
		crm_jw_bool(&w, os->on_shift);
		crm_jw_obj_end(&w);
	}
	crm_jw_arr_end(&w);
	crm_jw_obj_end(&w);
}
