/* service.c -- use cases of operators and sources
 *
 * Validation that needs no database happens here or in the JSON schema of the handler; what
 * needs the database (unknown operator, duplicate name) is decided by pg in one transaction.
 */
#include "crm/service.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool crm_service_init(struct crm_service *s, const char *database_url, int drain_batch, struct crm_err *err)
{
	(void)err; /* nothing here can fail today; the signature keeps room for it */
	s->pg = crm_pg_create(database_url);
	crm_pg_set_drain_batch(s->pg, drain_batch);
	return true;
}

void crm_service_finish(struct crm_service *s)
{
	crm_pg_destroy(s->pg);
	s->pg = NULL;
}

bool crm_service_operator_create(struct crm_service *s, struct crm_arena *a, const char *name, bool is_active,
	int32_t max_load_limit, struct crm_operator *out, struct crm_err *err)
{
	return crm_pg_operator_create(s->pg, a, name, is_active, max_load_limit, out, err);
}

bool crm_service_operator_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_operator *out,
	struct crm_err *err)
{
	return crm_pg_operator_get(s->pg, a, id, out, err);
}

bool crm_service_operator_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_operator_patch *patch, struct crm_operator *out, struct crm_err *err)
{
	if (!patch->has_name && !patch->has_is_active && !patch->has_max_load_limit) {
		crm_err_field(err, "body", "must contain at least one of name, is_active, max_load_limit");
		return false;
	}
	return crm_pg_operator_update(s->pg, a, id, patch, out, err);
}

bool crm_service_operators_list(struct crm_service *s, struct crm_arena *a, crm_operator_fn fn, void *ctx,
	struct crm_err *err)
{
	return crm_pg_operators_list(s->pg, a, fn, ctx, err);
}

bool crm_service_source_create(struct crm_service *s, struct crm_arena *a, const char *name,
	const char *description, struct crm_source *out, struct crm_err *err)
{
	return crm_pg_source_create(s->pg, a, name, description, out, err);
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
				crm_err_field(err, field, "operator %" PRId64 " is listed more than once", items[i].operator_id);
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

bool crm_service_retry(struct crm_err *err, int attempt)
{
	if (err->code != CRM_E_RETRY || attempt >= CRM_SERVICE_ATTEMPTS)
		return false;
	crm_err_init(err);
	return true;
}

bool crm_service_source_operators_list(struct crm_service *s, struct crm_arena *a, int64_t source_id,
	crm_source_operator_fn fn, void *ctx, struct crm_err *err)
{
	struct crm_source src;

	if (!crm_pg_source_get(s->pg, a, source_id, &src, err))
		return false;
	return crm_pg_source_operators_list(s->pg, a, source_id, fn, ctx, err);
}
