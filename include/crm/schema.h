/* schema.h -- the request bodies of the API: their structs and their JSON schemas
 *
 * The one definition of what each POST and PATCH body may hold (names, types, ranges), used by
 * the handlers, the unit tests and the JSON fuzzer alike. Strings and arrays of a decoded body
 * live in the request arena. Part of the http layer: it knows json.h and the limits of
 * domain.h, nothing of the service.
 */
#ifndef CRM_SCHEMA_H
#define CRM_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "crm/json.h"

/* An operator's working hours: {"timezone", "weekly": [{day, from, to}...], "days_off"?: [...]};
 * the parts are checked by the handler (schedule.h) and the zone's existence by the database. */
struct crm_schedule_shift_body {
	const char *day, *from, *to;
};

struct crm_schedule_body {
	const char *timezone;
	struct crm_jarray weekly;   /* of struct crm_schedule_shift_body */
	struct crm_jarray days_off; /* of const char * ("YYYY-MM-DD") */
};

/* POST /api/operators and PATCH /api/operators/{id} */
struct crm_operator_body {
	const char *name;
	bool is_active, has_name, has_is_active, has_max_load_limit, has_schedule;
	int64_t max_load_limit;
	const struct crm_schedule_body *schedule; /* NULL: JSON null (always at work) or absent */
};

/* POST /api/sources */
struct crm_source_body {
	const char *name;
	const char *description;
};

/* PATCH /api/sources/{id}: {name?, description?, accept_timeout_seconds?} (nulls: description, timeout) */
struct crm_source_patch_body {
	const char *name;
	const char *description;
	int64_t accept_timeout_seconds; /* 0 when null */
	int64_t sticky_window_seconds;  /* 0 when null */
	bool has_name, has_description, has_accept_timeout;
	const char *mode; /* checked by the handler (crm_source_mode_valid) */
	bool has_mode;
	bool has_sticky_window;
};

/* POST /api/sources/{id}/operators: {"operators": [{operator_id, weight}, ...]} */
struct crm_source_operator_item {
	int64_t operator_id;
	int64_t weight;
};

struct crm_source_operators_body {
	struct crm_jarray operators; /* of struct crm_source_operator_item */
};

/* POST /api/sources/{id}/simulate: {"contacts": N, "operators"?: [{operator_id, weight}, ...]} */
struct crm_source_simulate_body {
	int64_t contacts;
	struct crm_jarray operators; /* of struct crm_source_operator_item: a preview, not applied */
	bool has_operators;
};

/* POST /api/contacts */
struct crm_contact_body {
	const char *email;
	int64_t source_id;
};

/* PATCH /api/contacts/{id} */
struct crm_contact_patch_body {
	const char *status;
	int64_t operator_id;
	bool accepted;
	bool has_status, has_operator, has_accepted;
};

/* POST /api/keys: {name, scopes: ["admin", ...], source_ids?: [1, ...] or null} */
struct crm_key_body {
	const char *name;
	struct crm_jarray scopes;     /* of const char * */
	struct crm_jarray source_ids; /* of int64_t; items NULL when absent or null */
};

/* Room for any body struct above: what a caller decodes into when the schema varies (tests). */
union crm_body {
	struct crm_operator_body op;
	struct crm_source_body src;
	struct crm_source_patch_body src_patch;
	struct crm_source_operators_body so;
	struct crm_source_simulate_body sim;
	struct crm_contact_body contact;
	struct crm_contact_patch_body patch;
	struct crm_key_body key;
};

extern const struct crm_jschema crm_schema_operator_create;
extern const struct crm_jschema crm_schema_operator_patch;
extern const struct crm_jschema crm_schema_source_patch;
extern const struct crm_jschema crm_schema_source_create;
extern const struct crm_jschema crm_schema_source_operators;
extern const struct crm_jschema crm_schema_source_simulate;
extern const struct crm_jschema crm_schema_contact_create;
extern const struct crm_jschema crm_schema_contact_patch;
extern const struct crm_jschema crm_schema_key_create;

/* Every body schema above, NULL-terminated (the fuzzer decodes each input with all of them). */
extern const struct crm_jschema *const crm_schema_all[];

#endif
