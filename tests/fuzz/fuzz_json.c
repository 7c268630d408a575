/* fuzz_json.c -- fuzz target: the strict JSON decoder with the shapes the API decodes
 *
 * Built two ways (tests/fuzz/meson.build): linked with replay.c as a corpus replayer in the
 * "fuzz" test suite, and, with clang, as a libFuzzer binary (-Dfuzz=true) for real fuzzing:
 *   CC=clang meson setup build-fuzz -Dfuzz=true && ninja -C build-fuzz
 *   build-fuzz/tests/fuzz/fuzz_json_libfuzzer tests/fuzz/corpus/json
 * Any crash, sanitizer report or leak is a failure; the decoder's answer itself is not checked.
 */
#include <stddef.h>
#include <stdint.h>

#include "crm/json.h"

struct item {
	int64_t id, weight;
};

struct body {
	const char *name, *note;
	int64_t limit;
	bool active, has_active;
	struct crm_jarray items;
};

static const struct crm_jfield item_fields[] = {
	{"operator_id", CRM_JT_INT, CRM_JF_REQUIRED, 1, 1000, offsetof(struct item, id), CRM_JNOSEEN, NULL},
	{"weight", CRM_JT_INT, CRM_JF_REQUIRED, 1, 100, offsetof(struct item, weight), CRM_JNOSEEN, NULL},
};
static const struct crm_jschema item_schema = {item_fields, 2, sizeof(struct item)};

static const struct crm_jfield fields[] = {
	{"name", CRM_JT_STRING, CRM_JF_REQUIRED | CRM_JF_TRIM, 1, 200, offsetof(struct body, name), CRM_JNOSEEN, NULL},
	{"description", CRM_JT_STRING, CRM_JF_NULLABLE, 0, 2000, offsetof(struct body, note), CRM_JNOSEEN, NULL},
	{"max_load_limit", CRM_JT_INT, 0, 0, 1000000, offsetof(struct body, limit), CRM_JNOSEEN, NULL},
	{"is_active", CRM_JT_BOOL, 0, 0, 0, offsetof(struct body, active), offsetof(struct body, has_active), NULL},
	{"operators", CRM_JT_ARRAY, 0, 0, 1000, offsetof(struct body, items), CRM_JNOSEEN, &item_schema},
};
static const struct crm_jschema schema = {fields, 5, sizeof(struct body)};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crm_arena *a = crm_arena_create(4096);
	struct crm_err err;
	struct crm_buf out;
	struct body b;

	crm_err_init(&err);
	if (!crm_json_decode((const char *)data, size, &schema, &b, a, &err)) {
		crm_buf_init(&out);
		crm_json_problem(&out, &err); /* the error answer must be writable too */
		crm_buf_finish(&out);
	}
	crm_arena_destroy(a);
	return 0;
}
