/* schema.c -- the JSON schemas of the request bodies (see schema.h)
 *
 * Moved here from the handler files so that tests and the fuzzer decode with the very tables
 * production uses. Field counts come from the arrays (CRM_JSCHEMA), never typed by hand.
 */
#include "crm/schema.h"

#include <stddef.h>

#include "crm/domain.h"
#include "crm/schedule.h"
#include "crm/simulate.h"

#define OB(m) offsetof(struct crm_operator_body, m)
#define SB(m) offsetof(struct crm_source_body, m)
#define SI(m) offsetof(struct crm_source_operator_item, m)
#define SOB(m) offsetof(struct crm_source_operators_body, m)
#define SS(m) offsetof(struct crm_source_simulate_body, m)
#define CB(m) offsetof(struct crm_contact_body, m)
#define CP(m) offsetof(struct crm_contact_patch_body, m)
#define KB(m) offsetof(struct crm_key_body, m)
#define SH(m) offsetof(struct crm_schedule_shift_body, m)
#define SC(m) offsetof(struct crm_schedule_body, m)

/* the parts' syntax is schedule.c's: here only types and generous lengths */
static const struct crm_jfield schedule_shift_fields[] = {
	{"day", CRM_JT_STRING, CRM_JF_REQUIRED, 1, 16, SH(day), CRM_JNOSEEN, NULL},
	{"from", CRM_JT_STRING, CRM_JF_REQUIRED, 1, 16, SH(from), CRM_JNOSEEN, NULL},
	{"to", CRM_JT_STRING, CRM_JF_REQUIRED, 1, 16, SH(to), CRM_JNOSEEN, NULL},
};
static const struct crm_jschema schedule_shift_schema =
	CRM_JSCHEMA(schedule_shift_fields, struct crm_schedule_shift_body);

static const struct crm_jfield schedule_day_off_fields[] = {
	{NULL, CRM_JT_STRING, 0, 1, 16, 0, CRM_JNOSEEN, NULL},
};
static const struct crm_jschema schedule_day_off_schema = CRM_JSCHEMA(schedule_day_off_fields, const char *);

static const struct crm_jfield schedule_fields[] = {
	{"timezone", CRM_JT_STRING, CRM_JF_REQUIRED, 1, CRM_SCHEDULE_ZONE_MAX, SC(timezone), CRM_JNOSEEN, NULL},
	{"weekly", CRM_JT_ARRAY, CRM_JF_REQUIRED, 0, CRM_SCHEDULE_SHIFTS_MAX, SC(weekly), CRM_JNOSEEN,
		&schedule_shift_schema},
	{"days_off", CRM_JT_ARRAY, 0, 0, CRM_SCHEDULE_DAYS_OFF_MAX, SC(days_off), CRM_JNOSEEN,
		&schedule_day_off_schema},
};
static const struct crm_jschema schedule_schema = CRM_JSCHEMA(schedule_fields, struct crm_schedule_body);

static const struct crm_jfield operator_create_fields[] = {
	{"name", CRM_JT_STRING, CRM_JF_REQUIRED | CRM_JF_TRIM, 1, CRM_NAME_MAX, OB(name), CRM_JNOSEEN, NULL},
	{"is_active", CRM_JT_BOOL, 0, 0, 0, OB(is_active), OB(has_is_active), NULL},
	{"max_load_limit", CRM_JT_INT, CRM_JF_REQUIRED, 0, CRM_LIMIT_MAX, OB(max_load_limit), CRM_JNOSEEN, NULL},
	{"schedule", CRM_JT_OBJECT, CRM_JF_NULLABLE, 0, 0, OB(schedule), OB(has_schedule), &schedule_schema},
};
const struct crm_jschema crm_schema_operator_create = CRM_JSCHEMA(operator_create_fields, struct crm_operator_body);

static const struct crm_jfield operator_patch_fields[] = {
	{"name", CRM_JT_STRING, CRM_JF_TRIM, 1, CRM_NAME_MAX, OB(name), OB(has_name), NULL},
	{"is_active", CRM_JT_BOOL, 0, 0, 0, OB(is_active), OB(has_is_active), NULL},
	{"max_load_limit", CRM_JT_INT, 0, 0, CRM_LIMIT_MAX, OB(max_load_limit), OB(has_max_load_limit), NULL},
	{"schedule", CRM_JT_OBJECT, CRM_JF_NULLABLE, 0, 0, OB(schedule), OB(has_schedule), &schedule_schema},
};
const struct crm_jschema crm_schema_operator_patch = CRM_JSCHEMA(operator_patch_fields, struct crm_operator_body);

static const struct crm_jfield source_create_fields[] = {
	{"name", CRM_JT_STRING, CRM_JF_REQUIRED | CRM_JF_TRIM, 1, CRM_NAME_MAX, SB(name), CRM_JNOSEEN, NULL},
	{"description", CRM_JT_STRING, CRM_JF_NULLABLE, 0, CRM_DESCRIPTION_MAX, SB(description), CRM_JNOSEEN, NULL},
};
const struct crm_jschema crm_schema_source_create = CRM_JSCHEMA(source_create_fields, struct crm_source_body);

#define SP(m) offsetof(struct crm_source_patch_body, m)
static const struct crm_jfield source_patch_fields[] = {
	{"name", CRM_JT_STRING, CRM_JF_TRIM, 1, CRM_NAME_MAX, SP(name), SP(has_name), NULL},
	{"description", CRM_JT_STRING, CRM_JF_NULLABLE, 0, CRM_DESCRIPTION_MAX, SP(description), SP(has_description),
		NULL},
	/* null: no timeout (it decodes as 0, below the range) */
	{"accept_timeout_seconds", CRM_JT_INT, CRM_JF_NULLABLE, 5, 86400, SP(accept_timeout_seconds),
		SP(has_accept_timeout), NULL},
	/* weighted_random or least_loaded: the value is checked by the handler */
	{"mode", CRM_JT_STRING, 0, 0, 32, SP(mode), SP(has_mode), NULL},
	/* null: not sticky (it decodes as 0, below the range) */
	{"sticky_window_seconds", CRM_JT_INT, CRM_JF_NULLABLE, 1, 31536000, SP(sticky_window_seconds),
		SP(has_sticky_window), NULL},
};
const struct crm_jschema crm_schema_source_patch = CRM_JSCHEMA(source_patch_fields, struct crm_source_patch_body);

static const struct crm_jfield source_operator_item_fields[] = {
	{"operator_id", CRM_JT_INT, CRM_JF_REQUIRED, 1, CRM_ID_MAX, SI(operator_id), CRM_JNOSEEN, NULL},
	{"weight", CRM_JT_INT, CRM_JF_REQUIRED, 1, CRM_WEIGHT_MAX, SI(weight), CRM_JNOSEEN, NULL},
};
static const struct crm_jschema source_operator_item_schema =
	CRM_JSCHEMA(source_operator_item_fields, struct crm_source_operator_item);

static const struct crm_jfield source_operators_fields[] = {
	{"operators", CRM_JT_ARRAY, CRM_JF_REQUIRED, 0, CRM_SOURCE_OPERATORS_MAX, SOB(operators), CRM_JNOSEEN,
		&source_operator_item_schema},
};
const struct crm_jschema crm_schema_source_operators =
	CRM_JSCHEMA(source_operators_fields, struct crm_source_operators_body);

/* the preview's items are those of POST /api/sources/{id}/operators, checked the same way */
static const struct crm_jfield source_simulate_fields[] = {
	{"contacts", CRM_JT_INT, CRM_JF_REQUIRED, 1, CRM_SIM_CONTACTS_MAX, SS(contacts), CRM_JNOSEEN, NULL},
	{"operators", CRM_JT_ARRAY, 0, 0, CRM_SOURCE_OPERATORS_MAX, SS(operators), SS(has_operators),
		&source_operator_item_schema},
};
const struct crm_jschema crm_schema_source_simulate =
	CRM_JSCHEMA(source_simulate_fields, struct crm_source_simulate_body);

static const struct crm_jfield contact_create_fields[] = {
	{"email", CRM_JT_STRING, CRM_JF_REQUIRED, 0, 1000, CB(email), CRM_JNOSEEN, NULL},
	/* any integer: an id that names no source is 404, like any unknown source */
	{"source_id", CRM_JT_INT, CRM_JF_REQUIRED, -CRM_ID_MAX, CRM_ID_MAX, CB(source_id), CRM_JNOSEEN, NULL},
};
const struct crm_jschema crm_schema_contact_create = CRM_JSCHEMA(contact_create_fields, struct crm_contact_body);

static const struct crm_jfield contact_patch_fields[] = {
	{"status", CRM_JT_STRING, 0, 0, 16, CP(status), CP(has_status), NULL},
	/* null returns the contact to the queue; it decodes as 0, which no operator has */
	{"operator_id", CRM_JT_INT, CRM_JF_NULLABLE, 1, CRM_ID_MAX, CP(operator_id), CP(has_operator), NULL},
	/* only true (handlers_contacts.c): accepts the contact */
	{"accepted", CRM_JT_BOOL, 0, 0, 0, CP(accepted), CP(has_accepted), NULL},
};
const struct crm_jschema crm_schema_contact_patch = CRM_JSCHEMA(contact_patch_fields, struct crm_contact_patch_body);

/* Scalar elements: one field without a name (json.h). Scope names are checked by the service. */
static const struct crm_jfield scope_item_fields[] = {
	{NULL, CRM_JT_STRING, 0, 1, 16, 0, CRM_JNOSEEN, NULL},
};
static const struct crm_jschema scope_item_schema = CRM_JSCHEMA(scope_item_fields, const char *);

static const struct crm_jfield source_id_item_fields[] = {
	{NULL, CRM_JT_INT, 0, 1, CRM_ID_MAX, 0, CRM_JNOSEEN, NULL},
};
static const struct crm_jschema source_id_item_schema = CRM_JSCHEMA(source_id_item_fields, int64_t);

static const struct crm_jfield key_create_fields[] = {
	{"name", CRM_JT_STRING, CRM_JF_REQUIRED | CRM_JF_TRIM, 1, CRM_NAME_MAX, KB(name), CRM_JNOSEEN, NULL},
	{"scopes", CRM_JT_ARRAY, CRM_JF_REQUIRED, 1, 5, KB(scopes), CRM_JNOSEEN, &scope_item_schema},
	{"source_ids", CRM_JT_ARRAY, CRM_JF_NULLABLE, 1, CRM_KEY_SOURCES_MAX, KB(source_ids), CRM_JNOSEEN,
		&source_id_item_schema},
};
const struct crm_jschema crm_schema_key_create = CRM_JSCHEMA(key_create_fields, struct crm_key_body);

const struct crm_jschema *const crm_schema_all[] = {
	&crm_schema_operator_create,
	&crm_schema_operator_patch,
	&crm_schema_source_create,
	&crm_schema_source_operators,
	&crm_schema_source_simulate,
	&crm_schema_contact_create,
	&crm_schema_contact_patch,
	&crm_schema_source_patch,
	&crm_schema_key_create,
	NULL,
};
