/* service_keys.c -- API keys: create, list, revoke, and the check of a presented key
 *
 * DESIGN (cache): every /api/ request presents a key, and asking the database each time would
 * add a round trip to every request. Each worker keeps the keys it verified (public id -> hash,
 * scopes, sources) for key_cache_ms (CRM_KEY_CACHE_MS, default 2000, at most 5000): within that
 * time a request costs one SHA-256 and a constant-time compare, no database. A revoked key is
 * therefore refused by every worker at most key_cache_ms after the revocation committed (a
 * worker refetches an entry older than that). Only keys that exist are cached, in a fixed table
 * of CRM_KEY_CACHE_SIZE entries (the oldest fetch makes room), so presenting made-up public
 * ids costs a lookup each but never grows a worker's memory. last_used_at is written by the
 * lookup, at most once a minute per key (sql/functions/80_keys.sql).
 */
#include "crm/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm/log.h"
#include "crm/pg.h"
#include "crm/secret.h"

struct key_entry {
	char public_id[CRM_KEY_PUBLIC_LEN + 1]; /* "" : free */
	int64_t fetched_ms;                     /* monotonic */
	struct crm_key_record rec;
};

struct crm_key_cache {
	struct key_entry e[CRM_KEY_CACHE_SIZE];
};

void crm_service_set_keys(struct crm_service *s, int cache_ms, bool auth_off)
{
	s->key_cache_ms = cache_ms;
	s->auth_off = auth_off;
}

bool crm_service_auth_off(const struct crm_service *s)
{
	return s->auth_off;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The entry of public_id (fresh or not), else a free one, else the one fetched longest ago. */
static struct key_entry *cache_slot(struct crm_key_cache *c, const char *public_id)
{
	struct key_entry *oldest = &c->e[0];

	for (size_t i = 0; i < CRM_KEY_CACHE_SIZE; i++) {
		if (strcmp(c->e[i].public_id, public_id) == 0)
			return &c->e[i];
	}
	for (size_t i = 0; i < CRM_KEY_CACHE_SIZE; i++) {
		if (c->e[i].public_id[0] == '\0')
			return &c->e[i];
		if (c->e[i].fetched_ms < oldest->fetched_ms)
			oldest = &c->e[i];
	}
	return oldest;
}

/* The record of a live key: from the cache while fresh, else from the database (and then
 * cached). *found false: no live key has this public id; it takes no slot and evicts nothing
 * but its own stale entry. */
static bool key_record(struct crm_service *s, const char *public_id, const struct crm_key_record **rec, bool *found,
	struct crm_err *err)
{
	struct crm_key_record fetched;
	int64_t now = now_ms();
	struct key_entry *e;

	if (s->keys == NULL && (s->keys = calloc(1, sizeof(*s->keys))) == NULL)
		abort(); /* out of memory: the supervisor restarts the worker */
	e = cache_slot(s->keys, public_id);
	if (strcmp(e->public_id, public_id) == 0 && now - e->fetched_ms < s->key_cache_ms) {
		*found = true;
		*rec = &e->rec;
		return true;
	}
	if (!crm_pg_key_lookup(s->pg, public_id, found, &fetched, err))
		return false;
	if (!*found) {
		if (strcmp(e->public_id, public_id) == 0)
			e->public_id[0] = '\0'; /* revoked since it was cached */
		return true;
	}
	memcpy(e->public_id, public_id, sizeof(e->public_id));
	e->fetched_ms = now;
	e->rec = fetched;
	*rec = &e->rec;
	return true;
}

bool crm_service_authenticate(struct crm_service *s, struct crm_arena *a, const char *key_text,
	struct crm_principal *out, struct crm_err *err)
{
	const struct crm_key_record *rec = NULL;
	struct crm_key_text k;
	uint8_t hash[CRM_SHA256_LEN];
	bool found = false;

	if (!crm_secret_key_parse(key_text, &k))
		return crm_err_set(err, CRM_E_UNAUTHORIZED, "the API key is malformed");
	if (!key_record(s, k.public_id, &rec, &found, err))
		return false;
	crm_secret_key_hash(&k, hash);
	if (!found || !crm_secret_equal(hash, rec->hash, CRM_SHA256_LEN))
		return crm_err_set(err, CRM_E_UNAUTHORIZED, "the API key is unknown or revoked");
	out->key_id = rec->id;
	out->public_id = crm_arena_strdup(a, k.public_id);
	out->scopes = rec->scopes;
	out->source_ids = NULL;
	out->nsources = rec->nsources;
	if (rec->has_sources) {
		int64_t *ids = crm_arena_calloc(a, rec->nsources + 1, sizeof(*ids));

		memcpy(ids, rec->sources, rec->nsources * sizeof(*ids));
		out->source_ids = ids;
	}
	return true;
}

/* The scope names as bits into *mask; unknown and repeated names are field errors "scopes[i]".
 * True when every name was known (so *mask is all the key would hold). */
static bool scopes_parse(const char *const *names, size_t n, unsigned *mask, struct crm_err *err)
{
	bool known = true;

	*mask = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned bit = crm_scope_from_name(names[i]);
		char field[48];

		known = known && bit != 0;
		if (names[i] == NULL)
			continue; /* not a string: the JSON schema named it already */
		snprintf(field, sizeof(field), "scopes[%zu]", i);
		if (bit == 0)
			crm_err_field(err, field, "must be admin, intake, agent or read");
		else if (*mask & bit)
			crm_err_field(err, field, "scope %s is listed more than once", names[i]);
		*mask |= bit;
	}
	return known;
}

/* Sources need the intake scope (checked when every scope was known) and are listed once each
 * (ids <= 0 were refused by the JSON schema already). */
static void sources_check(unsigned mask, bool known, const int64_t *ids, size_t n, struct crm_err *err)
{
	if (ids == NULL)
		return;
	if (known && !(mask & CRM_SCOPE_INTAKE))
		crm_err_field(err, "source_ids", "only a key with the intake scope can be limited to sources");
	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i && ids[i] > 0; j++) {
			if (ids[i] == ids[j]) {
				char field[48];

				snprintf(field, sizeof(field), "source_ids[%zu]", i);
				crm_err_field(err, field, "source %lld is listed more than once", (long long)ids[i]);
				break;
			}
		}
	}
}

void crm_service_key_report(const char *const *scope_names, size_t nscopes, const int64_t *source_ids, size_t nsources,
	struct crm_err *err)
{
	unsigned mask;
	bool known = scopes_parse(scope_names, nscopes, &mask, err);

	sources_check(mask, known, source_ids, nsources, err);
}

bool crm_service_key_create(struct crm_service *s, struct crm_arena *a, const char *name,
	const char *const *scope_names, size_t nscopes, const int64_t *source_ids, size_t nsources,
	struct crm_api_key *out, const char **key_text, struct crm_err *err)
{
	uint8_t hash[CRM_SHA256_LEN];
	struct crm_key_text k;
	unsigned mask = 0;
	char *text;

	crm_service_key_report(scope_names, nscopes, source_ids, nsources, err);
	if (err->code != CRM_E_OK)
		return false;
	for (size_t i = 0; i < nscopes; i++)
		mask |= crm_scope_from_name(scope_names[i]);
	if (!crm_secret_key_generate(&k, err))
		return false;
	crm_secret_key_hash(&k, hash);
	if (!crm_pg_key_create(s->pg, a, k.public_id, hash, name, mask, source_ids, nsources, out, err))
		return false;
	text = crm_arena_alloc(a, CRM_KEY_LEN + 1);
	crm_secret_key_format(&k, text);
	*key_text = text;
	memset(&k, 0, sizeof(k));
	crm_log_info("api key %s created (id %lld)", out->public_id, (long long)out->id);
	return true;
}

bool crm_service_key_get(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_api_key *out,
	struct crm_err *err)
{
	return crm_pg_key_get(s->pg, a, id, out, err);
}

bool crm_service_key_revoke(struct crm_service *s, struct crm_arena *a, int64_t id, struct crm_api_key *out,
	struct crm_err *err)
{
	if (!crm_pg_key_revoke(s->pg, a, id, out, err))
		return false;
	crm_log_info("api key %s revoked (id %lld)", out->public_id, (long long)out->id);
	return true;
}

bool crm_service_keys_list(struct crm_service *s, struct crm_arena *a, int64_t after_id, int32_t limit,
	crm_api_key_fn fn, void *ctx, struct crm_err *err)
{
	return crm_pg_keys_list(s->pg, a, after_id, limit, fn, ctx, err);
}
