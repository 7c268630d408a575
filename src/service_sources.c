/* service_sources.c -- use cases of sources: the source, its operators and its stats */
#include "crm/service.h"

#include <inttypes.h>
#include <stdio.h>

#include "crm/pg.h"

bool crm_service_source_create(struct crm_service *s, struct crm_arena *a, const char *name, const char *description,
	struct crm_source *out, struct crm_err *err)
{
	return crm_pg_source_create(s->pg, a, name, description, out, err);
}

bool crm_service_source_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_source_patch *patch, struct crm_source *out, struct crm_err *err)
{
	if (!patch->has_name && !patch->has_description && !patch->has_accept_timeout && !patch->has_mode &&
		!patch->has_sticky_window)
		return crm_err_field(err, "body",
			"must contain name, description, accept_timeout_seconds, mode or sticky_window_seconds");
	return crm_pg_source_update(s->pg, a, id, patch, out, err);
}

bool crm_service_source_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_source *out,
	struct crm_err *err)
{
	return crm_pg_source_get(s->pg, a, id, out, err);
}

bool crm_service_sources_list(struct crm_service *s, struct crm_arena *a, crm_source_fn fn, void *ctx,
	struct crm_err *err)
{
	return crm_pg_sources_list(s->pg, a, fn, ctx, err);
}

/* Operators listed twice, each added to err as a field error when err is not NULL (quadratic:
 * the list is bounded by the schema). True when there are none. */
static bool check_unique(const struct crm_source_operator *items, size_t n, struct crm_err *err)
{
	bool ok = true;

	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (items[i].operator_id == items[j].operator_id) {
				char field[64];

				ok = false;
				if (err == NULL)
					return false;
				snprintf(field, sizeof(field), "operators[%zu].operator_id", i);
				crm_err_field(err, field, "operator %" PRId64 " is listed more than once",
					items[i].operator_id);
				break;
			}
		}
	}
	return ok;
}

bool crm_service_source_operators_set(struct crm_service *s, struct crm_arena *a, int64_t source_id,
	const struct crm_source_operator *items, size_t n, struct crm_source_operator **out, size_t *nout,
	struct crm_err *err)
{
	if (!check_unique(items, n, NULL)) {
		crm_service_source_operators_report(s, items, n, err);
		return false;
	}
	/* unknown operators are found inside the transaction that replaces the configuration */
	for (int attempt = 1;; attempt++) {
		if (crm_pg_source_operators_set(s->pg, a, source_id, items, n, out, nout, err))
			return true;
		if (!crm_service_retry(err, attempt))
			return false;
	}
}

void crm_service_source_operators_report(struct crm_service *s, const struct crm_source_operator *items, size_t n,
	struct crm_err *err)
{
	(void)check_unique(items, n, err);
	if (n == 0 || crm_pg_operators_check(s->pg, items, n, err))
		return;
	/* unknown operators (or the database error of the check) are in err now */
}

bool crm_service_source_operators_list(struct crm_service *s, struct crm_arena *a, int64_t source_id,
	crm_source_operator_fn fn, void *ctx, struct crm_err *err)
{
	struct crm_source src;

	if (!crm_pg_source_get(s->pg, a, source_id, &src, err))
		return false;
	return crm_pg_source_operators_list(s->pg, a, source_id, fn, ctx, err);
}

bool crm_service_source_stats(struct crm_service *s, struct crm_arena *a, int64_t source_id,
	struct crm_source_stats *out, struct crm_err *err)
{
	if (!crm_pg_source_stats(s->pg, a, source_id, out, err))
		return false;
	crm_source_stats_shares(out);
	return true;
}

bool crm_service_source_simulate(struct crm_service *s, struct crm_arena *a, int64_t source_id, int64_t contacts,
	const struct crm_source_operator *preview, size_t npreview, struct crm_simulation *out, struct crm_err *err)
{
	struct crm_sim_params p = {.mode = CRM_SIM_WEIGHTED_RANDOM, .contacts = contacts};
	const char *mode = NULL;

	if (preview != NULL && !check_unique(preview, npreview, NULL)) {
		crm_service_source_operators_report(s, preview, npreview, err);
		return false;
	}
	*out = (struct crm_simulation){.source_id = source_id, .contacts = contacts, .preview = preview != NULL};
	if (!crm_pg_simulate_read(s->pg, a, source_id, preview, npreview, &out->ops, &out->nops, &out->waiting, &mode,
		    err))
		return false;
	/* the source's rule, also for a preview of other weights; an unknown name cannot be stored */
	if (!crm_sim_mode_parse(mode, &p.mode))
		return crm_err_set(err, CRM_E_INTERNAL, "unknown source mode");
	out->mode = p.mode;
	p.waiting = out->waiting;
	p.seed = (uint64_t)source_id * 0x9e3779b97f4a7c15ULL ^ (uint64_t)contacts << 20 ^ (uint64_t)out->waiting;
	crm_simulate(&p, out->ops, out->nops, &out->result);
	return true;
}
