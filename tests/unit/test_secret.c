/* test_secret.c -- API key text, SHA-256 (known vectors), the constant-time compare, scopes */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "crm/domain.h"
#include "crm/secret.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* FIPS 180-2 examples and the empty string. */
static void test_sha256(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
			"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	};
	uint8_t h[CRM_SHA256_LEN];
	char text[2 * CRM_SHA256_LEN + 1];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		crm_secret_sha256(v[i].in, strlen(v[i].in), h);
		hex(h, sizeof(h), text);
		CHECK_STR(text, v[i].out);
	}
}

static void test_equal(void)
{
	uint8_t a[CRM_SHA256_LEN] = {0}, b[CRM_SHA256_LEN] = {0};

	CHECK(crm_secret_equal(a, b, sizeof(a)));
	b[31] = 1;
	CHECK(!crm_secret_equal(a, b, sizeof(a)));
	b[31] = 0, b[0] = 0x80;
	CHECK(!crm_secret_equal(a, b, sizeof(a)));
}

static void test_parse_format(void)
{
	static const char good[] =
		"crm_0123456789abcdef_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	static const char *const bad[] = {
		"",
		"crm_",
		"crm_0123456789abcdef",
		"crm_0123456789abcdef_",
		"CRM_0123456789abcdef_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"crm_0123456789ABCDEF_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"crm_0123456789abcdef-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"crm_0123456789abcdef_00112233445566778899aabbccddeeff00112233445566778899aabbccddeef",
		"crm_0123456789abcdef_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
		"crm_0123456789abcdeg_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"crm_0123456789abcdef_00112233445566778899aabbccddeeff00112233445566778899aabbccddee f",
		" crm_0123456789abcdef_00112233445566778899aabbccddeeff00112233445566778899aabbccddeef",
	};
	struct crm_key_text k, k2;
	char text[CRM_KEY_LEN + 1];
	uint8_t h[CRM_SHA256_LEN], h2[CRM_SHA256_LEN];
	struct crm_err err;

	CHECK(CRM_KEY_LEN == 85 && strlen(good) == CRM_KEY_LEN);
	CHECK(crm_secret_key_parse(good, &k));
	CHECK_STR(k.public_id, "0123456789abcdef");
	CHECK_STR(k.secret, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	crm_secret_key_format(&k, text);
	CHECK_STR(text, good);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(!crm_secret_key_parse(bad[i], &k2));
		if (crm_secret_key_parse(bad[i], &k2))
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
	}
	CHECK(!crm_secret_key_parse(NULL, &k2));
	/* the stored hash is SHA-256 of the secret's text */
	crm_secret_key_hash(&k, h);
	crm_secret_sha256(k.secret, strlen(k.secret), h2);
	CHECK(memcmp(h, h2, sizeof(h)) == 0);
	/* generated keys parse back, and two are never the same */
	crm_err_init(&err);
	CHECK(crm_secret_key_generate(&k, &err) && crm_secret_key_generate(&k2, &err));
	crm_secret_key_format(&k, text);
	CHECK(crm_secret_key_parse(text, &k2) && strcmp(k2.secret, k.secret) == 0);
	CHECK(crm_secret_key_generate(&k2, &err) && strcmp(k.secret, k2.secret) != 0 &&
		strcmp(k.public_id, k2.public_id) != 0);
}

static void test_scopes(void)
{
	char text[64];
	int64_t ids[] = {3, 7};
	struct crm_principal p = {1, "x", CRM_SCOPE_INTAKE, ids, 2};

	CHECK(crm_scope_from_name("admin") == CRM_SCOPE_ADMIN && crm_scope_from_name("read") == CRM_SCOPE_READ);
	CHECK(crm_scope_from_name("public") == 0 && crm_scope_from_name("Admin") == 0 && crm_scope_from_name("") == 0);
	CHECK_STR(crm_scope_name(CRM_SCOPE_AGENT), "agent");
	CHECK(crm_scope_name(CRM_SCOPE_PUBLIC) == NULL);
	crm_scopes_describe(CRM_SCOPE_ADMIN | CRM_SCOPE_AGENT | CRM_SCOPE_READ, text, sizeof(text));
	CHECK_STR(text, "admin, agent or read");
	crm_scopes_describe(CRM_SCOPE_ADMIN, text, sizeof(text));
	CHECK_STR(text, "admin");
	crm_scopes_describe(0, text, sizeof(text));
	CHECK_STR(text, "");
	CHECK(crm_principal_may_use_source(&p, 7) && !crm_principal_may_use_source(&p, 4));
	p.source_ids = NULL;
	CHECK(crm_principal_may_use_source(&p, 4));
	p.source_ids = ids, p.scopes |= CRM_SCOPE_ADMIN;
	CHECK(crm_principal_may_use_source(&p, 4));
}

int main(void)
{
	test_sha256();
	test_equal();
	test_parse_format();
	test_scopes();
	return check_done("secret");
}
