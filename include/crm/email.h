/* email.h -- lead identity: email normalisation and validation (pure) */
#ifndef CRM_EMAIL_H
#define CRM_EMAIL_H

#include <stdbool.h>
#include <stddef.h>

/* Trims ASCII whitespace, lower-cases ASCII letters and checks the syntax: one '@', non-empty
 * local part and domain, a '.' inside the domain (not first or last), no spaces or control
 * characters, at most CRM_EMAIL_MAX bytes. On success writes the normal form (NUL-terminated)
 * to out, which must hold len + 1 bytes, and returns true; otherwise *why says what is wrong. */
bool crm_email_normalize(const char *in, size_t len, char *out, const char **why);

#endif
