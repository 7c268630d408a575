/* service_contacts.c -- a contact arrives: the distribution use case, and contact/lead reads
 *
 * DESIGN: one distribution is one statement, crm_intake() in sql/functions/30_intake.sql: in
 * one transaction it reads the source's operators, draws their weighted random order (the one
 * home of that rule is SQL, because the backlog drains inside other transactions' SQL too),
 * finds or creates the lead and takes the first operator of that order that is still eligible
 * with a conditional row update. Row locks are held only inside that one statement, so no lock
 * is held across a network round trip.
 */
#include "crm/service.h"

#include <string.h>

#include "crm/email.h"
#include "crm/log.h"

#define DRAIN_PER_SOURCE 500

bool crm_service_contact_create(struct crm_service *s, struct crm_arena *a, const char *email,
	int64_t source_id, struct crm_contact *out, struct crm_err *err)
{
	size_t len = strlen(email);
	char *normal = crm_arena_alloc(a, len + 1);
	const char *why;

	if (!crm_email_normalize(email, len, normal, &why)) {
		crm_err_field(err, "email", "%s", why);
		return false;
	}
	for (int attempt = 1;; attempt++) {
		if (crm_pg_intake(s->pg, a, normal, source_id, out, err))
			return true;
		if (!crm_service_retry(err, attempt))
			return false;
	}
}

bool crm_service_contact_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_contact *out,
	struct crm_err *err)
{
	return crm_pg_contact_get(s->pg, a, id, out, err);
}

bool crm_service_contacts_list(struct crm_service *s, struct crm_arena *a, const struct crm_contact_filter *f,
	crm_contact_fn fn, void *ctx, struct crm_err *err)
{
	return crm_pg_contacts_list(s->pg, a, f, fn, ctx, err);
}

bool crm_service_lead_get(struct crm_service *s, struct crm_arena *a, int64_t id, crm_lead_contact_fn fn,
	void *ctx, struct crm_err *err)
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

bool crm_service_contact_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_contact_patch *patch, struct crm_contact *out, struct crm_err *err)
{
	if (!patch->has_status && !patch->has_operator) {
		crm_err_field(err, "body", "must contain status or operator_id");
		return false;
	}
	for (int attempt = 1;; attempt++) {
		if (crm_pg_contact_update(s->pg, a, id, patch, out, err))
			return true;
		if (!crm_service_retry(err, attempt))
			return false;
	}
}

bool crm_service_assignments_list(struct crm_service *s, struct crm_arena *a, int64_t contact_id,
	crm_assignment_fn fn, void *ctx, struct crm_err *err)
{
	return crm_pg_assignments_list(s->pg, a, contact_id, fn, ctx, err);
}

bool crm_service_source_stats(struct crm_service *s, struct crm_arena *a, int64_t source_id,
	struct crm_source_stats *out, struct crm_err *err)
{
	return crm_pg_source_stats(s->pg, a, source_id, out, err);
}

bool crm_service_backlog_run_once(struct crm_service *s, int sweep_ms, struct crm_err *err)
{
	int assigned, total = 0;

	if (!crm_pg_backlog_listen(s->pg, err))
		return false;
	/* drain first: a wake-up may have been sent before we listened */
	do {
		if (!crm_pg_backlog_drain(s->pg, DRAIN_PER_SOURCE, &assigned, err))
			return false;
		total += assigned;
	} while (assigned > 0);
	if (total > 0)
		crm_log_info("backlog: assigned %d waiting contacts", total);
	crm_pg_backlog_wait(s->pg, sweep_ms);
	return true;
}
