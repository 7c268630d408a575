/* pick.h -- the weighted choice among candidate operators (pure)
 *
 * DESIGN: the distribution needs "one operator drawn with probability weight / sum of the
 * eligible weights", decided under row locks in the database. We draw in C a weighted random
 * order of the candidates (successive sampling without replacement, Plackett-Luce) and the
 * database walks that order, taking the first operator that is still eligible under its row
 * lock. For any subset of candidates, the first of them to appear in such an order is
 * distributed exactly as weight / sum over that subset; so whichever operators turn out to be
 * eligible at commit time, the winner is drawn by the product rule. Candidates that looked
 * ineligible in the snapshot are put after the eligible ones (still in weighted order) so the
 * database rarely waits on a full operator's lock; they are only reached if every snapshot-
 * eligible one has filled up meanwhile.
 */
#ifndef CRM_PICK_H
#define CRM_PICK_H

#include <stddef.h>

#include "crm/domain.h"
#include "crm/rng.h"

/* Index of one candidate drawn with probability weight / total weight, or -1 when n == 0 or
 * every weight is 0. Weights are summed in 64 bits, so any count of uint32 weights is safe. */
long crm_pick_one(const struct crm_candidate *c, size_t n, struct crm_rng *rng);

/* Reorders c in place: eligible candidates first, each group in weighted random order. */
void crm_pick_order(struct crm_candidate *c, size_t n, struct crm_rng *rng);

#endif
