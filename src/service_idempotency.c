/* service_idempotency.c -- Idempotency-Key: claim, store, and the drainer's expiry of old keys
 *
 * DESIGN: a POST with a key is one transaction: the claim (sql/functions/70_idempotency.sql),
 * the request's own work, the stored response, COMMIT. So the contact and the answer that names
 * it are committed together or not at all: a worker killed, or a database restarted, between
 * the commit and the reply leaves the answer for the client's retry, which replays it instead
 * of storing the contact again. A failed request rolls back its claim with its work.
 *
 * POST /api/contacts, the most frequent POST, does all of that in one statement instead
 * (crm_service_idem_contact_create, crm_idem_intake), and keeps the key on the contact it
 * creates instead of storing the answer (migration 0011): one round trip like a POST without a key,
 * and, being one statement in its own transaction, a lost serialization or deadlock race is
 * retried by the worker like a plain intake's. Its first attempt does not look for the key
 * among the contacts (most keys are new): the contact's INSERT finds one holding it, and the
 * statement fails whole (contacts_idem_hash_key, a RETRY) and is retried the careful way, which
 * looks first and replays. So a retried request costs a second round trip, a new key none.
 *
 * A replay answers only once the stored answer is on the synchronous standby (crm_pg_replicated):
 * a primary that crash-restarts shows its local commits at once, also those the standby never got;
 * replaying one of those and then failing over would lose a contact the client was told is stored.
 */
#include "crm/service.h"

#include <time.h>

#include "crm/log.h"
#include "crm/pg.h"

/* Keys deleted (contacts gone past) per statement of the sweep, so that one pass never holds
 * many row locks. */
#define EXPIRE_BATCH 5000

void crm_service_set_idempotency_ttl(struct crm_service *s, int seconds)
{
	s->idempotency_ttl = seconds;
}

bool crm_service_idem_claim(struct crm_service *s, struct crm_arena *a, const struct crm_idem_request *rq,
	enum crm_idem_outcome *outcome, struct crm_idem_response *stored, struct crm_err *err)
{
	return crm_pg_idem_claim(s->pg, a, rq, s->idempotency_ttl, outcome, stored, err) &&
	       (*outcome != CRM_IDEM_REPLAY || crm_pg_replicated(s->pg, err));
}

bool crm_service_idem_store(struct crm_service *s, const struct crm_idem_request *rq,
	const struct crm_idem_response *resp, struct crm_err *err)
{
	return crm_pg_idem_store(s->pg, rq, resp, err);
}

bool crm_service_idem_contact_create(struct crm_service *s, struct crm_arena *a, const struct crm_idem_request *rq,
	const char *normal_email, int64_t source_id, enum crm_idem_outcome *outcome, struct crm_idem_response *answer,
	struct crm_err *err)
{
	struct crm_idem_intake_made made;

	for (int attempt = 1;; attempt++) {
		/* the first attempt assumes a new key; a retry (the key found on a contact) looks first */
		if (crm_pg_idem_intake(s->pg, a, rq, s->idempotency_ttl, normal_email, source_id, attempt > 1, outcome,
			    answer, &made, err)) {
			if (*outcome == CRM_IDEM_NEW)
				crm_service_intake_counted(made.operator_id, made.sticky);
			return *outcome != CRM_IDEM_REPLAY || crm_pg_replicated(s->pg, err);
		}
		if (!crm_service_retry(err, attempt))
			return false;
	}
}

void crm_service_idem_abandon(struct crm_service *s)
{
	crm_pg_after_request(s->pg);
}

static int64_t now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* The keys of contacts past their time to live, in batches of EXPIRE_BATCH contacts gone past. */
static bool expire_contact_keys(struct crm_service *s, int *total, struct crm_err *err)
{
	int walked, cleared;

	do {
		if (!crm_pg_idem_expire_contacts(s->pg, s->idempotency_ttl, EXPIRE_BATCH, &walked, &cleared, err))
			return false;
		*total += cleared;
	} while (walked == EXPIRE_BATCH);
	return true;
}

/* The drainer, at most once per sweep interval: deletes the keys past their time to live, the
 * stored answers of idempotency_keys and the keys on contacts. */
bool crm_service_idem_expire(struct crm_service *s, int sweep_seconds, struct crm_err *err)
{
	int deleted, total = 0;
	int64_t now = now_seconds();

	if (s->idempotency_sweep != 0 && now - s->idempotency_sweep < sweep_seconds)
		return true;
	do {
		if (!crm_pg_idem_expire(s->pg, s->idempotency_ttl, EXPIRE_BATCH, &deleted, err))
			return false;
		total += deleted;
	} while (deleted == EXPIRE_BATCH);
	if (!expire_contact_keys(s, &total, err))
		return false;
	s->idempotency_sweep = now;
	if (total > 0)
		crm_log_info("idempotency: %d expired keys deleted", total);
	return true;
}
