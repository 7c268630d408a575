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

int main(void)
{
	test_escape();
	test_lines();
	return check_done("test_log");
}
