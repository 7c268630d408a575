/* handlers_metrics.c -- GET /metrics: the Prometheus text of every worker of this master
 *
 * Sums the shared counters (metrics.c) on whichever worker serves the scrape, names the routes
 * by their patterns from the route table, and adds the backlog, read from the database in one
 * statement. When the database does not answer, the backlog gauges are left out and the rest is
 * still served: a scrape is most useful when something is wrong. Scopes: metrics or admin.
 */
#include <stdlib.h>

#include "crm/arena.h"
#include "crm/log.h"
#include "crm/metrics.h"
#include "crm/routes.h"
#include "crm/service.h"
#include "handlers.h"

#ifndef CRM_VERSION
#define CRM_VERSION "unknown"
#endif

void crm_h_metrics(struct crm_ctx *ctx)
{
	const char *patterns[CRM_METRICS_UNMATCHED];
	struct crm_metrics_extra extra = {patterns, 0, CRM_VERSION, false, 0, 0};
	struct crm_metrics_totals *totals = crm_xmalloc(sizeof(*totals)); /* 120 KB: not the arena's */
	struct crm_err err;

	crm_err_init(&err);
	for (size_t i = 0; i < crm_routes.nroutes && i < CRM_METRICS_UNMATCHED; i++)
		patterns[extra.nroutes++] = crm_routes.routes[i].pattern;
	if (crm_service_backlog_gauge(ctx->svc, &extra.backlog_waiting, &extra.backlog_oldest_seconds, &err))
		extra.backlog_known = true;
	else
		crm_log_warn("metrics without the backlog: %s", err.detail);
	crm_metrics_collect(totals);
	ctx->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	crm_metrics_write(&ctx->resp->body, totals, &extra);
	free(totals);
}
