/* test_email.c -- email normalisation and validation: ASCII, Unicode, IDN */
#include <stdlib.h>

#include "check.h"
#include "crm/email.h"

static const char *norm(const char *in)
{
	static char out[CRM_EMAIL_BUF];
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
		"",
		"   ",
		"ann",
		"ann@",
		"@x.com",
		"ann@@x.com",
		"a@b@x.com",
		"ann@xcom",
		"ann@.com",
		"ann@x.",
		"an n@x.com",
		"ann@x..com",
		"ann\x01@x.com",
		"ann@x.com\x7f",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(norm(bad[i]) == NULL);
}

static void test_lengths(void)
{
	char buf[400];
	const char *why = NULL;
	char out[CRM_EMAIL_BUF];

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

/* Unicode: NFC, lower case, white space; these strings are UTF-8 */
static void test_unicode(void)
{
	CHECK_STR(norm("\xc3\x89lodie@x.fr"), "\xc3\xa9lodie@x.fr");  /* Élodie */
	CHECK_STR(norm("E\xcc\x81LODIE@X.FR"), "\xc3\xa9lodie@x.fr"); /* NFD É */
	CHECK_STR(norm("e\xcc\x81lodie@x.fr"), "\xc3\xa9lodie@x.fr"); /* NFD é */
	CHECK_STR(norm("\xc3\x85sa@x.se"), "\xc3\xa5sa@x.se");        /* Åsa */
	CHECK_STR(norm("\xe2\x84\xab"
		       "sa@x.se"),
		"\xc3\xa5sa@x.se"); /* ANGSTROM SIGN: NFC is Å */
	CHECK_STR(norm("\xe2\x84\xaa"
		       "elvin@x.com"),
		"kelvin@x.com"); /* KELVIN SIGN */
	CHECK_STR(norm("\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\xa5\xce\xa3@x.gr"),
		"\xce\xbf\xce\xb4\xcf\x85\xcf\x83\xcf\x83\xce\xb5\xcf\x85\xcf\x82@x.gr"); /* ΟΔΥΣΣΕΥΣ: final ς */
	CHECK_STR(norm("Stra\xc3\x9f"
		       "e@x.de"),
		"stra\xc3\x9f"
		"e@x.de");                                     /* ß stays: lower, not fold */
	CHECK_STR(norm("\xe1\xba\x9e@x.de"), "\xc3\x9f@x.de"); /* capital ẞ */
	CHECK_STR(norm("\xc4\xb0z@x.tr"), "i\xcc\x87z@x.tr");  /* İ: i + U+0307 */
	CHECK_STR(norm("\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd@x.ru"), "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@x.ru"); /* Иван */
	CHECK_STR(norm("\xef\xac\x83@x.com"), "\xef\xac\x83@x.com"); /* ﬃ: NFC, not NFKC */
	/* Unicode white space around: NBSP, NEL, LINE SEPARATOR, IDEOGRAPHIC SPACE, EM SPACE */
	CHECK_STR(norm("\xc2\xa0 ann@x.com\xe3\x80\x80"), "ann@x.com");
	CHECK_STR(norm("\xc2\x85\xe2\x80\xa8"
		       "Ann@X.com\xe2\x80\x83\t"),
		"ann@x.com");
	/* idempotent */
	CHECK_STR(norm(norm("\xc4\xb0Z@B\xc3\x9c"
			    "CHER.de")),
		"i\xcc\x87z@xn--bcher-kva.de");
}

/* IDN: one form, the A-label */
static void test_idn(void)
{
	CHECK_STR(norm("ann@b\xc3\xbc"
		       "cher.de"),
		"ann@xn--bcher-kva.de"); /* bücher.de */
	CHECK_STR(norm("ann@xn--bcher-kva.de"), "ann@xn--bcher-kva.de");
	CHECK_STR(norm("Ann@XN--BCHER-KVA.DE"), "ann@xn--bcher-kva.de");
	CHECK_STR(norm("ann@B\xc3\x9c"
		       "CHER.DE"),
		"ann@xn--bcher-kva.de"); /* BÜCHER.DE */
	CHECK_STR(norm("ann@bu\xcc\x88"
		       "cher.de"),
		"ann@xn--bcher-kva.de"); /* NFD ü */
	CHECK_STR(norm("ann@www.b\xc3\xbc"
		       "cher.de"),
		"ann@www.xn--bcher-kva.de");
	CHECK_STR(norm("ann@fa\xc3\x9f.de"), "ann@xn--fa-hia.de"); /* non-transitional: ß kept */
	CHECK_STR(norm("ann@fass.de"), "ann@fass.de");
	CHECK_STR(norm("ann@x\xe3\x80\x82"
		       "com"),
		"ann@x.com");                                 /* ideographic full stop */
	CHECK_STR(norm("ann@\xef\xbd\x98.com"), "ann@x.com"); /* fullwidth x (UTS #46) */
	CHECK_STR(norm("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a"),
		"\xe7\x94\xa8\xe6\x88\xb7@xn--fsqu00a.xn--4rr70v"); /* 用户@例子.广告 */
	CHECK_STR(norm("ann@x_y.com"), "ann@x_y.com");              /* plain ASCII domains keep today's rules */
}

static void test_invalid_unicode(void)
{
	static const char *const bad[] = {
		"ann\xe2\x80\x8b@x.com", /* ZERO WIDTH SPACE */
		"\xef\xbb\xbf"
		"ann@x.com",              /* U+FEFF at the start: not white space, a format character */
		"ann@x.com\xe2\x81\xa0",  /* WORD JOINER */
		"ann\xe2\x80\x8d@x.com",  /* ZERO WIDTH JOINER */
		"ann@x\xc2\xad.com",      /* SOFT HYPHEN */
		"ann\xe2\x80\xae@x.com",  /* RIGHT-TO-LEFT OVERRIDE */
		"ann\xc2\xa0x@x.com",     /* NBSP inside */
		"ann\xe3\x80\x80x@x.com", /* IDEOGRAPHIC SPACE inside */
		"ann\xc2\x85x@x.com",     /* NEL inside (Cc) */
		"ann\xc2\x9b@x.com",      /* C1 control */
		"ann\x1b@x.com",
		"ann\xef\xbc\xa0x.com", /* FULLWIDTH @ is no @ */
		"\xc0\xaf"
		"ann@x.com",            /* ill-formed UTF-8 */
		"ann@\xed\xa0\x80.com", /* a surrogate in UTF-8 */
		"ann@xn--a.com",        /* an A-label that is no punycode of a valid label */
		"ann@xn--.com",
		"ann@xn--bcher-kva.xn--de",
		"ann@XN--BCHER-KVA.xn--zz",
		"ann@-b\xc3\xbc"
		"cher.de", /* hyphen first in an IDN label */
		"ann@b\xc3\xbc"
		"cher.de.",
		"ann@b\xc3\xbc"
		"cher",
		"ann@b\xc3\xbc"
		"cher..de",
		"\xc3\xa9@",
		"@b\xc3\xbc"
		"cher.de",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(norm(bad[i]) == NULL);
		if (norm(bad[i]) != NULL)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
	}
}

/* The limit counts characters (as the table's char_length does), after normalisation. */
static void test_unicode_lengths(void)
{
	char buf[CRM_EMAIL_BUF + 64];
	char *p = buf;
	const char *why = NULL;

	for (int i = 0; i < 100; i++)
		p += sprintf(p, "\xc3\x89"); /* É: 100 characters, 200 bytes */
	*p++ = '@';
	memset(p, 'd', 149);
	strcpy(p + 149, ".com"); /* 100 + 1 + 153 = 254 characters */
	CHECK(norm(buf) != NULL && strlen(norm(buf)) == 354);
	strcpy(p + 149, "d.com");
	CHECK(!crm_email_normalize(buf, strlen(buf), (char[CRM_EMAIL_BUF]){0}, &why) && strstr(why, "254"));
	/* a domain that fits in Unicode but not as an A-label */
	p = buf + sprintf(buf, "a@");
	for (int i = 0; i < 4; i++)
		p += sprintf(p, "%s\xe4\xbe\x8b\xe5\xad\x90\xe4\xbe\x8b\xe5\xad\x90\xe4\xbe\x8b\xe5\xad\x90",
			i ? "." : "");
	strcpy(p, ".com");
	CHECK(norm(buf) != NULL);
	p = buf + sprintf(buf, "a@");
	for (int i = 0; i < 16; i++)
		p += sprintf(p, "%s\xe4\xbe\x8b\xe5\xad\x90\xe4\xbe\x8b\xe5\xad\x90\xe4\xbe\x8b\xe5\xad\x90",
			i ? "." : "");
	strcpy(p, ".com"); /* 16 * 7 + 6 characters, A-labels 16 * 18 + 6 */
	CHECK(!crm_email_normalize(buf, strlen(buf), (char[CRM_EMAIL_BUF]){0}, &why) && strstr(why, "254"));
}

int main(void)
{
	test_valid();
	test_invalid();
	test_lengths();
	test_unicode();
	test_idn();
	test_invalid_unicode();
	test_unicode_lengths();
	return check_done("email");
}
