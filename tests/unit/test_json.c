/* test_json.c -- strict decoding rules, error reporting and the writer */
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "crm/json.h"

struct item {
	int64_t id;
	int64_t weight;
};

struct body {
	const char *name;
	const char *note;
	int64_t limit;
	bool active, has_active;
	struct crm_jarray items;
};

static const struct crm_jfield item_fields[] = {
	{"id", CRM_JT_INT, CRM_JF_REQUIRED, 1, 1000, offsetof(struct item, id), CRM_JNOSEEN, NULL},
	{"weight", CRM_JT_INT, CRM_JF_REQUIRED, 1, 100, offsetof(struct item, weight), CRM_JNOSEEN, NULL},
};
static const struct crm_jschema item_schema = {item_fields, 2, sizeof(struct item)};

static const struct crm_jfield fields[] = {
	{"name", CRM_JT_STRING, CRM_JF_REQUIRED | CRM_JF_TRIM, 1, 5, offsetof(struct body, name), CRM_JNOSEEN, NULL},
	{"note", CRM_JT_STRING, CRM_JF_NULLABLE, 0, 10, offsetof(struct body, note), CRM_JNOSEEN, NULL},
	{"limit", CRM_JT_INT, 0, 0, 1000000, offsetof(struct body, limit), CRM_JNOSEEN, NULL},
	{"active", CRM_JT_BOOL, 0, 0, 0, offsetof(struct body, active), offsetof(struct body, has_active), NULL},
	{"items", CRM_JT_ARRAY, 0, 0, 3, offsetof(struct body, items), CRM_JNOSEEN, &item_schema},
};
static const struct crm_jschema schema = {fields, 5, sizeof(struct body)};

static struct crm_arena *arena;

static bool decode(const char *text, struct body *b, struct crm_err *err)
{
	crm_err_init(err);
	return crm_json_decode(text, strlen(text), &schema, b, arena, err);
}

static void expect_field_error(const char *text, const char *field)
{
	struct body b;
	struct crm_err err;

	CHECK(!decode(text, &b, &err));
	CHECK(err.code == CRM_E_INVALID);
	CHECK(err.nfields >= 1);
	if (err.code != CRM_E_INVALID)
		fprintf(stderr, "  input: %.80s -> %s\n", text, crm_err_name(err.code));
	if (err.nfields >= 1)
		CHECK_STR(err.fields[0].field, field);
}

static void expect_bad_json(const char *text)
{
	struct body b;
	struct crm_err err;

	CHECK(!decode(text, &b, &err));
	CHECK(err.code == CRM_E_BAD_JSON);
}

static void test_valid(void)
{
	struct body b;
	struct crm_err err;
	const struct item *it;

	CHECK(decode("{\"name\":\"  Ann \",\"limit\":5,\"active\":false,\"unknown\":[1,{\"x\":2}],"
		"\"items\":[{\"id\":1,\"weight\":10},{\"id\":2,\"weight\":30}]}", &b, &err));
	CHECK_STR(b.name, "Ann");
	CHECK(b.limit == 5 && !b.active && b.has_active && b.note == NULL);
	CHECK(b.items.n == 2);
	it = b.items.items;
	CHECK(it[0].id == 1 && it[0].weight == 10 && it[1].id == 2 && it[1].weight == 30);
	CHECK(decode("{\"name\":\"x\",\"note\":null}", &b, &err) && b.note == NULL && !b.has_active);
	CHECK(decode(" {\"name\":\"\\u00e9t\\u00e9\"} \n", &b, &err)); /* 3 characters, 5 bytes */
	CHECK(decode("{\"name\":\"12345\",\"limit\":0}", &b, &err) && b.limit == 0);
}

static void test_types(void)
{
	expect_field_error("{\"name\":\"x\",\"limit\":\"5\"}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":5.5}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":5.0}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":1e2}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":true}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":-1}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":1000001}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":9223372036854775808}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":100000000000000000000000000000}", "limit");
	expect_field_error("{\"name\":\"x\",\"limit\":null}", "limit");
	expect_field_error("{\"name\":\"x\",\"active\":\"true\"}", "active");
	expect_field_error("{\"name\":\"x\",\"active\":1}", "active");
	expect_field_error("{\"name\":\"x\",\"active\":null}", "active");
	expect_field_error("{\"name\":5}", "name");
	expect_field_error("{\"name\":\"   \"}", "name");
	expect_field_error("{\"name\":\"123456\"}", "name");
	expect_field_error("{\"name\":\"a\\u0000b\"}", "name");
	expect_field_error("{\"limit\":1}", "name");
	expect_field_error("{\"name\":\"x\",\"note\":\"01234567890\"}", "note");
	expect_field_error("{\"name\":\"x\",\"items\":{}}", "items");
	expect_field_error("{\"name\":\"x\",\"items\":[1]}", "items[0]");
	expect_field_error("{\"name\":\"x\",\"items\":[{\"id\":1,\"weight\":1},{\"id\":1,\"weight\":0}]}",
		"items[1].weight");
	expect_field_error("{\"name\":\"x\",\"items\":[{\"id\":1}]}", "items[0].weight");
	expect_field_error("{\"name\":\"x\",\"items\":[{},{},{},{}]}", "items");
	expect_field_error("[]", "body");
	expect_field_error("\"x\"", "body");
	expect_field_error("null", "body");
}

static void test_all_fields_reported(void)
{
	struct body b;
	struct crm_err err;

	CHECK(!decode("{\"name\":5,\"limit\":\"x\",\"active\":0}", &b, &err));
	CHECK(err.nfields == 3);
	CHECK_STR(err.fields[0].field, "name");
	CHECK_STR(err.fields[1].field, "limit");
	CHECK_STR(err.fields[2].field, "active");
}

static void test_malformed(void)
{
	char deep[20001];

	expect_bad_json("");
	expect_bad_json("{");
	expect_bad_json("{\"name\":\"x\"");
	expect_bad_json("{\"name\":\"x\",}");
	expect_bad_json("{'name':'x'}");
	expect_bad_json("{\"name\":\"x\"} {}");
	expect_bad_json("{\"name\":\"x\"} garbage");
	expect_bad_json("{\"name\":\"\xff\xfe\"}");
	expect_bad_json("{\"name\":\"x\",\"limit\":NaN}");
	expect_bad_json("{\"name\":\"x\",\"limit\":-Infinity}");
	expect_bad_json("{\"name\":\"x\",\"limit\":nan}");
	expect_bad_json("{\"name\":\"a\tb\"}");
	expect_bad_json("{\"name\":\"a\nb\"}");
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	expect_bad_json(deep);
}

static void test_writer(void)
{
	struct crm_buf buf;
	struct crm_jw w;
	struct crm_err err;

	crm_buf_init(&buf);
	crm_jw_init(&w, &buf);
	crm_jw_arr_begin(&w);
	crm_jw_obj_begin(&w);
	crm_jw_key(&w, "a");
	crm_jw_int(&w, -5);
	crm_jw_key(&w, "s");
	crm_jw_str(&w, "q\"\\\n\x01é");
	crm_jw_key(&w, "n");
	crm_jw_str(&w, NULL);
	crm_jw_key(&w, "b");
	crm_jw_bool(&w, true);
	crm_jw_obj_end(&w);
	crm_jw_arr_begin(&w);
	crm_jw_arr_end(&w);
	crm_jw_int(&w, INT64_MAX);
	crm_jw_arr_end(&w);
	CHECK_STR(buf.data, "[{\"a\":-5,\"s\":\"q\\\"\\\\\\n\\u0001é\",\"n\":null,\"b\":true},[],9223372036854775807]");

	crm_buf_clear(&buf);
	crm_err_init(&err);
	crm_err_field(&err, "weight", "must be > 0");
	crm_json_problem(&buf, &err);
	CHECK_STR(buf.data, "{\"type\":\"about:blank\",\"title\":\"Unprocessable Content\",\"status\":422,"
		"\"detail\":\"the request has invalid fields\",\"errors\":[{\"field\":\"weight\",\"message\":\"must be > 0\"}]}");
	crm_buf_finish(&buf);
}

int main(void)
{
	arena = crm_arena_create(4096);
	test_valid();
	test_types();
	test_all_fields_reported();
	test_malformed();
	test_writer();
	crm_arena_destroy(arena);
	return check_done("json");
}
