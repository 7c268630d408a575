/* handlers_leads.c -- HTTP handlers of /api/leads: each lead with its contacts
 *
 * Rows arrive as (lead, contact) pairs ordered by lead, then contact; a lead's object is closed
 * when the next lead starts.
 */
#include <stddef.h>

#include "crm/domain.h"
#include "crm/service.h"
#include "handlers.h"

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

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_query_paging(ctx, &after_id, &limit, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_list_begin(&lw.list, ctx, limit == 0);
	ok = crm_service_leads_list(ctx->svc, ctx->arena, after_id, limit, lead_row, &lw, &err);
	if (ok)
		lead_close(&lw);
	crm_list_end(&lw.list, ok, &err);
	if (ok && limit > 0 && lw.leads == (size_t)limit)
		crm_h_link_next(ctx, "/api/leads", NULL, limit, lw.current);
}

void crm_h_lead_get(struct crm_ctx *ctx)
{
	struct lead_writer lw = {0};
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	lw.list.ctx = ctx;
	lw.list.stream = false;
	crm_jw_init(&lw.list.w, &ctx->resp->body);
	if (!crm_service_lead_get(ctx->svc, ctx->arena, ctx->req->params[0], lead_row, &lw, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	lead_close(&lw);
}
