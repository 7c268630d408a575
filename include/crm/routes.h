/* routes.h -- the route table of the API: every method and path the service answers
 *
 * routes.c is the one static table {method, pattern, handler}; the handlers are private to the
 * handlers layer (src/handlers.h). The transport hands crm_routes to crm_http_handle.
 */
#ifndef CRM_ROUTES_H
#define CRM_ROUTES_H

#include "crm/http.h"

extern const struct crm_router crm_routes;

#endif
