/* test_email.c -- email normalisation and validation */
#include <stdlib.h>

#include "check.h"
#include "crm/email.h"

static const char *norm(const char *in)
{
	static char out[1024];
	const char *why = NULL;

	return crm_email_normalize(in, strlen(in), out, &why) ? out : NULL;
}

static void test_valid(void)
{
	CHECK_STR(norm("ann@x.com"), "ann@x.com");
	CHECK_STR(norm("  Ann@X.com "), "ann@x.com");
	CHECK_STR(norm("\tBOB.Smith+tag@Mail.Example.ORG\n"), "bob.smith+tag@mail.example.org");
	CHECK_STR(norm("a@b.co"), "a@b.co");
}

static void test_invalid(void)
{
	static const char *const bad[] = {
		"", "   ", "ann", "ann@", "@x.com", "ann@@x.com", "a@b@x.com", "ann@xcom", "ann@.com", "ann@x.",
		"an n@x.com", "ann@x..com", "ann\x01@x.com", "ann@x.com\x7f",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(norm(bad[i]) == NULL);
}

static void test_lengths(void)
{
	char buf[400];
	const char *why = NULL;
	char out[400];

	/* the only length rule is the total */
	memset(buf, 'a', 100);
	strcpy(buf + 100, "@x.com");
	CHECK(norm(buf) != NULL);
	/* total 254 is fine, 255 is not */
	memset(buf, 'd', sizeof(buf));
	memcpy(buf, "a@", 2);
	strcpy(buf + 250, ".com");
	CHECK(strlen(buf) == 254 && norm(buf) != NULL);
	memset(buf, 'd', sizeof(buf));
	memcpy(buf, "a@", 2);
	strcpy(buf + 251, ".com");
	CHECK(!crm_email_normalize(buf, strlen(buf), out, &why));
	CHECK(why != NULL && strstr(why, "254") != NULL);
}

int main(void)
{
	test_valid();
	test_invalid();
	test_lengths();
	return check_done("email");
}
