/* domain.c -- the small rules of the plain structs in domain.h: contact statuses, stats shares, scopes
 *
 * Pure functions, no I/O: the one home of the status set that the handlers check (query filter
 * and PATCH) and of the share arithmetic of a source's stats. The database holds the same status
 * set as a CHECK constraint on contacts.status.
 */
#include "crm/domain.h"

#include <stdio.h>
#include <string.h>

bool crm_contact_status_valid(const char *status)
{
	return status != NULL && (strcmp(status, "active") == 0 || strcmp(status, "closed") == 0);
}

bool crm_source_mode_valid(const char *mode)
{
	return mode != NULL && (strcmp(mode, "weighted_random") == 0 || strcmp(mode, "least_loaded") == 0);
}

static double share(int64_t part, int64_t total)
{
	return total != 0 ? (double)part / (double)total : 0.0;
}

void crm_source_stats_shares(struct crm_source_stats *st)
{
	int64_t total_weight = 0;

	for (size_t i = 0; i < st->noperators; i++)
		total_weight += st->operators[i].weight;
	for (size_t i = 0; i < st->noperators; i++) {
		struct crm_operator_stats *os = &st->operators[i];

		os->configured_share = share(os->weight, total_weight);
		os->actual_share = share(os->assigned, st->assigned_total);
	}
}

/* --- scopes --- */

static const struct {
	unsigned bit;
	const char *name;
} scope_names[] = {
	{CRM_SCOPE_ADMIN, "admin"},
	{CRM_SCOPE_INTAKE, "intake"},
	{CRM_SCOPE_AGENT, "agent"},
	{CRM_SCOPE_READ, "read"},
	{CRM_SCOPE_METRICS, "metrics"},
	{CRM_SCOPE_PUBLIC, "public"},
};

unsigned crm_scope_from_name(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(scope_names) / sizeof(scope_names[0]); i++) {
		if (scope_names[i].bit != CRM_SCOPE_PUBLIC && strcmp(scope_names[i].name, name) == 0)
			return scope_names[i].bit;
	}
	return 0;
}

const char *crm_scope_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++) {
		if (scope_names[i].bit == bit && bit != CRM_SCOPE_PUBLIC)
			return scope_names[i].name;
	}
	return NULL;
}

void crm_scopes_describe(unsigned mask, char *out, size_t size)
{
	size_t n = 0, total = 0, used = 0;

	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
		total += (mask & scope_names[i].bit) != 0;
	if (size > 0)
		out[0] = '\0';
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]) && used < size; i++) {
		if (!(mask & scope_names[i].bit))
			continue;
		n++;
		used += (size_t)snprintf(out + used, size - used, "%s%s", n == 1 ? "" : (n == total ? " or " : ", "),
			scope_names[i].name);
	}
}

bool crm_principal_may_use_source(const struct crm_principal *p, int64_t source_id)
{
	if ((p->scopes & CRM_SCOPE_ADMIN) || p->source_ids == NULL)
		return true;
	for (size_t i = 0; i < p->nsources; i++) {
		if (p->source_ids[i] == source_id)
			return true;
	}
	return false;
}
