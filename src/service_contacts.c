/* service_contacts.c -- a contact arrives: the distribution use case; contact reads and lifecycle
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
#include "crm/metrics.h"
#include "crm/pg.h"

bool crm_service_contact_email(struct crm_arena *a, const char *email, const char **normal, struct crm_err *err)
{
	char *buf = crm_arena_alloc(a, CRM_EMAIL_BUF);
	const char *why;

	if (!crm_email_normalize(email, strlen(email), buf, &why))
		return crm_err_field(err, "email", "%s", why);
	*normal = buf;
	return true;
}

void crm_service_intake_counted(int64_t operator_id, bool sticky)
{
	crm_metrics_intake(operator_id != 0 ? CRM_METRICS_INTAKE_ASSIGNED : CRM_METRICS_INTAKE_UNASSIGNED);
	/* the history reason of the decision */
	if (sticky)
		crm_metrics_assignments(CRM_METRICS_REASON_STICKY, 1);
	else
		crm_metrics_assignments(operator_id != 0 ? CRM_METRICS_REASON_INTAKE : CRM_METRICS_REASON_UNASSIGNED,
			1);
}

bool crm_service_contact_create(struct crm_service *s, struct crm_arena *a, const char *email, int64_t source_id,
	struct crm_contact *out, struct crm_err *err)
{
	const char *normal = NULL;
	bool sticky = false;

	if (!crm_service_contact_email(a, email, &normal, err))
		return false;
	for (int attempt = 1;; attempt++) {
		if (crm_pg_intake(s->pg, a, normal, source_id, out, &sticky, err)) {
			crm_service_intake_counted(out->operator_id, sticky);
			return true;
		}
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

bool crm_service_contact_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_contact_patch *patch, struct crm_contact *out, struct crm_err *err)
{
	if (!patch->accepted && !patch->has_status && !patch->has_operator)
		return crm_err_field(err, "body", "must contain status, operator_id or accepted");
	for (int attempt = 1;; attempt++) {
		if (crm_pg_contact_update(s->pg, a, id, patch, out, err)) {
			/* a reassignment by hand (the history's "manual"); the drains the update caused
			 * are counted by the drainer, which their commit notifies (crm_drain_sources) */
			if (!patch->accepted && patch->has_operator && patch->operator_id != 0 &&
				out->operator_id == patch->operator_id)
				crm_metrics_assignments(CRM_METRICS_REASON_MANUAL, 1);
			return true;
		}
		if (!crm_service_retry(err, attempt))
			return false;
	}
}

bool crm_service_assignments_list(struct crm_service *s, struct crm_arena *a, int64_t contact_id, crm_assignment_fn fn,
	void *ctx, struct crm_err *err)
{
	return crm_pg_assignments_list(s->pg, a, contact_id, fn, ctx, err);
}
