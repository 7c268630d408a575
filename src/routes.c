/* routes.c -- the route table: every method and path the service answers */
#include "crm/routes.h"

#include "crm/util.h"
#include "handlers.h"

/* The query parameters of the lists; any other, on any route, is 400. */
static const char *const contacts_query[] = {"source_id", "operator_id", "lead_id", "status", "unassigned", "limit",
	"after_id", NULL};
static const char *const paging_query[] = {"limit", "after_id", NULL};

static const struct crm_route routes[] = {
	{"POST", "/api/operators", crm_h_operator_create, NULL},
	{"GET", "/api/operators", crm_h_operators_list, NULL},
	{"GET", "/api/operators/{id}", crm_h_operator_get, NULL},
	{"PATCH", "/api/operators/{id}", crm_h_operator_update, NULL},
	{"POST", "/api/sources", crm_h_source_create, NULL},
	{"GET", "/api/sources", crm_h_sources_list, NULL},
	{"GET", "/api/sources/{id}", crm_h_source_get, NULL},
	{"POST", "/api/sources/{id}/operators", crm_h_source_operators_set, NULL},
	{"GET", "/api/sources/{id}/operators", crm_h_source_operators_list, NULL},
	{"GET", "/api/sources/{id}/stats", crm_h_source_stats, NULL},
	{"POST", "/api/contacts", crm_h_contact_create, NULL},
	{"GET", "/api/contacts", crm_h_contacts_list, contacts_query},
	{"GET", "/api/contacts/{id}", crm_h_contact_get, NULL},
	{"PATCH", "/api/contacts/{id}", crm_h_contact_update, NULL},
	{"GET", "/api/contacts/{id}/assignments", crm_h_assignments_list, NULL},
	{"GET", "/api/leads", crm_h_leads_list, paging_query},
	{"GET", "/api/leads/{id}", crm_h_lead_get, NULL},
};

const struct crm_router crm_routes = {routes, CRM_COUNT(routes)};
