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

/* What is wrong with the trimmed address, or NULL when it is well formed. */
static const char *problem(const char *s, size_t len)
{
	const char *at = NULL, *domain;
	size_t local_len, domain_len;

	if (len == 0)
		return "must not be empty";
	if (len > CRM_EMAIL_MAX)
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

bool crm_email_normalize(const char *in, size_t len, char *out, const char **why)
{
	size_t start = 0, end = len;

	while (start < end && is_space(in[start]))
		start++;
	while (end > start && is_space(in[end - 1]))
		end--;
	*why = problem(in + start, end - start);
	if (*why != NULL)
		return false;
	for (size_t i = start; i < end; i++) {
		char c = in[i];

		out[i - start] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[end - start] = '\0';
	return true;
}
