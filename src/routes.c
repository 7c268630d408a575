/* routes.c -- the route table: every method and path the service answers */
#include "crm/routes.h"

#include "crm/util.h"
#include "handlers.h"

static const struct crm_route routes[] = {
	{"POST", "/api/operators", crm_h_operator_create},
	{"GET", "/api/operators", crm_h_operators_list},
	{"GET", "/api/operators/{id}", crm_h_operator_get},
	{"PATCH", "/api/operators/{id}", crm_h_operator_update},
	{"POST", "/api/sources", crm_h_source_create},
	{"GET", "/api/sources", crm_h_sources_list},
	{"GET", "/api/sources/{id}", crm_h_source_get},
	{"POST", "/api/sources/{id}/operators", crm_h_source_operators_set},
	{"GET", "/api/sources/{id}/operators", crm_h_source_operators_list},
	{"GET", "/api/sources/{id}/stats", crm_h_source_stats},
	{"POST", "/api/contacts", crm_h_contact_create},
	{"GET", "/api/contacts", crm_h_contacts_list},
	{"GET", "/api/contacts/{id}", crm_h_contact_get},
	{"PATCH", "/api/contacts/{id}", crm_h_contact_update},
	{"GET", "/api/contacts/{id}/assignments", crm_h_assignments_list},
	{"GET", "/api/leads", crm_h_leads_list},
	{"GET", "/api/leads/{id}", crm_h_lead_get},
};

const struct crm_router crm_routes = {routes, CRM_COUNT(routes)};
