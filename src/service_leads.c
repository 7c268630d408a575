/* service_leads.c -- use cases of leads: each lead read with its contacts */
#include "crm/service.h"

#include "crm/pg.h"

bool crm_service_lead_get(struct crm_service *s, struct crm_arena *a, int64_t id, crm_lead_contact_fn fn, void *ctx,
	struct crm_err *err)
{
	if (id <= 0) /* no lead has such an id; 0 would mean "all leads" below */
		return crm_err_set(err, CRM_E_NOT_FOUND, "lead not found");
	return crm_pg_leads_list(s->pg, a, id, 0, 0, fn, ctx, err);
}

bool crm_service_leads_list(struct crm_service *s, struct crm_arena *a, int64_t after_id, int32_t limit,
	crm_lead_contact_fn fn, void *ctx, struct crm_err *err)
{
	return crm_pg_leads_list(s->pg, a, 0, after_id, limit, fn, ctx, err);
}
