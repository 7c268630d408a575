/* test_routes.c -- the service's route table (routes.c): shape, lookups, no duplicates
 *
 * Links the handlers and so the service and database layers; it never calls a handler.
 */
#include <stddef.h>
#include <stdio.h>

#include "check.h"
#include "crm/routes.h"

static void test_real_table(void)
{
	const struct crm_route *r;
	int64_t p[CRM_ROUTE_PARAMS_MAX];
	char allow[128];

	CHECK(crm_routes.nroutes >= 14);
	CHECK(crm_http_match(&crm_routes, "POST", "/api/contacts", &r, p, allow, 128) == CRM_MATCH_OK);
	CHECK(crm_http_match(&crm_routes, "POST", "/api/sources/5/operators", &r, p, allow, 128) == CRM_MATCH_OK &&
		p[0] == 5);
	CHECK(crm_http_match(&crm_routes, "DELETE", "/api/operators", &r, p, allow, 128) == CRM_MATCH_NO_METHOD);
	CHECK_STR(allow, "POST, GET, HEAD"); /* HEAD wherever GET */
	CHECK(crm_http_match(&crm_routes, "DELETE", "/api/operators/1", &r, p, allow, 128) == CRM_MATCH_NO_METHOD);
	CHECK_STR(allow, "GET, HEAD, PATCH");
	for (size_t i = 0; i < crm_routes.nroutes; i++) {
		const struct crm_route *a = &crm_routes.routes[i];

		CHECK(a->handler != NULL && a->pattern[0] == '/');
		/* only the lists take query parameters */
		CHECK((a->query != NULL) ==
			(strcmp(a->method, "GET") == 0 &&
				(strcmp(a->pattern, "/api/contacts") == 0 || strcmp(a->pattern, "/api/leads") == 0)));
		/* no two routes share method and pattern */
		for (size_t j = i + 1; j < crm_routes.nroutes; j++)
			CHECK(strcmp(a->method, crm_routes.routes[j].method) != 0 ||
				strcmp(a->pattern, crm_routes.routes[j].pattern) != 0);
	}
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
	CHECK(strncmp(text, "POST /api/operators\nGET /api/operators\n", 39) == 0);
	CHECK(strstr(text, "\nGET /api/sources/{id}/stats\n") != NULL);
}

int main(void)
{
	test_real_table();
	test_print();
	return check_done("routes");
}
