/* test_routes.c -- the service's route table (routes.c): shape, lookups, no duplicates, scopes
 *
 * Links the handlers and so the service and database layers; it never calls a handler.
 */
#include <stddef.h>
#include <stdio.h>

#include "check.h"
#include "crm/domain.h"
#include "crm/metrics.h"
#include "crm/routes.h"

static void test_real_table(void)
{
	const struct crm_route *r;
	int64_t p[CRM_ROUTE_PARAMS_MAX];
	char allow[128];

	CHECK(crm_routes.nroutes >= 14);
	CHECK(crm_routes.nroutes < CRM_METRICS_UNMATCHED); /* every route has its own counters */
	CHECK(crm_http_match(&crm_routes, "POST", "/api/contacts", &r, p, allow, 128) == CRM_MATCH_OK);
	CHECK(crm_http_match(&crm_routes, "POST", "/api/sources/5/operators", &r, p, allow, 128) == CRM_MATCH_OK &&
		p[0] == 5);
	CHECK(crm_http_match(&crm_routes, "DELETE", "/api/operators", &r, p, allow, 128) == CRM_MATCH_NO_METHOD);
	CHECK_STR(allow, "POST, GET, HEAD"); /* HEAD wherever GET */
	CHECK(crm_http_match(&crm_routes, "DELETE", "/api/operators/1", &r, p, allow, 128) == CRM_MATCH_NO_METHOD);
	CHECK_STR(allow, "GET, HEAD, PATCH");
	CHECK(crm_http_match(&crm_routes, "GET", "/healthz", &r, p, allow, 128) == CRM_MATCH_OK &&
		r->scopes == CRM_SCOPE_PUBLIC);
	CHECK(crm_http_match(&crm_routes, "GET", "/readyz", &r, p, allow, 128) == CRM_MATCH_OK &&
		r->scopes == CRM_SCOPE_PUBLIC);
	for (size_t i = 0; i < crm_routes.nroutes; i++) {
		const struct crm_route *a = &crm_routes.routes[i];

		CHECK(a->handler != NULL && a->pattern[0] == '/');
		/* only the lists take query parameters */
		CHECK((a->query != NULL) ==
			(strcmp(a->method, "GET") == 0 &&
				(strcmp(a->pattern, "/api/contacts") == 0 || strcmp(a->pattern, "/api/leads") == 0 ||
					strcmp(a->pattern, "/api/keys") == 0)));
		/* no two routes share method and pattern */
		for (size_t j = i + 1; j < crm_routes.nroutes; j++)
			CHECK(strcmp(a->method, crm_routes.routes[j].method) != 0 ||
				strcmp(a->pattern, crm_routes.routes[j].pattern) != 0);
	}
}

/* The scopes of the issue: admin everything; intake only POST /api/contacts; agent and read
 * every GET but the keys, agent also PATCH /api/contacts/{id}; no /api/ route is public;
 * metrics (and admin) GET /metrics only; the probes (issue 12: GET /healthz, GET /readyz) are public. */
static unsigned expected_scopes(const struct crm_route *r)
{
	bool get = strcmp(r->method, "GET") == 0, keys = strncmp(r->pattern, "/api/keys", 9) == 0;
	unsigned m = CRM_SCOPE_ADMIN;

	if (strcmp(r->pattern, "/metrics") == 0)
		return get ? CRM_SCOPE_ADMIN | CRM_SCOPE_METRICS : 0;
	if (get && (strcmp(r->pattern, "/healthz") == 0 || strcmp(r->pattern, "/readyz") == 0))
		return CRM_SCOPE_PUBLIC;

	if (get && !keys)
		m |= CRM_SCOPE_AGENT | CRM_SCOPE_READ;
	/* issue 14's dry run writes nothing: a read */
	if (strcmp(r->method, "POST") == 0 && strcmp(r->pattern, "/api/sources/{id}/simulate") == 0)
		m |= CRM_SCOPE_AGENT | CRM_SCOPE_READ;
	if (strcmp(r->method, "POST") == 0 && strcmp(r->pattern, "/api/contacts") == 0)
		m |= CRM_SCOPE_INTAKE;
	if (strcmp(r->method, "PATCH") == 0 && strcmp(r->pattern, "/api/contacts/{id}") == 0)
		m |= CRM_SCOPE_AGENT;
	return m;
}

static void test_scopes(void)
{
	static const struct crm_route bad_routes[][1] = {
		{{"GET", "/x", NULL, NULL, 0}},
		{{"GET", "/x", NULL, NULL, CRM_SCOPE_PUBLIC | CRM_SCOPE_READ}},
		{{"GET", "/x", NULL, NULL, 1u << 12}},
	};
	static const struct crm_route public_route[] = {{"GET", "/x", NULL, NULL, CRM_SCOPE_PUBLIC}};
	static const struct crm_route keyed_route[] = {{"GET", "/x", NULL, NULL, CRM_SCOPE_READ}};
	struct crm_router r;
	struct crm_err err;

	crm_err_init(&err);
	CHECK(crm_http_router_check(&crm_routes, &err));
	CHECK(crm_routes.authorize != NULL);
	for (size_t i = 0; i < crm_routes.nroutes; i++) {
		const struct crm_route *a = &crm_routes.routes[i];

		CHECK(a->scopes == expected_scopes(a));
		if (a->scopes != expected_scopes(a))
			fprintf(stderr, "  route %s %s: scopes %#x\n", a->method, a->pattern, a->scopes);
	}
	for (size_t i = 0; i < sizeof(bad_routes) / sizeof(bad_routes[0]); i++) {
		r = (struct crm_router){bad_routes[i], 1, crm_routes.authorize};
		crm_err_init(&err);
		CHECK(!crm_http_router_check(&r, &err) && strstr(err.detail, "GET /x") != NULL);
	}
	r = (struct crm_router){public_route, 1, NULL};
	CHECK(crm_http_router_check(&r, &err));
	r = (struct crm_router){keyed_route, 1, NULL}; /* a key route needs a key check */
	CHECK(!crm_http_router_check(&r, &err));
}

static void test_print(void)
{
	char text[4096] = "";
	FILE *f = fmemopen(text, sizeof(text) - 1, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	crm_http_routes_print(&crm_routes, f);
	fclose(f);
	CHECK(strncmp(text, "POST /api/operators admin\nGET /api/operators admin,agent,read\n", 60) == 0);
	CHECK(strstr(text, "\nGET /api/sources/{id}/stats admin,agent,read\n") != NULL);
	CHECK(strstr(text, "\nPOST /api/contacts admin,intake\n") != NULL);
	CHECK(strstr(text, "\nDELETE /api/keys/{id} admin\n") != NULL);
	CHECK(strstr(text, "\nGET /healthz public\n") != NULL);
	CHECK(strstr(text, "\nGET /readyz public\n") != NULL);
}

int main(void)
{
	test_real_table();
	test_scopes();
	test_print();
	return check_done("routes");
}
