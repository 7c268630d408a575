/* email.c -- lead identity: normal form and syntax of an email address
 *
 * Deliberately not RFC 5322: the rules are the few that catch typos and garbage from web
 * forms and chat bots while accepting every address a person really types. Input is UTF-8
 * already validated by the JSON layer; only ASCII letters are lower-cased.
 */
#include "crm/email.h"

#include <string.h>

#include "crm/domain.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool check(const char *s, size_t len, const char **why)
{
	const char *at = NULL, *domain;
	size_t local_len, domain_len;

	if (len == 0)
		return (*why = "must not be empty"), false;
	if (len > CRM_EMAIL_MAX)
		return (*why = "must be at most 254 characters"), false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return (*why = "must not contain spaces or control characters"), false;
		if (c == '@') {
			if (at != NULL)
				return (*why = "must contain exactly one @"), false;
			at = s + i;
		}
	}
	if (at == NULL)
		return (*why = "must contain exactly one @"), false;
	local_len = (size_t)(at - s);
	domain = at + 1;
	domain_len = len - local_len - 1;
	if (local_len == 0)
		return (*why = "must have a non-empty part before @"), false;
	if (domain_len == 0)
		return (*why = "must have a domain after @"), false;
	if (memchr(domain, '.', domain_len) == NULL || domain[0] == '.' || domain[domain_len - 1] == '.')
		return (*why = "must have a domain with a dot inside it"), false;
	for (size_t i = 1; i < domain_len; i++) {
		if (domain[i] == '.' && domain[i - 1] == '.')
			return (*why = "must not have empty domain labels"), false;
	}
	return true;
}

bool crm_email_normalize(const char *in, size_t len, char *out, const char **why)
{
	size_t start = 0, end = len;

	while (start < end && is_space(in[start]))
		start++;
	while (end > start && is_space(in[end - 1]))
		end--;
	if (!check(in + start, end - start, why))
		return false;
	for (size_t i = start; i < end; i++) {
		char c = in[i];

		out[i - start] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[end - start] = '\0';
	return true;
}
