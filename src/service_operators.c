/* service_operators.c -- use cases of operators */
#include "crm/service.h"

#include "crm/pg.h"

bool crm_service_operator_create(struct crm_service *s, struct crm_arena *a, const char *name, bool is_active,
	int32_t max_load_limit, const char *schedule, struct crm_operator *out, struct crm_err *err)
{
	return crm_pg_operator_create(s->pg, a, name, is_active, max_load_limit, schedule, out, err);
}

bool crm_service_operator_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_operator *out,
	struct crm_err *err)
{
	return crm_pg_operator_get(s->pg, a, id, out, err);
}

bool crm_service_operator_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_operator_patch *patch, struct crm_operator *out, struct crm_err *err)
{
	if (!patch->has_name && !patch->has_is_active && !patch->has_max_load_limit && !patch->has_schedule)
		return crm_err_field(err, "body",
			"must contain at least one of name, is_active, max_load_limit, schedule");
	return crm_pg_operator_update(s->pg, a, id, patch, out, err);
}

bool crm_service_operators_list(struct crm_service *s, struct crm_arena *a, crm_operator_fn fn, void *ctx,
	struct crm_err *err)
{
	return crm_pg_operators_list(s->pg, a, fn, ctx, err);
}
