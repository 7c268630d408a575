/* email.c -- lead identity: normal form and syntax of an email address
 *
 * Deliberately not RFC 5322: the rules are the few that catch typos and garbage from web
 * forms and chat bots while accepting every address a person really types, in any script.
 * The only includer of libunistring and libidn2.
 *
 * DESIGN: the normal form, in this order, each step on the result of the one before:
 *   1. trim Unicode white space (White_Space: also NBSP, U+2028, ideographic space...);
 *   2. refuse control characters (Cc), invisible format characters (Cf: ZERO WIDTH SPACE,
 *      U+FEFF, soft hyphen, bidi controls...) and white space inside;
 *   3. NFC, then full lower-casing (u8_tolower, language-neutral) with NFC again on the
 *      result. Lower-casing, not case folding: u8_casefold maps some lower-case letters to
 *      upper-case ones (Cherokee) and 'ß' to "ss", and the stored address must stay equal to
 *      PostgreSQL's lower() of it (the leads table checks email = lower(email)); checked for
 *      every code point against lower() in C.UTF-8 (glibc 2.36): no difference. Lower-casing
 *      follows Unicode's context rules: a word-final capital sigma becomes 'ς';
 *   4. the domain in one form, the A-label (RFC 5890): a domain with a non-ASCII character or
 *      an "xn--" label goes through IDNA2008 with the UTS #46 non-transitional mapping
 *      (libidn2), and an A-label given by the client must survive the round trip to Unicode and
 *      back unchanged. The A-label, because it is ASCII: the form DNS and plain SMTP use, and
 *      one PostgreSQL's lower() cannot disagree with. A plain ASCII domain is only lower-cased,
 *      as before (IDNA would refuse '_' or 64-letter labels some people do have);
 *   5. the syntax rules below on the result, and at most CRM_EMAIL_MAX characters.
 * So "  Élodie@Bücher.DE" and "e\u0301lodie@xn--bcher-kva.de" are both "élodie@xn--bcher-kva.de".
 */
#include "crm/email.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "crm/domain.h"
#include "crm/log.h"

/* What is wrong with the normal form, or NULL when it is well formed (ASCII rules only:
 * everything non-ASCII was checked before). */
static const char *problem(const char *s, size_t len)
{
	const char *at = NULL, *domain;
	size_t local_len, domain_len;

	if (len == 0)
		return "must not be empty";
	if (u8_mbsnlen((const uint8_t *)s, len) > CRM_EMAIL_MAX)
		return "must be at most 254 characters";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return "must not contain spaces or control characters";
		if (c == '@') {
			if (at != NULL)
				return "must contain exactly one @";
			at = s + i;
		}
	}
	if (at == NULL)
		return "must contain exactly one @";
	local_len = (size_t)(at - s);
	domain = at + 1;
	domain_len = len - local_len - 1;
	if (local_len == 0)
		return "must have a non-empty part before @";
	if (domain_len == 0)
		return "must have a domain after @";
	if (memchr(domain, '.', domain_len) == NULL || domain[0] == '.' || domain[domain_len - 1] == '.')
		return "must have a domain with a dot inside it";
	for (size_t i = 1; i < domain_len; i++) {
		if (domain[i] == '.' && domain[i - 1] == '.')
			return "must not have empty domain labels";
	}
	return NULL;
}

static void *check_alloc(void *p)
{
	if (p == NULL && errno == ENOMEM) {
		crm_log_error("out of memory in email normalisation");
		abort();
	}
	return p;
}

/* Trims Unicode white space off both ends of s[0..*len); returns the new start. */
static const uint8_t *trim(const uint8_t *s, size_t *len)
{
	const uint8_t *end = s + *len;
	ucs4_t uc;
	int n;

	while (s < end && (n = u8_mbtouc(&uc, s, (size_t)(end - s))) > 0 && uc_is_property_white_space(uc))
		s += n;
	while (end > s) {
		const uint8_t *prev = u8_prev(&uc, end, s);

		if (prev == NULL || !uc_is_property_white_space(uc))
			break;
		end = prev;
	}
	*len = (size_t)(end - s);
	return s;
}

/* Steps 1 and 2 of the DESIGN note: the characters an address may not hold. */
static const char *bad_character(const uint8_t *s, size_t len)
{
	const uint8_t *end = s + len;
	ucs4_t uc;

	for (int n; s < end; s += n) {
		n = u8_mbtouc(&uc, s, (size_t)(end - s));
		if (uc_is_general_category(uc, UC_CATEGORY_Cf))
			return "must not contain invisible formatting characters";
		if (uc_is_general_category(uc, UC_CATEGORY_Cc) || uc_is_property_white_space(uc))
			return "must not contain spaces or control characters";
	}
	return NULL;
}

static bool has_alabel(const char *domain)
{
	for (const char *label = domain; label != NULL; label = strchr(label, '.')) {
		if (*label == '.')
			label++;
		if (strncmp(label, "xn--", 4) == 0)
			return true;
	}
	return false;
}

static bool is_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

#define IDNA_FLAGS (IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

/* The A-label form of a lower-cased domain in *alabel, malloc'd (idn2_free); or NULL and
 * what is wrong when it is no valid IDNA2008 domain. */
static const char *domain_alabel(const char *domain, char **alabel)
{
	uint8_t *ascii = NULL, *again = NULL;
	char *unicode = NULL;
	int rc;
	bool ok;

	*alabel = NULL;
	rc = idn2_lookup_u8((const uint8_t *)domain, &ascii, IDNA_FLAGS);
	if (rc == IDN2_TOO_BIG_DOMAIN)
		return "must be at most 254 characters";
	if (rc == IDN2_TOO_BIG_LABEL)
		return "must have domain labels of at most 63 characters";
	if (rc != IDN2_OK)
		return "must have a valid internationalized domain name";
	/* round trip: an A-label from the client must be the one its Unicode form gives */
	ok = idn2_to_unicode_8z8z((const char *)ascii, &unicode, 0) == IDN2_OK &&
	     idn2_lookup_u8((const uint8_t *)unicode, &again, IDNA_FLAGS) == IDN2_OK &&
	     strcmp((const char *)ascii, (const char *)again) == 0;
	idn2_free(unicode);
	idn2_free(again);
	if (!ok) {
		idn2_free(ascii);
		return "must have a valid internationalized domain name";
	}
	*alabel = (char *)ascii;
	return NULL;
}

/* Step 3: NFC, lower case, NFC; a NUL-terminated malloc'd string, or NULL. */
static char *lower_nfc(const uint8_t *s, size_t len)
{
	size_t nlen = 0, llen = 0;
	uint8_t *nfc, *lower, *out;

	nfc = check_alloc(u8_normalize(UNINORM_NFC, s, len, NULL, &nlen));
	if (nfc == NULL)
		return NULL;
	lower = check_alloc(u8_tolower(nfc, nlen, NULL, UNINORM_NFC, NULL, &llen));
	free(nfc);
	if (lower == NULL)
		return NULL;
	out = check_alloc(realloc(lower, llen + 1));
	out[llen] = '\0';
	return (char *)out;
}

/* Step 4 on the lower-cased address: the domain as an A-label when it is an IDN. Writes the
 * result to out (CRM_EMAIL_BUF bytes) or returns what is wrong. */
static const char *canonical_domain(const char *addr, char *out)
{
	const char *at = strchr(addr, '@'), *domain, *why;
	char *alabel;
	size_t local_len;
	int n;

	if (at == NULL || strchr(at + 1, '@') != NULL)
		return "must contain exactly one @";
	domain = at + 1;
	local_len = (size_t)(at - addr);
	if (is_ascii(domain) && !has_alabel(domain)) {
		n = snprintf(out, CRM_EMAIL_BUF, "%s", addr);
		return n >= CRM_EMAIL_BUF ? "must be at most 254 characters" : NULL;
	}
	if ((why = domain_alabel(domain, &alabel)) != NULL)
		return why;
	n = snprintf(out, CRM_EMAIL_BUF, "%.*s@%s", (int)local_len, addr, alabel);
	idn2_free(alabel);
	return n >= CRM_EMAIL_BUF ? "must be at most 254 characters" : NULL;
}

bool crm_email_normalize(const char *in, size_t len, char *out, const char **why)
{
	const uint8_t *s = (const uint8_t *)in;
	char *lower;

	if (u8_check(s, len) != NULL) {
		*why = "must be valid UTF-8";
		return false;
	}
	s = trim(s, &len);
	if (len == 0) {
		*why = "must not be empty";
		return false;
	}
	if ((*why = bad_character(s, len)) != NULL)
		return false;
	if (len > 4 * CRM_EMAIL_MAX) {
		*why = "must be at most 254 characters";
		return false;
	}
	lower = lower_nfc(s, len);
	if (lower == NULL) {
		*why = "must be valid UTF-8";
		return false;
	}
	*why = canonical_domain(lower, out);
	free(lower);
	if (*why == NULL)
		*why = problem(out, strlen(out));
	return *why == NULL;
}
