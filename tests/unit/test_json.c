/* test_json.c -- strict decoding rules, error reporting and the writer
 *
 * The decoding rules are tried on the production schemas of the API's request bodies
 * (schema.c), so a test fails when a limit or a flag of a real body changes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "crm/domain.h"
#include "crm/json.h"
#include "crm/json_valid.h"
#include "crm/schema.h"

static struct crm_arena *arena;

static bool decode(const struct crm_jschema *schema, const char *text, void *out, struct crm_err *err)
{
	crm_err_init(err);
	return crm_json_decode(text, strlen(text), schema, out, arena, err);
}

static void expect_field_error(const struct crm_jschema *schema, const char *text, const char *field)
{
	union crm_body b;
	struct crm_err err;

	CHECK(!decode(schema, text, &b, &err));
	CHECK(err.code == CRM_E_INVALID);
	CHECK(err.nfields >= 1);
	if (err.code != CRM_E_INVALID)
		fprintf(stderr, "  input: %.80s -> %s\n", text, crm_err_name(err.code));
	if (err.nfields >= 1)
		CHECK_STR(err.fields[0].field, field);
}

static void expect_bad_json(const char *text)
{
	union crm_body b;
	struct crm_err err;

	CHECK(!decode(&crm_schema_operator_create, text, &b, &err));
	CHECK(err.code == CRM_E_BAD_JSON);
}

/* {"<key>":"<n times c>"<rest>} in the arena */
static const char *long_string(const char *key, size_t n, char c, const char *rest)
{
	size_t len = strlen(key) + n + strlen(rest) + 16;
	char *s = crm_arena_alloc(arena, len), *p;

	p = s + snprintf(s, len, "{\"%s\":\"", key);
	memset(p, c, n);
	snprintf(p + n, len - (size_t)(p + n - s), "\"%s}", rest);
	return s;
}

/* {"operators":[n items]} in the arena */
static const char *operators(size_t n)
{
	struct crm_buf b;
	char *s;

	crm_buf_init(&b);
	crm_buf_puts(&b, "{\"operators\":[");
	for (size_t i = 0; i < n; i++)
		crm_buf_printf(&b, "%s{\"operator_id\":%zu,\"weight\":1}", i ? "," : "", i + 1);
	crm_buf_puts(&b, "]}");
	s = crm_arena_strdup(arena, b.data);
	crm_buf_finish(&b);
	return s;
}

static void test_valid(void)
{
	union crm_body b;
	struct crm_err err;
	const struct crm_source_operator_item *it;

	CHECK(decode(&crm_schema_operator_create,
		"{\"name\":\"  Ann \",\"max_load_limit\":5,\"is_active\":false,"
		"\"unknown\":[1,{\"x\":2}]}",
		&b, &err));
	CHECK_STR(b.op.name, "Ann");
	CHECK(b.op.max_load_limit == 5 && !b.op.is_active && b.op.has_is_active);
	CHECK(decode(&crm_schema_operator_create, "{\"name\":\"\\u00e9t\\u00e9\",\"max_load_limit\":0}", &b, &err));
	CHECK(!b.op.has_is_active && b.op.max_load_limit == 0); /* 3 characters, 5 bytes */
	CHECK(decode(&crm_schema_operator_create, long_string("name", CRM_NAME_MAX, 'n', ",\"max_load_limit\":1000000"),
		&b, &err));
	CHECK(decode(&crm_schema_operator_patch, "{\"is_active\":true}", &b, &err));
	CHECK(b.op.has_is_active && b.op.is_active && !b.op.has_name && !b.op.has_max_load_limit);

	CHECK(decode(&crm_schema_source_create, "{\"name\":\"x\",\"description\":null}", &b, &err));
	CHECK(b.src.description == NULL);
	CHECK(decode(&crm_schema_source_create, long_string("description", CRM_DESCRIPTION_MAX, 'd', ",\"name\":\"x\""),
		&b, &err));

	CHECK(decode(&crm_schema_source_operators,
		" {\"operators\":[{\"operator_id\":1,\"weight\":10},"
		"{\"operator_id\":9007199254740991,\"weight\":1000000}]} \n",
		&b, &err));
	CHECK(b.so.operators.n == 2);
	it = b.so.operators.items;
	CHECK(it[0].operator_id == 1 && it[0].weight == 10 && it[1].operator_id == CRM_ID_MAX &&
		it[1].weight == 1000000);
	CHECK(decode(&crm_schema_source_operators, "{\"operators\":[]}", &b, &err) && b.so.operators.n == 0);
	CHECK(decode(&crm_schema_source_operators, operators(CRM_SOURCE_OPERATORS_MAX), &b, &err));

	CHECK(decode(&crm_schema_contact_create, "{\"email\":\"a@b.co\",\"source_id\":-5}", &b, &err));
	CHECK(b.contact.source_id == -5); /* any integer: an unknown source is 404, not 422 */
	CHECK(decode(&crm_schema_contact_patch, "{\"operator_id\":null}", &b, &err));
	CHECK(b.patch.has_operator && b.patch.operator_id == 0 && !b.patch.has_status);
	CHECK(decode(&crm_schema_contact_patch, "{\"status\":\"closed\",\"operator_id\":3}", &b, &err));
	CHECK_STR(b.patch.status, "closed");
	CHECK(b.patch.has_status && b.patch.operator_id == 3);
}

static void test_types(void)
{
	const struct crm_jschema *op = &crm_schema_operator_create, *so = &crm_schema_source_operators;

	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":\"5\"}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":5.5}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":5.0}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":1e2}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":true}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":-1}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":1000001}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":9223372036854775808}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":100000000000000000000000000000}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":null}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\"}", "max_load_limit");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":1,\"is_active\":\"true\"}", "is_active");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":1,\"is_active\":1}", "is_active");
	expect_field_error(op, "{\"name\":\"x\",\"max_load_limit\":1,\"is_active\":null}", "is_active");
	expect_field_error(op, "{\"name\":5,\"max_load_limit\":1}", "name");
	expect_field_error(op, "{\"name\":\"   \",\"max_load_limit\":1}", "name");
	expect_field_error(op, long_string("name", CRM_NAME_MAX + 1, 'n', ",\"max_load_limit\":1"), "name");
	expect_field_error(op, "{\"name\":\"a\\u0000b\",\"max_load_limit\":1}", "name");
	expect_field_error(op, "{\"max_load_limit\":1}", "name");
	expect_field_error(&crm_schema_operator_patch, "{\"name\":\"\"}", "name");
	expect_field_error(&crm_schema_operator_patch, "{\"max_load_limit\":null}", "max_load_limit");
	expect_field_error(&crm_schema_source_create,
		long_string("description", CRM_DESCRIPTION_MAX + 1, 'd', ",\"name\":\"x\""), "description");
	expect_field_error(so, "{}", "operators");
	expect_field_error(so, "{\"operators\":{}}", "operators");
	expect_field_error(so, "{\"operators\":[1]}", "operators[0]");
	expect_field_error(so, "{\"operators\":[{\"operator_id\":1,\"weight\":1},{\"operator_id\":2,\"weight\":0}]}",
		"operators[1].weight");
	expect_field_error(so, "{\"operators\":[{\"operator_id\":1}]}", "operators[0].weight");
	expect_field_error(so, "{\"operators\":[{\"operator_id\":9007199254740992,\"weight\":1}]}",
		"operators[0].operator_id");
	expect_field_error(so, operators(CRM_SOURCE_OPERATORS_MAX + 1), "operators");
	expect_field_error(&crm_schema_contact_create, "{\"email\":\"a@b.co\",\"source_id\":9007199254740992}",
		"source_id");
	expect_field_error(&crm_schema_contact_create, "{\"source_id\":1}", "email");
	expect_field_error(&crm_schema_contact_patch, "{\"operator_id\":0}", "operator_id");
	expect_field_error(&crm_schema_contact_patch, "{\"status\":\"closed and then some\"}", "status");
	expect_field_error(op, "[]", "body");
	expect_field_error(op, "\"x\"", "body");
	expect_field_error(op, "null", "body");
}

static void test_all_fields_reported(void)
{
	union crm_body b;
	struct crm_err err;

	CHECK(!decode(&crm_schema_operator_create, "{\"name\":5,\"max_load_limit\":\"x\",\"is_active\":0}", &b, &err));
	CHECK(err.nfields == 3);
	CHECK_STR(err.fields[0].field, "name");
	CHECK_STR(err.fields[1].field, "is_active");
	CHECK_STR(err.fields[2].field, "max_load_limit");
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
	expect_bad_json("{\"name\":\"x\",\"max_load_limit\":NaN}");
	expect_bad_json("{\"name\":\"x\",\"max_load_limit\":-Infinity}");
	expect_bad_json("{\"name\":\"x\",\"max_load_limit\":nan}");
	expect_bad_json("{\"name\":\"a\tb\"}");
	expect_bad_json("{\"name\":\"a\nb\"}");
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	expect_bad_json(deep);
}

/* --- strict JSON (json_valid.c): the grammar of RFC 8259, before json-c sees the text --- */

struct doc {
	const char *text;
	size_t len; /* 0: strlen(text) */
};

#define DOC(s)                     \
	{                          \
		(s), sizeof(s) - 1 \
	}

/* JSON texts that must pass, each also as a member value that json-c then decodes. */
static const struct doc json_ok[] = {
	DOC("{}"), DOC("[]"), DOC("5"), DOC("-0"), DOC("0.5"), DOC("-0.0e+0"), DOC("1E-2"), DOC("1.5e10"),
	DOC("123456789012345678901234567890"), DOC("\"x\""), DOC("null"), DOC("true"), DOC("false"),
	DOC(" \t\r\n{ \"a\" : [ 1 , { } , [ ] ] } \t\r\n"),
	DOC("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u00E9 \\u0041\""),
	DOC("\"\\ud83d\\ude00\""),                 /* a surrogate pair: U+1F600 */
	DOC("\"\\udbff\\udfff\""),                 /* U+10FFFF */
	DOC("\"\xf0\x9f\x98\x80\""),               /* U+1F600 raw */
	DOC("\"\xf4\x8f\xbf\xbf\""),               /* U+10FFFF raw, the last code point */
	DOC("\"\xed\x9f\xbf \xee\x80\x80\""),      /* U+D7FF and U+E000 around the surrogates */
	DOC("\"\xef\xbb\xbf \xef\xbf\xbf\""),      /* U+FEFF inside a string, U+FFFF */
	DOC("\"\xc2\x80 \xdf\xbf \xe0\xa0\x80\""), /* the smallest 2- and 3-byte forms */
	DOC("\"\x7f\""),                           /* DEL is not a control character for JSON */
	DOC("[{\"a\":1},{\"a\":2}]"),              /* the same name in two objects */
	DOC("{\"a\":{\"a\":{\"a\":1}},\"b\":1}"), DOC("{\"a\":1,\"ab\":2,\"b\":3,\"\":4,\"A\":5}"),
	DOC("{\"\\u00e9\":1,\"e\\u0301\":2}"), /* NFC and NFD of é are two names for JSON */
	DOC("{\"x\":\"a\\u0000b\"}"),          /* NUL in a value: JSON; the decoder refuses it (422) */
};

/* Texts that are not JSON, or not I-JSON (duplicate names, NUL in a name). */
static const struct doc json_bad[] = {
	DOC(""),
	DOC(" "),
	DOC("{"),
	DOC("["),
	DOC("{\"a\""),
	DOC("{\"a\":"),
	DOC("{\"a\":1"),
	DOC("\"abc"),
	DOC("\"\\"),
	DOC("\"\\u12"),
	DOC("tru"),
	DOC("-"),
	DOC("1."),
	DOC("1e"),
	DOC("1e+"),
	/* single quotes, including the member named '"' that fooled the old pre-scan */
	DOC("{'name':'x'}"),
	DOC("{'operators':[]}"),
	DOC("{'is_active':false}"),
	DOC("{'\"':1,\"name\":\"a\x01z\",\"max_load_limit\":1}"),
	DOC("{\"name\":'x'}"),
	/* what json-c tolerates */
	DOC("{\"a\":1,}"),
	DOC("[1,]"),
	DOC("[,1]"),
	DOC("{,}"),
	DOC("[1,,2]"),
	DOC("{\"a\":1 /* c */}"),
	DOC("{\"a\":1} // c"),
	DOC("# c\n{}"),
	DOC("[NaN]"),
	DOC("[nan]"),
	DOC("[Infinity]"),
	DOC("[-Infinity]"),
	DOC("[01]"),
	DOC("[-01]"),
	DOC("[00]"),
	DOC("[0x10]"),
	DOC("[+1]"),
	DOC("[.5]"),
	DOC("[1.e5]"),
	DOC("[-]"),
	DOC("[True]"),
	DOC("[nul]"),
	DOC("[nulls]"),
	DOC("{\"a\":x}"),
	DOC("{a:1}"),
	DOC("[undefined]"),
	/* raw control bytes in strings, bad escapes */
	DOC("[\"a\x01z\"]"),
	DOC("[\"a\x1fz\"]"),
	DOC("[\"a\tz\"]"),
	DOC("[\"a\nz\"]"),
	DOC("[\"a\x00z\"]"),
	DOC("[\"\\x41\"]"),
	DOC("[\"\\U0041\"]"),
	DOC("[\"\\u00g0\"]"),
	DOC("[\"\\a\"]"),
	DOC("[\"\\'\"]"),
	/* structure */
	DOC("[1 2]"),
	DOC("{\"a\" 1}"),
	DOC("{\"a\":}"),
	DOC("{1:2}"),
	DOC("]"),
	DOC("{]"),
	DOC("[}"),
	DOC("{}}"),
	DOC("{} {}"),
	DOC("{} x"),
	DOC("{}\f"),
	DOC("\v{}"),
	DOC("\xef\xbb\xbf{}"),
	DOC("\x00{}"),
	DOC("{}\x00"),
	/* duplicate member names, compared decoded; NUL in a name */
	DOC("{\"name\":\"a\",\"name\":\"b\"}"),
	DOC("{\"name\":\"a\",\"n\\u0061me\":\"b\"}"),
	DOC("{\"\\u00e9\":1,\"\xc3\xa9\":2}"),
	DOC("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"),
	DOC("{\"a\":1,\"b\":{\"c\":1,\"c\":2}}"),
	DOC("[{\"a\":1,\"b\":2,\"a\":3}]"),
	DOC("{\"\":1,\"\":2}"),
	DOC("{\"max_load_limit\\u0000x\":1}"),
	DOC("{\"\\u0000\":1}"),
	/* invalid UTF-8 */
	DOC("[\"\xc0\xaf\"]"), /* overlong '/' */
	DOC("[\"\xc1\xbf\"]"),
	DOC("[\"\xe0\x80\xaf\"]"),
	DOC("[\"\xf0\x80\x80\xaf\"]"), /* overlong */
	DOC("[\"\xed\xa0\x80\"]"),
	DOC("[\"\xed\xbf\xbf\"]"),             /* surrogates in UTF-8 */
	DOC("[\"\xed\xa0\xbd\xed\xb8\x80\"]"), /* CESU-8 of U+1F600 */
	DOC("[\"\xf4\x90\x80\x80\"]"),
	DOC("[\"\xf5\x80\x80\x80\"]"),
	DOC("[\"\xff\"]"),
	DOC("[\"\xfe\"]"),
	DOC("[\"\x80\"]"),
	DOC("[\"\xbf\"]"),
	DOC("[\"\xc3\"]"),
	DOC("[\"\xe2\x82\"]"),
	DOC("[\"\xf0\x9f\x98\"]"),
	DOC("[\"\xc3"),
	DOC("{\"\xc3\xa9\xc3\":1}"),
	DOC("[\"\xc3\x28\"]"),
	/* lone or broken surrogate escapes */
	DOC("[\"\\ud800\"]"),
	DOC("[\"\\udc00\"]"),
	DOC("[\"\\udfff\"]"),
	DOC("[\"\\ud800x\"]"),
	DOC("[\"\\ud800\\u0041\"]"),
	DOC("[\"\\udbff\\udbff\"]"),
	DOC("[\"\\ude00\\ud83d\"]"),
	DOC("[\"\\ud800\\n\"]"),
	DOC("[\"\\ud800\\"),
	DOC("{\"\\ud800\":1}"),
};

static bool validates(const struct doc *d, struct crm_err *err)
{
	crm_err_init(err);
	return crm_json_validate(d->text, d->len, arena, err);
}

static void test_strict_accepts(void)
{
	for (size_t i = 0; i < CRM_COUNT(json_ok); i++) {
		struct crm_err err;
		char wrapped[512];
		union crm_body b;

		CHECK(validates(&json_ok[i], &err));
		if (err.code != CRM_E_OK)
			fprintf(stderr, "  json_ok[%zu] %s: %s\n", i, json_ok[i].text, err.detail);
		/* json-c must agree: the text as an unknown member of a valid body decodes */
		snprintf(wrapped, sizeof(wrapped), "{\"name\":\"x\",\"max_load_limit\":1,\"extra\":%s}",
			json_ok[i].text);
		CHECK(decode(&crm_schema_operator_create, wrapped, &b, &err));
		if (err.code != CRM_E_OK)
			fprintf(stderr, "  json_ok[%zu] wrapped: %s\n", i, err.detail);
	}
}

static void test_strict_refuses(void)
{
	for (size_t i = 0; i < CRM_COUNT(json_bad); i++) {
		struct crm_err err;
		union crm_body b;

		CHECK(!validates(&json_bad[i], &err) && err.code == CRM_E_BAD_JSON);
		if (err.code != CRM_E_BAD_JSON)
			fprintf(stderr, "  json_bad[%zu] accepted: %.60s\n", i, json_bad[i].text);
		/* and the decoder says 400, whatever the schema */
		crm_err_init(&err);
		CHECK(!crm_json_decode(json_bad[i].text, json_bad[i].len, &crm_schema_source_operators, &b, arena,
			&err));
		CHECK(err.code == CRM_E_BAD_JSON && err.nfields == 0);
	}
}

/* What the decoder makes of what passed: pairs, names, the place of an error. */
static void test_strict_decoded(void)
{
	union crm_body b;
	struct crm_err err;

	CHECK(decode(&crm_schema_operator_create, "{\"name\":\"\\ud83d\\ude00 \\u00e9\",\"max_load_limit\":1}", &b,
		&err));
	CHECK_STR(b.op.name, "\xf0\x9f\x98\x80 \xc3\xa9");
	CHECK(decode(&crm_schema_operator_create, "{\"n\\u0061me\":\"x\",\"max_load_limit\":1}", &b, &err));
	CHECK_STR(b.op.name, "x");
	CHECK(!decode(&crm_schema_operator_create, "{\"name\":\"x\",\"name\":\"y\",\"max_load_limit\":1}", &b, &err));
	CHECK(err.code == CRM_E_BAD_JSON && strstr(err.detail, "duplicate member name") != NULL);
	CHECK(!decode(&crm_schema_operator_create, "{\"max_load_limit\\u0000x\":1,\"name\":\"x\"}", &b, &err));
	CHECK(err.code == CRM_E_BAD_JSON && strstr(err.detail, "at byte 1") != NULL);
	CHECK(!decode(&crm_schema_operator_create, "[\"\xc0\xaf\"]", &b, &err));
	CHECK(strstr(err.detail, "invalid UTF-8 at byte 2") != NULL);
	CHECK(!decode(&crm_schema_operator_create, "{\"name\":\"x\"", &b, &err));
	CHECK_STR(err.detail, "request body is not complete JSON");
	CHECK(!decode(&crm_schema_operator_create, "{} {}", &b, &err));
	CHECK_STR(err.detail, "request body has data after the JSON value");
}

/* Many names: distinct ones pass, one repeat among them is found, in any order. */
static void test_strict_many_names(void)
{
	struct crm_buf buf;
	struct crm_err err;

	for (int dup = 0; dup < 2; dup++) {
		crm_buf_init(&buf);
		crm_buf_putc(&buf, '{');
		for (int i = 0; i < 5000; i++)
			crm_buf_printf(&buf, "%s\"m%d\":%d", i ? "," : "", (i * 7919) % 5000, i);
		if (dup)
			crm_buf_puts(&buf, ",\"m\\u00344\":0"); /* "m44", escaped */
		crm_buf_putc(&buf, '}');
		crm_err_init(&err);
		CHECK(crm_json_validate(buf.data, buf.len, arena, &err) == !dup);
		crm_buf_finish(&buf);
	}
}

/* {"name":"x","max_load_limit":1,"x":[[...]]} with `arrays` arrays inside the object */
static const char *nested(int arrays)
{
	struct crm_buf b;
	char *s;

	crm_buf_init(&b);
	crm_buf_puts(&b, "{\"name\":\"x\",\"max_load_limit\":1,\"x\":");
	for (int i = 0; i < arrays; i++)
		crm_buf_putc(&b, '[');
	for (int i = 0; i < arrays; i++)
		crm_buf_putc(&b, ']');
	crm_buf_putc(&b, '}');
	s = crm_arena_strdup(arena, b.data);
	crm_buf_finish(&b);
	return s;
}

/* Nesting: CRM_JSON_MAX_DEPTH containers pass (and json-c agrees), one more does not. */
static void test_strict_depth(void)
{
	struct crm_err err;
	union crm_body b;

	CHECK(decode(&crm_schema_operator_create, nested(CRM_JSON_MAX_DEPTH - 1), &b, &err));
	CHECK(!decode(&crm_schema_operator_create, nested(CRM_JSON_MAX_DEPTH), &b, &err));
	CHECK(err.code == CRM_E_BAD_JSON && strstr(err.detail, "nesting too deep") != NULL);
}

static void test_schema_counts(void)
{
	size_t n = 0;

	for (const struct crm_jschema *const *s = crm_schema_all; *s != NULL; s++, n++) {
		CHECK((*s)->nfields >= 1 && (*s)->size > 0);
		for (size_t i = 0; i < (*s)->nfields; i++)
			CHECK((*s)->fields[i].name != NULL && (*s)->fields[i].offset < (*s)->size);
	}
	CHECK(n == 9);
	CHECK(crm_schema_operator_create.nfields == 4 && crm_schema_contact_patch.nfields == 3 &&
		crm_schema_source_patch.nfields == 5);
}

/* PATCH /api/sources/{id}: sticky_window_seconds 1..31536000 or null (0: off), strictly an integer. */
static void test_source_patch_sticky(void)
{
	static const char *const bad[] = {"{\"sticky_window_seconds\":0}", "{\"sticky_window_seconds\":31536001}",
		"{\"sticky_window_seconds\":\"60\"}", "{\"sticky_window_seconds\":true}",
		"{\"sticky_window_seconds\":60.0}", "{\"sticky_window_seconds\":-1}"};
	struct crm_source_patch_body b;
	struct crm_err err;
	const char *on = "{\"sticky_window_seconds\":31536000}";
	const char *off = "{\"sticky_window_seconds\":null}";

	crm_err_init(&err);
	CHECK(crm_json_decode(on, strlen(on), &crm_schema_source_patch, &b, arena, &err));
	CHECK(b.has_sticky_window && b.sticky_window_seconds == 31536000 && !b.has_accept_timeout);
	CHECK(crm_json_decode(off, strlen(off), &crm_schema_source_patch, &b, arena, &err));
	CHECK(b.has_sticky_window && b.sticky_window_seconds == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		crm_err_init(&err);
		CHECK(!crm_json_decode(bad[i], strlen(bad[i]), &crm_schema_source_patch, &b, arena, &err));
		CHECK(err.code == CRM_E_INVALID && err.nfields == 1 &&
			strcmp(err.fields[0].field, "sticky_window_seconds") == 0);
	}
}

/* POST /api/sources/{id}/simulate: contacts 1..100000, an optional preview checked like the
 * configuration's items. */
static void test_simulate_body(void)
{
	static const char *const bad[] = {"{}", "{\"contacts\":0}", "{\"contacts\":100001}", "{\"contacts\":\"5\"}",
		"{\"contacts\":5.0}", "{\"contacts\":null}", "{\"contacts\":1,\"operators\":null}",
		"{\"contacts\":1,\"operators\":[{\"operator_id\":1}]}",
		"{\"contacts\":1,\"operators\":[{\"operator_id\":1,\"weight\":0}]}",
		"{\"contacts\":1,\"operators\":{}}"};
	struct crm_arena *a = crm_arena_create(4096);
	struct crm_source_simulate_body b;
	struct crm_err err;
	const char *ok1 = "{\"contacts\":100000}";
	const char *ok2 = "{\"contacts\":1,\"operators\":[{\"operator_id\":3,\"weight\":1000000}]}";
	const char *ok3 = "{\"contacts\":7,\"operators\":[]}";

	crm_err_init(&err);
	CHECK(crm_json_decode(ok1, strlen(ok1), &crm_schema_source_simulate, &b, a, &err));
	CHECK(b.contacts == 100000 && !b.has_operators);
	CHECK(crm_json_decode(ok2, strlen(ok2), &crm_schema_source_simulate, &b, a, &err));
	CHECK(b.has_operators && b.operators.n == 1);
	CHECK(((const struct crm_source_operator_item *)b.operators.items)[0].weight == 1000000);
	CHECK(crm_json_decode(ok3, strlen(ok3), &crm_schema_source_simulate, &b, a, &err));
	CHECK(b.contacts == 7 && b.has_operators && b.operators.n == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		crm_err_init(&err);
		CHECK(!crm_json_decode(bad[i], strlen(bad[i]), &crm_schema_source_simulate, &b, a, &err));
		CHECK(err.code == CRM_E_INVALID);
	}
	crm_arena_destroy(a);
}

/* POST /api/keys: arrays of scalars, each element checked and named by its index. */
static void test_key_body(void)
{
	struct crm_key_body b;
	struct crm_err err;
	const char *const *scopes;
	const int64_t *ids;

	CHECK(decode(&crm_schema_key_create,
		"{\"name\":\" bot \",\"scopes\":[\"intake\",\"read\"],\"source_ids\":[3,4]}", &b, &err));
	scopes = b.scopes.items;
	ids = b.source_ids.items;
	CHECK_STR(b.name, "bot");
	CHECK(b.scopes.n == 2 && b.source_ids.n == 2);
	CHECK_STR(scopes[0], "intake");
	CHECK_STR(scopes[1], "read");
	CHECK(ids[0] == 3 && ids[1] == 4);
	CHECK(decode(&crm_schema_key_create, "{\"name\":\"x\",\"scopes\":[\"admin\"],\"source_ids\":null}", &b, &err));
	CHECK(b.source_ids.items == NULL);
	CHECK(!decode(&crm_schema_key_create, "{\"name\":\"\",\"scopes\":[1,null,\"\"],\"source_ids\":[0,\"5\"]}", &b,
		&err));
	CHECK(err.nfields == 6);
	CHECK_STR(crm_err_field_at(&err, 0)->field, "name");
	CHECK_STR(crm_err_field_at(&err, 1)->field, "scopes[0]");
	CHECK_STR(crm_err_field_at(&err, 2)->field, "scopes[1]");
	CHECK_STR(crm_err_field_at(&err, 3)->field, "scopes[2]");
	CHECK_STR(crm_err_field_at(&err, 4)->field, "source_ids[0]");
	CHECK_STR(crm_err_field_at(&err, 5)->field, "source_ids[1]");
	CHECK(!decode(&crm_schema_key_create, "{\"name\":\"x\",\"scopes\":[]}", &b, &err));
	CHECK(err.nfields == 1 && strcmp(crm_err_field_at(&err, 0)->field, "scopes") == 0);
}

/* CRM_JT_OBJECT: a nested object into an arena struct, NULL for null, members named "a.b". */
static void test_schedule_body(void)
{
	struct crm_operator_body b;
	struct crm_err err;
	const struct crm_schedule_shift_body *w;
	const char *const *off;

	CHECK(decode(&crm_schema_operator_patch,
		"{\"schedule\":{\"timezone\":\"Asia/Tokyo\",\"weekly\":[{\"day\":\"mon\",\"from\":\"09:00\","
		"\"to\":\"17:00\"}],\"days_off\":[\"2026-12-24\"]}}",
		&b, &err));
	CHECK(b.has_schedule && b.schedule != NULL);
	CHECK_STR(b.schedule->timezone, "Asia/Tokyo");
	w = b.schedule->weekly.items;
	off = b.schedule->days_off.items;
	CHECK(b.schedule->weekly.n == 1 && b.schedule->days_off.n == 1);
	CHECK_STR(w[0].day, "mon");
	CHECK_STR(w[0].from, "09:00");
	CHECK_STR(w[0].to, "17:00");
	CHECK_STR(off[0], "2026-12-24");
	CHECK(decode(&crm_schema_operator_patch, "{\"schedule\":null}", &b, &err));
	CHECK(b.has_schedule && b.schedule == NULL);
	CHECK(decode(&crm_schema_operator_patch, "{\"name\":\"x\"}", &b, &err));
	CHECK(!b.has_schedule && b.schedule == NULL);
	expect_field_error(&crm_schema_operator_patch, "{\"schedule\":[]}", "schedule");
	expect_field_error(&crm_schema_operator_patch, "{\"schedule\":\"x\"}", "schedule");
	CHECK(!decode(&crm_schema_operator_patch,
		"{\"schedule\":{\"weekly\":[{\"day\":1,\"from\":\"09:00\"}],\"days_off\":[5]}}", &b, &err));
	CHECK(err.nfields == 4);
	CHECK_STR(crm_err_field_at(&err, 0)->field, "schedule.timezone");
	CHECK_STR(crm_err_field_at(&err, 1)->field, "schedule.weekly[0].day");
	CHECK_STR(crm_err_field_at(&err, 2)->field, "schedule.weekly[0].to");
	CHECK_STR(crm_err_field_at(&err, 3)->field, "schedule.days_off[0]");
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
	crm_json_problem(&buf, &err, NULL);
	CHECK_STR(buf.data,
		"{\"type\":\"about:blank\",\"title\":\"Unprocessable Content\",\"status\":422,"
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
	test_strict_accepts();
	test_strict_refuses();
	test_strict_decoded();
	test_strict_many_names();
	test_strict_depth();
	test_schema_counts();
	test_source_patch_sticky();
	test_simulate_body();
	test_key_body();
	test_schedule_body();
	test_writer();
	crm_arena_destroy(arena);
	return check_done("json");
}
