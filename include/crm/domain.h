/* domain.h -- the plain structs of the product and its limits
 *
 * No behaviour here: email.h, pick.h and rng.h hold the pure rules. Strings inside these
 * structs are borrowed (usually from the request arena); a struct never owns memory.
 */
#ifndef CRM_DOMAIN_H
#define CRM_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#define CRM_NAME_MAX 200
#define CRM_DESCRIPTION_MAX 2000
#define CRM_LIMIT_MAX 1000000
#define CRM_WEIGHT_MAX 1000000
#define CRM_EMAIL_MAX 254
#define CRM_PAGE_MAX 1000
#define CRM_SOURCE_OPERATORS_MAX 1000

struct crm_operator {
	int64_t id;
	const char *name;
	bool is_active;
	int32_t max_load_limit;
	int32_t active_contacts; /* stored exact count of its contacts with status 'active' */
};

/* A partial update: only the has_* members are applied. */
struct crm_operator_patch {
	bool has_name, has_is_active, has_max_load_limit;
	const char *name;
	bool is_active;
	int32_t max_load_limit;
};

struct crm_source {
	int64_t id;
	const char *name;
	const char *description; /* NULL means JSON null */
};

struct crm_source_operator {
	int64_t id;
	int64_t source_id;
	int64_t operator_id;
	int32_t weight;
};

struct crm_contact {
	int64_t id;
	int64_t lead_id;
	int64_t source_id;
	int64_t operator_id; /* 0 when unassigned */
	const char *status;  /* "active" or "closed" */
	const char *created_at; /* RFC 3339, UTC */
};

struct crm_lead {
	int64_t id;
	const char *email;
};

/* Filters of GET /api/contacts; 0 / NULL / false mean "not given". */
struct crm_contact_filter {
	int64_t source_id;
	int64_t operator_id;
	int64_t lead_id;
	const char *status;
	bool has_unassigned;
	bool unassigned;
	int64_t after_id;
	int32_t limit; /* 0 = whole list */
};

/* One operator configured for a source, as seen by the distribution. */
struct crm_candidate {
	int64_t operator_id;
	uint32_t weight;
	bool eligible; /* active and below its limit when read (a hint; the database decides) */
};

#endif
