/* routes.c -- the route table: every method and path the service answers, and who may call it
 *
 * Each row is ROUTE(method, pattern, handler, query, scopes): the macro has a fixed arity, so a
 * route without its scopes does not compile, and crm_http_router_check (run by `crm serve` at
 * start and by the unit test test_routes) refuses an empty mask. A route that needs no key
 * says CRM_SCOPE_PUBLIC. The scopes (README "Access control"): admin may do everything; intake only
 * POST /api/contacts; agent every GET but the keys, and PATCH /api/contacts/{id}; read every GET
 * but the keys and /metrics; metrics only GET /metrics. The dry run (POST .../simulate) counts as
 * a read for admin, agent and read: it writes nothing. /healthz and /readyz (README "Health") are
 * public: probes carry no key.
 */
#include "crm/routes.h"

#include "crm/util.h"
#include "handlers.h"

#define ROUTE(method, pattern, handler, query, scopes)  \
	{                                               \
		method, pattern, handler, query, scopes \
	}

#define ADMIN CRM_SCOPE_ADMIN
#define INTAKE (CRM_SCOPE_ADMIN | CRM_SCOPE_INTAKE)
#define AGENT (CRM_SCOPE_ADMIN | CRM_SCOPE_AGENT)
#define READ (CRM_SCOPE_ADMIN | CRM_SCOPE_AGENT | CRM_SCOPE_READ)
#define METRICS (CRM_SCOPE_ADMIN | CRM_SCOPE_METRICS)
#define PUBLIC CRM_SCOPE_PUBLIC

/* The query parameters of the lists; any other, on any route, is 400. */
static const char *const contacts_query[] = {"source_id", "operator_id", "lead_id", "status", "unassigned", "limit",
	"after_id", NULL};
static const char *const paging_query[] = {"limit", "after_id", NULL};

static const struct crm_route routes[] = {
	ROUTE("POST", "/api/operators", crm_h_operator_create, NULL, ADMIN),
	ROUTE("GET", "/api/operators", crm_h_operators_list, NULL, READ),
	ROUTE("GET", "/api/operators/{id}", crm_h_operator_get, NULL, READ),
	ROUTE("PATCH", "/api/operators/{id}", crm_h_operator_update, NULL, ADMIN),
	ROUTE("POST", "/api/sources", crm_h_source_create, NULL, ADMIN),
	ROUTE("GET", "/api/sources", crm_h_sources_list, NULL, READ),
	ROUTE("GET", "/api/sources/{id}", crm_h_source_get, NULL, READ),
	ROUTE("PATCH", "/api/sources/{id}", crm_h_source_update, NULL, ADMIN),
	ROUTE("POST", "/api/sources/{id}/operators", crm_h_source_operators_set, NULL, ADMIN),
	ROUTE("GET", "/api/sources/{id}/operators", crm_h_source_operators_list, NULL, READ),
	ROUTE("GET", "/api/sources/{id}/stats", crm_h_source_stats, NULL, READ),
	/* a POST that writes nothing and reveals no more than GET .../stats and GET /api/operators */
	ROUTE("POST", "/api/sources/{id}/simulate", crm_h_source_simulate, NULL, READ),
	ROUTE("POST", "/api/contacts", crm_h_contact_create, NULL, INTAKE),
	ROUTE("GET", "/api/contacts", crm_h_contacts_list, contacts_query, READ),
	ROUTE("GET", "/api/contacts/{id}", crm_h_contact_get, NULL, READ),
	ROUTE("PATCH", "/api/contacts/{id}", crm_h_contact_update, NULL, AGENT),
	ROUTE("GET", "/api/contacts/{id}/assignments", crm_h_assignments_list, NULL, READ),
	ROUTE("GET", "/api/leads", crm_h_leads_list, paging_query, READ),
	ROUTE("GET", "/api/leads/{id}", crm_h_lead_get, NULL, READ),
	ROUTE("POST", "/api/keys", crm_h_key_create, NULL, ADMIN),
	ROUTE("GET", "/api/keys", crm_h_keys_list, paging_query, ADMIN),
	ROUTE("GET", "/api/keys/{id}", crm_h_key_get, NULL, ADMIN),
	ROUTE("DELETE", "/api/keys/{id}", crm_h_key_revoke, NULL, ADMIN),
	ROUTE("GET", "/metrics", crm_h_metrics, NULL, METRICS),
	ROUTE("GET", "/healthz", crm_h_healthz, NULL, PUBLIC),
	ROUTE("GET", "/readyz", crm_h_readyz, NULL, PUBLIC),
};

const struct crm_router crm_routes = {routes, CRM_COUNT(routes), crm_h_authorize};
