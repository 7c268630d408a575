/* domain.c -- the small rules of the plain structs in domain.h: contact statuses, stats shares
 *
 * Pure functions, no I/O: the one home of the status set that the handlers check (query filter
 * and PATCH) and of the share arithmetic of a source's stats. The database holds the same status
 * set as a CHECK constraint on contacts.status.
 */
#include "crm/domain.h"

#include <string.h>

bool crm_contact_status_valid(const char *status)
{
	return status != NULL && (strcmp(status, "active") == 0 || strcmp(status, "closed") == 0);
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
