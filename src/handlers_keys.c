/* handlers_keys.c -- the key check of every /api/ request, and the HTTP handlers of /api/keys
 *
 * crm_h_authorize is the router's authorize callback (http.h): the http layer calls it after
 * matching a route and before anything else about the request is looked at, so a request
 * without a valid key learns nothing but 401, and one whose key lacks the route's scopes 403.
 * The key's secret is never written anywhere: the answer of POST /api/keys is the only place.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "crm/domain.h"
#include "crm/schema.h"
#include "crm/service.h"
#include "handlers.h"

#define CHALLENGE "WWW-Authenticate: Bearer realm=\"crm\""

/* --- authentication --- */

/* The token of "Bearer <token>" (scheme case-insensitive, RFC 6750), or NULL. */
static const char *bearer_token(struct crm_arena *a, const char *h)
{
	size_t len;

	if (strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	len = strlen(h);
	while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
		len--;
	return len > 0 ? crm_arena_strndup(a, h, len) : NULL;
}

static void unauthorized(struct crm_ctx *ctx, bool key_given, const char *detail)
{
	struct crm_err err;

	crm_err_init(&err);
	crm_err_set(&err, CRM_E_UNAUTHORIZED, "%s", detail);
	crm_h_fail(ctx, &err);
	crm_resp_header(ctx->resp, key_given ? CHALLENGE ", error=\"invalid_token\"" : CHALLENGE);
}

static void forbidden(struct crm_ctx *ctx, unsigned need, unsigned have)
{
	char need_text[64], have_text[64];
	struct crm_err err;

	crm_scopes_describe(need, need_text, sizeof(need_text));
	crm_scopes_describe(have, have_text, sizeof(have_text));
	crm_err_init(&err);
	crm_err_set(&err, CRM_E_FORBIDDEN, "this route needs the scope %s; the key has %s", need_text, have_text);
	crm_h_fail(ctx, &err);
}

bool crm_h_authorize(struct crm_ctx *ctx, unsigned scopes)
{
	const char *h = ctx->req->authorization, *token;
	struct crm_principal *p;
	struct crm_err err;

	if (crm_service_auth_off(ctx->svc))
		return true; /* CRM_BENCH_NO_AUTH: the benchmark's baseline, warned about at start */
	if (h == NULL) {
		unauthorized(ctx, false, "this request needs an API key: Authorization: Bearer <key>");
		return false;
	}
	if ((token = bearer_token(ctx->arena, h)) == NULL) {
		unauthorized(ctx, true, "the Authorization header must be \"Bearer <key>\"");
		return false;
	}
	p = crm_arena_calloc(ctx->arena, 1, sizeof(*p));
	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_authenticate(ctx->svc, ctx->arena, token, p, &err)) {
		if (err.code == CRM_E_UNAUTHORIZED)
			unauthorized(ctx, true, err.detail);
		else
			crm_h_fail(ctx, &err);
		return false;
	}
	ctx->req->key_id = p->public_id;
	ctx->req->principal = p;
	if ((p->scopes & scopes) == 0) {
		forbidden(ctx, scopes, p->scopes);
		return false;
	}
	return true;
}

/* --- /api/keys --- */

static void write_key(struct crm_jw *w, const struct crm_api_key *k, const char *key_text)
{
	crm_jw_obj_begin(w);
	crm_jw_key(w, "id");
	crm_jw_int(w, k->id);
	crm_jw_key(w, "public_id");
	crm_jw_str(w, k->public_id);
	crm_jw_key(w, "name");
	crm_jw_str(w, k->name);
	crm_jw_key(w, "scopes");
	crm_jw_arr_begin(w);
	for (unsigned bit = 1; bit & CRM_SCOPE_ALL; bit <<= 1) {
		if (k->scopes & bit)
			crm_jw_str(w, crm_scope_name(bit));
	}
	crm_jw_arr_end(w);
	crm_jw_key(w, "source_ids");
	if (k->source_ids == NULL) {
		crm_jw_null(w);
	} else {
		crm_jw_arr_begin(w);
		for (size_t i = 0; i < k->nsources; i++)
			crm_jw_int(w, k->source_ids[i]);
		crm_jw_arr_end(w);
	}
	crm_jw_key(w, "created_at");
	crm_jw_str(w, k->created_at);
	crm_jw_key(w, "last_used_at");
	crm_jw_str(w, k->last_used_at);
	crm_jw_key(w, "revoked_at");
	crm_jw_str(w, k->revoked_at);
	if (key_text != NULL) {
		crm_jw_key(w, "key");
		crm_jw_str(w, key_text);
	}
	crm_jw_obj_end(w);
}

static void key_create(struct crm_ctx *ctx)
{
	struct crm_key_body b;
	struct crm_api_key k;
	struct crm_err err;
	const char *key_text = NULL;
	struct crm_jw w;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_json_decode(ctx->req->body, ctx->req->body_len, &crm_schema_key_create, &b, ctx->arena, &err)) {
		if (err.code == CRM_E_INVALID) /* name the bad scopes and sources together with the shape errors */
			crm_service_key_report((const char *const *)b.scopes.items, b.scopes.items ? b.scopes.n : 0,
				b.source_ids.items, b.source_ids.items ? b.source_ids.n : 0, &err);
		crm_h_fail(ctx, &err);
		return;
	}
	if (!crm_service_key_create(ctx->svc, ctx->arena, b.name, (const char *const *)b.scopes.items, b.scopes.n,
		    b.source_ids.items, b.source_ids.items ? b.source_ids.n : 0, &k, &key_text, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_h_created(ctx, "/api/keys", k.id);
	crm_resp_header(ctx->resp, "Cache-Control: no-store"); /* the secret is in this answer */
	crm_jw_init(&w, &ctx->resp->body);
	write_key(&w, &k, key_text);
}

/* Not under crm_h_idempotent: a stored answer would keep the secret in the database for the
 * Idempotency-Key's lifetime. The header is ignored here; a lost answer means a new key (and
 * revoking the one nobody saw). */
void crm_h_key_create(struct crm_ctx *ctx)
{
	key_create(ctx);
}

struct key_list {
	struct crm_list list;
	int64_t last_id;
};

static bool key_row(void *p, const struct crm_api_key *k)
{
	struct key_list *kl = p;

	write_key(&kl->list.w, k, NULL);
	kl->last_id = k->id;
	return crm_list_row_done(&kl->list);
}

void crm_h_keys_list(struct crm_ctx *ctx)
{
	struct key_list kl = {0};
	struct crm_err err;
	int64_t after_id = 0;
	int32_t limit = 0;
	bool ok;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_query_paging(ctx, &after_id, &limit, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_list_begin(&kl.list, ctx, limit == 0);
	ok = crm_service_keys_list(ctx->svc, ctx->arena, after_id, limit, key_row, &kl, &err);
	crm_list_end(&kl.list, ok, &err);
	if (ok && limit > 0 && kl.list.count == (size_t)limit)
		crm_h_link_next(ctx, "/api/keys", NULL, limit, kl.last_id);
}

void crm_h_key_get(struct crm_ctx *ctx)
{
	struct crm_api_key k;
	struct crm_err err;
	struct crm_jw w;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_key_get(ctx->svc, ctx->arena, ctx->req->params[0], &k, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_jw_init(&w, &ctx->resp->body);
	write_key(&w, &k, NULL);
}

/* 204 whether the key was live or already revoked (revoking is idempotent); 404 for no key. */
void crm_h_key_revoke(struct crm_ctx *ctx)
{
	struct crm_api_key k;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_key_revoke(ctx->svc, ctx->arena, ctx->req->params[0], &k, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	ctx->resp->status = 204;
	crm_buf_clear(&ctx->resp->body);
}
