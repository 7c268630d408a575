/* service.c -- the service's life in a process: init/finish, connection, migrations, retries
 *
 * The use cases are one file per resource: service_operators.c, service_sources.c,
 * service_contacts.c, service_leads.c, and service_backlog.c for the drainer. Validation that
 * needs no database happens there or in the JSON schema of the handler; what needs the database
 * (unknown operator, duplicate name) is decided by pg in one transaction.
 */
#include "crm/service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crm/pg.h"

bool crm_service_init(struct crm_service *s, const char *database_url, int drain_batch, struct crm_err *err)
{
	(void)err; /* nothing here can fail today; the signature keeps room for it */
	s->pg = crm_pg_create(database_url);
	s->idempotency_ttl = CRM_IDEMPOTENCY_TTL_DEFAULT;
	s->idempotency_sweep = 0;
	s->keys = NULL;
	s->key_cache_ms = CRM_KEY_CACHE_MS_DEFAULT;
	s->auth_off = false;
	s->heartbeat = NULL;
	s->heartbeat_stale_ms = 0;
	crm_pg_set_drain_batch(s->pg, drain_batch);
	return true;
}

void crm_service_set_timeouts(struct crm_service *s, int statement_seconds, int lock_seconds)
{
	crm_pg_set_timeouts(s->pg, statement_seconds, lock_seconds);
}

void crm_service_finish(struct crm_service *s)
{
	crm_pg_destroy(s->pg);
	s->pg = NULL;
	free(s->keys);
	s->keys = NULL;
}

void crm_service_connect(struct crm_service *s)
{
	struct crm_err err;

	crm_err_init(&err);
	if (!crm_pg_ensure(s->pg, &err)) {
		/* logged by pg; every request retries the connection */
	}
}

void crm_service_request_done(struct crm_service *s)
{
	crm_pg_after_request(s->pg);
}

bool crm_service_migrate(struct crm_service *s, int *applied, size_t *version, struct crm_err *err)
{
	*version = crm_migrations_count;
	return crm_pg_migrate(s->pg, applied, err);
}

bool crm_service_retry(struct crm_err *err, int attempt)
{
	if (err->code != CRM_E_RETRY || attempt >= CRM_SERVICE_ATTEMPTS)
		return false;
	crm_err_clear(err);
	return true;
}
