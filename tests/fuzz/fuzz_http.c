/* fuzz_http.c -- fuzz target: route matching and query-string decoding on hostile paths
 *
 * Input: "METHOD\nPATH\nQUERY". See fuzz_json.c for how the targets are built and run.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crm/http.h"
#include "crm/util.h"

/* Every pattern shape of the service's table (literal, {id} last, {id} inside, two {id}s), with
 * a handler that is never called: the router is fuzzed without the layers below it. */
static void h_none(struct crm_ctx *ctx)
{
	(void)ctx;
}

static const struct crm_route table[] = {
	{"POST", "/api/operators", h_none, NULL, CRM_SCOPE_PUBLIC},
	{"GET", "/api/operators", h_none, NULL, CRM_SCOPE_PUBLIC},
	{"GET", "/api/operators/{id}", h_none, NULL, CRM_SCOPE_PUBLIC},
	{"PATCH", "/api/operators/{id}", h_none, NULL, CRM_SCOPE_PUBLIC},
	{"POST", "/api/sources/{id}/operators", h_none, NULL, CRM_SCOPE_PUBLIC},
	{"GET", "/api/sources/{id}/stats", h_none, NULL, CRM_SCOPE_PUBLIC},
	{"GET", "/api/contacts/{id}/assignments", h_none, NULL, CRM_SCOPE_PUBLIC},
	{"GET", "/api/things/{id}/parts/{id}", h_none, NULL, CRM_SCOPE_PUBLIC},
};
static const struct crm_router router = {table, CRM_COUNT(table), NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crm_arena *a = crm_arena_create(4096);
	char *text = crm_arena_strndup(a, (const char *)data, size);
	char *method = text, *path, *q;
	const char *query = "";
	const struct crm_route *route;
	int64_t params[CRM_ROUTE_PARAMS_MAX];
	char allow[128];
	static const char *const names[] = {"source_id", "limit", "after_id", "status", "unassigned", "", NULL};
	struct crm_err err;

	path = strchr(method, '\n');
	if (path == NULL) {
		crm_arena_destroy(a);
		return 0;
	}
	*path++ = '\0';
	q = strchr(path, '\n');
	if (q != NULL) {
		*q++ = '\0';
		query = q;
	}
	(void)crm_http_match(&router, method, path, &route, params, allow, sizeof(allow));
	for (size_t i = 0; names[i] != NULL; i++)
		(void)crm_http_query_get(a, query, names[i]);
	crm_err_init(&err);
	if (!crm_http_query_check(a, query, names, &err))
		crm_err_init(&err); /* a refusal is an answer, not a failure */
	(void)crm_http_is_json(query);
	crm_arena_destroy(a);
	return 0;
}
