/* service_contacts.c -- a contact arrives: the distribution use case; contact reads and lifecycle
 *
 * DESIGN: one distribution is two statements. The first reads the source's configured
 * operators (no locks). The worker then draws a weighted random order of them (pick.h) and
 * the second statement, crm_intake() in sql/0002_intake.sql, does the rest in one transaction:
 * it finds or creates the lead and takes the first operator of that order that is still
 * eligible with a conditional row update. Row locks are held only inside that one statement,
 * so no lock is held across a network round trip.
 */
#include "crm/service.h"

#include <string.h>

#include "crm/email.h"
#include "crm/log.h"
#include "crm/pg.h"
#include "crm/pick.h"

bool crm_service_contact_create(struct crm_service *s, struct crm_arena *a, const char *email,
	int64_t source_id, struct crm_contact *out, struct crm_err *err)
{
	char *normal = crm_arena_alloc(a, CRM_EMAIL_BUF);
	struct crm_candidate *cand;
	const char *why;
	size_t n;

	if (!crm_email_normalize(email, strlen(email), normal, &why)) {
		crm_err_field(err, "email", "%s", why);
		return false;
	}
	for (int attempt = 1;; attempt++) {
		if (!crm_pg_candidates(s->pg, a, source_id, &cand, &n, err))
			return false;
		crm_pick_order(cand, n, &s->rng);
		if (crm_pg_intake(s->pg, a, normal, source_id, cand, n, out, err))
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

bool crm_service_contact_update(struct crm_service *s, struct crm_arena *a, int64_t id,
	const struct crm_contact_patch *patch, struct crm_contact *out, struct crm_err *err)
{
	if (!patch->has_status && !patch->has_operator)
		return crm_err_field(err, "body", "must contain status or operator_id");
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
