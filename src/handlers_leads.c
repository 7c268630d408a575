/* handlers_leads.c -- HTTP handlers of /api/leads: each lead with its contacts
 *
 * Rows arrive as (lead, contact) pairs ordered by lead, then contact; a lead's object is closed
 * when the next lead starts.
 *
 * DESIGN (streaming): a lead may have any number of contacts (one email posted a million times
 * is one lead), so both answers stream row by row, a page with ?limit=N and a single lead alike:
 * after every row the buffer is flushed once it passes the threshold, and a worker's memory stays
 * flat. The headers go out with the first flush, so a small answer (and every error before the
 * first flush: 404, 503) is still a plain buffered one. A page's Link header is known from its
 * first row (crm_lead.next_after), before anything is sent. An error after the first flush can
 * no longer change the status: the response is marked failed and the transport aborts the
 * transfer, so the client sees a broken one, never a complete 200 with cut JSON.
 */
#include <stddef.h>

#include "crm/domain.h"
#include "crm/service.h"
#include "handlers.h"

struct lead_writer {
	struct crm_list list;
	int64_t current; /* lead whose object is open, 0 if none */
	size_t leads;
	int32_t limit; /* ?limit=N of a page, 0 if none */
};

static void lead_open(struct lead_writer *lw, const struct crm_lead *lead)
{
	struct crm_jw *w = &lw->list.w;

	if (lw->leads == 0 && lead->next_after != 0)
		crm_h_link_next(lw->list.ctx, "/api/leads", NULL, lw->limit, lead->next_after);
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

static void lead_close(struct lead_writer *lw)
{
	if (lw->current != 0) {
		crm_jw_arr_end(&lw->list.w);
		crm_jw_obj_end(&lw->list.w);
	}
}

static bool lead_row(void *p, const struct crm_lead *lead, const struct crm_contact *c)
{
	struct lead_writer *lw = p;

	if (lead->id != lw->current) {
		lead_close(lw);
		lead_open(lw, lead);
	}
	if (c != NULL)
		crm_h_write_contact(&lw->list.w, c);
	return crm_list_row_done(&lw->list); /* flushes within a lead too */
}

void crm_h_leads_list(struct crm_ctx *ctx)
{
	struct lead_writer lw = {0};
	struct crm_err err;
	int64_t after_id = 0;
	bool ok;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_query_paging(ctx, &after_id, &lw.limit, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_list_begin(&lw.list, ctx, true);
	ok = crm_service_leads_list(ctx->svc, ctx->arena, after_id, lw.limit, lead_row, &lw, &err);
	if (ok)
		lead_close(&lw);
	crm_list_end(&lw.list, ok, &err);
}

void crm_h_lead_get(struct crm_ctx *ctx)
{
	struct lead_writer lw = {0};
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	lw.list.ctx = ctx;
	lw.list.stream = true;
	crm_jw_init(&lw.list.w, &ctx->resp->body);
	if (!crm_service_lead_get(ctx->svc, ctx->arena, ctx->req->params[0], lead_row, &lw, &err)) {
		if (err.code != CRM_E_OK)
			crm_h_fail(ctx, &err);
		else
			ctx->resp->failed = true; /* the client went away */
		return;
	}
	lead_close(&lw);
}
