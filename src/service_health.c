/* service_health.c -- readiness (GET /readyz) and the drainer's heartbeat
 *
 * Ready means: the database answers, its schema is the one this binary embeds (the migrations
 * and function checksums it recorded, crm_pg_schema_check), and the drainer showed life within
 * its stale time (the heartbeat page of drainer.h, passed in by the process layer). Every check
 * runs, so one answer names everything that is wrong. One small query per call.
 */
#include "crm/service.h"

#include <stdio.h>
#include <time.h>

#include "crm/pg.h"

int64_t crm_service_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void crm_service_set_heartbeat(struct crm_service *s, _Atomic int64_t *heartbeat, int64_t stale_ms)
{
	s->heartbeat = heartbeat;
	s->heartbeat_stale_ms = stale_ms;
}

void crm_service_heartbeat(struct crm_service *s)
{
	if (s->heartbeat != NULL)
		atomic_store_explicit(s->heartbeat, crm_service_now_ms(), memory_order_relaxed);
}

static const char *drainer_state(struct crm_service *s, struct crm_arena *a)
{
	int64_t age;
	char text[128];

	if (s->heartbeat == NULL)
		return "no drainer runs beside this worker";
	age = crm_service_now_ms() - atomic_load_explicit(s->heartbeat, memory_order_relaxed);
	if (age <= s->heartbeat_stale_ms)
		return NULL;
	snprintf(text, sizeof(text), "no heartbeat for %.1f s (the limit is %.1f s): stopped or stuck",
		(double)age / 1e3, (double)s->heartbeat_stale_ms / 1e3);
	return crm_arena_strdup(a, text);
}

bool crm_service_ready(struct crm_service *s, struct crm_arena *a, struct crm_readiness *out)
{
	struct crm_err err;
	const char *problem = NULL;

	out->drainer = drainer_state(s, a);
	out->database = NULL;
	out->schema = NULL;
	crm_err_init_arena(&err, a);
	if (!crm_pg_schema_check(s->pg, a, &problem, &err)) {
		out->database = crm_arena_strdup(a, err.detail[0] ? err.detail : crm_strerror(err.code));
		out->schema = "unknown: the database is not reachable";
	} else {
		out->schema = problem;
	}
	return out->drainer == NULL && out->database == NULL && out->schema == NULL;
}
