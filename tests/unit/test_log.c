/* test_log.c -- log lines: control characters, backslashes and bad UTF-8 escaped, context, one line */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "crm/log.h"

static const char *esc(const char *s, size_t len, size_t cap)
{
	static char out[256];

	crm_log_escape(out, cap, s, len);
	return out;
}

#define ESC(lit) esc(lit, sizeof(lit) - 1, 256)

static void test_escape(void)
{
	CHECK_STR(ESC("GET /api/contacts"), "GET /api/contacts");
	CHECK_STR(ESC("a\nb\rc\x1b[31m\x7f"), "a\\x0ab\\x0dc\\x1b[31m\\x7f");
	CHECK_STR(ESC("nul\0x"), "nul\\x00x");
	CHECK_STR(ESC("back\\slash"), "back\\x5cslash");
	CHECK_STR(ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	CHECK_STR(ESC("\xc2\x85next line (C1)"), "\\xc2\\x85next line (C1)");
	CHECK_STR(ESC("\xc0\xaf overlong"), "\\xc0\\xaf overlong");
	CHECK_STR(ESC("\xe0\x80\xaf overlong3"), "\\xe0\\x80\\xaf overlong3");
	CHECK_STR(ESC("\xed\xa0\x80 surrogate"), "\\xed\\xa0\\x80 surrogate");
	CHECK_STR(ESC("\xf4\x90\x80\x80 past U+10FFFF"), "\\xf4\\x90\\x80\\x80 past U+10FFFF");
	CHECK_STR(ESC("cut \xc3"), "cut \\xc3");
	CHECK_STR(ESC("\xff\xfe"), "\\xff\\xfe");
	/* truncation never splits an escape or a character; the result is always terminated */
	CHECK_STR(esc("ab\n", 3, 6), "ab");
	CHECK_STR(esc("ab\n", 3, 7), "ab\\x0a");
	CHECK_STR(esc("a\xc3\xa9", 3, 3), "a");
	CHECK(crm_log_escape(NULL, 0, "x", 1) == 0);
}

/* Logs through crm_log with stderr redirected to a temporary file; returns what was written. */
static const char *logged(void (*emit)(void))
{
	static char out[4096];
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	if (f == NULL || saved < 0)
		abort();
	dup2(fileno(f), STDERR_FILENO);
	emit();
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	return out;
}

static void emit_forged(void)
{
	crm_log_context_set("GET", "/api/contacts/{id}", "k1AbC");
	crm_log_warn("path %s", "/x\n2026-01-01T00:00:00.000Z error [1] forged");
	crm_log_context_clear();
	crm_log_info("after");
}

static void emit_long(void)
{
	static char big[8192];

	memset(big, '\n', sizeof(big) - 1);
	crm_log_error("%s", big);
}

static void test_lines(void)
{
	const char *out = logged(emit_forged);
	const char *nl = strchr(out, '\n');

	CHECK(strstr(out, " warn [") != NULL);
	CHECK(strstr(out,
		      "] [GET /api/contacts/{id} key=k1AbC] path /x\\x0a2026-01-01T00:00:00.000Z error [1] forged\n") !=
		NULL);
	/* exactly two lines, the second without the context */
	CHECK(nl != NULL && strchr(nl + 1, '\n') != NULL && strchr(nl + 1, '\n')[1] == '\0');
	CHECK(nl != NULL && strstr(nl + 1, "] after\n") != NULL && strstr(nl + 1, "key=") == NULL);

	out = logged(emit_long);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line, however long the message */
	CHECK(strstr(out, "\\x0a\\x0a") != NULL);
}

static void emit_request_id(void)
{
	crm_log_context_set("GET\nFORGED-0123456789\x1b[2J", NULL, NULL); /* a raw FastCGI client's method */
	crm_log_info("odd");
	crm_log_context_set("POST", "/api/contacts", "k1AbC");
	crm_log_context_request_id("req-42.a_b");
	crm_log_info("stored");
	crm_log_context_clear();
	crm_log_info("after");
}

static void emit_json(void)
{
	crm_log_set_format(CRM_LOG_JSON);
	crm_log_info("plain");
	crm_log_context_set("GET", NULL, NULL);
	crm_log_context_request_id("abc123");
	crm_log_warn("quote \" back\\slash nl\n tab\t bad \xff caf\xc3\xa9");
	crm_log_context_set("GET", "/api/contacts/{id}", "k1AbC");
	crm_log_error("routed");
	crm_log_context_clear();
	crm_log_set_format(CRM_LOG_TEXT);
}

static void emit_json_long(void)
{
	static char big[8192];

	memset(big, '"', sizeof(big) - 1);
	crm_log_set_format(CRM_LOG_JSON);
	crm_log_context_set("GET", "/api/x", "k");
	crm_log_context_request_id("rid");
	crm_log_error("%s", big);
	crm_log_context_clear();
	crm_log_set_format(CRM_LOG_TEXT);
}

static void test_request_id(void)
{
	const char *out = logged(emit_request_id);
	const char *nl = strchr(out, '\n');

	CHECK(strstr(out, "] [GET\\x0aFORGED-0123456789\\x1b[2J - key=-] odd\n") != NULL); /* whole */
	nl = nl != NULL ? strchr(nl + 1, '\n') : NULL;
	CHECK(strstr(out, "] [POST /api/contacts key=k1AbC req=req-42.a_b] stored\n") != NULL);
	CHECK(nl != NULL && strstr(nl + 1, "req=") == NULL); /* cleared with the request */
}

static void test_json(void)
{
	const char *out = logged(emit_json);
	enum crm_log_format f;
	const char *l2, *l3;

	CHECK(crm_log_format_parse("json", &f) && f == CRM_LOG_JSON);
	CHECK(crm_log_format_parse("text", &f) && f == CRM_LOG_TEXT);
	CHECK(!crm_log_format_parse("JSON", &f) && !crm_log_format_parse("", &f));
	/* one object per line: outside a request no context members */
	CHECK(strncmp(out, "{\"time\":\"", 9) == 0);
	CHECK(strstr(out, "\",\"level\":\"info\",\"pid\":") != NULL);
	l2 = strchr(out, '\n');
	CHECK(l2 != NULL && strstr(out, ",\"msg\":\"plain\"}\n") == l2 - strlen(",\"msg\":\"plain\"}"));
	if (l2 == NULL)
		return;
	l3 = strchr(l2 + 1, '\n');
	/* escaped as in text (control characters, bad UTF-8, backslash as \xNN), then for JSON */
	CHECK(strstr(l2, ",\"msg\":\"quote \\\" back\\\\x5cslash nl\\\\x0a tab\\\\x09 bad \\\\xff caf\xc3\xa9\","
			 "\"method\":\"GET\",\"route\":null,\"key\":null,\"request_id\":\"abc123\"}\n") != NULL);
	CHECK(l3 != NULL && strstr(l3, "\"level\":\"error\"") != NULL &&
		strstr(l3, ",\"msg\":\"routed\",\"method\":\"GET\",\"route\":\"/api/contacts/{id}\",\"key\":\"k1AbC\","
			   "\"request_id\":\"abc123\"}\n") != NULL);
	CHECK(l3 != NULL && l3[1] != '\0' && strchr(l3 + 1, '\n')[1] == '\0'); /* three lines */

	out = logged(emit_json_long); /* cut, still one object with its context */
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);
	CHECK(strstr(out,
		      "\\\"\\\"\",\"method\":\"GET\",\"route\":\"/api/x\",\"key\":\"k\",\"request_id\":\"rid\"}\n") !=
		NULL);
}

int main(void)
{
	test_escape();
	test_lines();
	test_request_id();
	test_json();
	return check_done("test_log");
}
