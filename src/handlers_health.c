/* handlers_health.c -- GET /healthz and GET /readyz, public and cheap (README "Health")
 *
 * healthz: the worker answers; it touches nothing else. readyz: the checks of
 * crm_service_ready (database, schema version, drainer heartbeat): 200 naming each check, or 503
 * problem+json (with Retry-After) whose detail names every check that failed. A failed check is
 * logged at debug only: a load balancer probes every few seconds.
 */
#include <stdio.h>

#include "crm/log.h"
#include "crm/service.h"
#include "handlers.h"

void crm_h_healthz(struct crm_ctx *ctx)
{
	struct crm_jw w;

	crm_jw_init(&w, &ctx->resp->body);
	crm_jw_obj_begin(&w);
	crm_jw_key(&w, "status");
	crm_jw_str(&w, "ok");
	crm_jw_obj_end(&w);
}

/* Appends "; name: problem" (or "name: problem" first) for a failed check. */
static size_t add_problem(char *detail, size_t cap, size_t used, const char *name, const char *problem)
{
	int k;

	if (problem == NULL || used >= cap)
		return used;
	k = snprintf(detail + used, cap - used, "%s%s: %s", used > 0 ? "; " : "", name, problem);
	return k > 0 ? used + (size_t)k : used;
}

void crm_h_readyz(struct crm_ctx *ctx)
{
	struct crm_readiness r;
	struct crm_jw w;
	struct crm_err err;
	char detail[sizeof(err.detail)];
	size_t used = 0;

	if (!crm_service_ready(ctx->svc, ctx->arena, &r)) {
		detail[0] = '\0';
		used = add_problem(detail, sizeof(detail), used, "database", r.database);
		used = add_problem(detail, sizeof(detail), used, "schema", r.schema);
		(void)add_problem(detail, sizeof(detail), used, "drainer", r.drainer);
		crm_err_init_arena(&err, ctx->arena);
		crm_err_set(&err, CRM_E_UNAVAILABLE, "not ready: %s", detail);
		crm_log_debug("%s", err.detail);
		crm_h_fail(ctx, &err);
		return;
	}
	crm_jw_init(&w, &ctx->resp->body);
	crm_jw_obj_begin(&w);
	crm_jw_key(&w, "status");
	crm_jw_str(&w, "ready");
	crm_jw_key(&w, "checks");
	crm_jw_obj_begin(&w);
	crm_jw_key(&w, "database");
	crm_jw_str(&w, "ok");
	crm_jw_key(&w, "schema");
	crm_jw_str(&w, "ok");
	crm_jw_key(&w, "drainer");
	crm_jw_str(&w, "ok");
	crm_jw_obj_end(&w);
	crm_jw_obj_end(&w);
}
