/* fuzz_json.c -- fuzz target: the strict JSON decoder with every request body schema of the API
 *
 * Built two ways (tests/fuzz/meson.build): linked with replay.c as a corpus replayer in the
 * "fuzz" test suite, and, with clang, as a libFuzzer binary (-Dfuzz=true) for real fuzzing:
 *   CC=clang meson setup build-fuzz -Dfuzz=true && ninja -C build-fuzz
 *   build-fuzz/tests/fuzz/fuzz_json_libfuzzer tests/fuzz/corpus/json
 * Any crash, sanitizer report or leak is a failure. One answer is checked, because two parsers
 * must agree on it: a text the RFC 8259 validator (json_valid.c) accepts is never refused as
 * malformed by json-c afterwards (that would be a grammar json-c and the validator disagree on).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crm/json.h"
#include "crm/json_valid.h"
#include "crm/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crm_arena *a = crm_arena_create(4096);
	struct crm_err verdict;
	bool valid;

	crm_err_init(&verdict);
	valid = crm_json_validate((const char *)data, size, a, &verdict);
	for (const struct crm_jschema *const *schema = crm_schema_all; *schema != NULL; schema++) {
		struct crm_err err;
		struct crm_buf out;
		union crm_body b;

		crm_err_init(&err);
		if (!crm_json_decode((const char *)data, size, *schema, &b, a, &err)) {
			if (valid && err.code == CRM_E_BAD_JSON) {
				fprintf(stderr, "validator accepted what json-c refused: %s\n", err.detail);
				abort();
			}
			crm_buf_init(&out);
			crm_json_problem(&out, &err, "r1"); /* the error answer must be writable too */
			crm_buf_finish(&out);
		}
		crm_arena_reset(a);
	}
	crm_arena_destroy(a);
	return 0;
}
