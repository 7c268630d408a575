/* email.h -- lead identity: email normalisation and validation (pure) */
#ifndef CRM_EMAIL_H
#define CRM_EMAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "crm/domain.h"

/* Room for a normal form: CRM_EMAIL_MAX characters of up to 4 UTF-8 bytes, and the NUL. */
#define CRM_EMAIL_BUF (4 * CRM_EMAIL_MAX + 1)

/* The normal form of an address typed by a person (UTF-8 in[0..len)): Unicode white space
 * trimmed, NFC, lower-cased (Unicode rules, language-neutral), an internationalized domain as
 * its A-label ("bücher.de" and "xn--bcher-kva.de" are both "xn--bcher-kva.de"). Refused: control
 * and invisible format characters (U+200B, U+FEFF...), white space inside, not exactly one '@',
 * an empty local part, a domain without an inner '.', an empty label, an invalid IDN, more than
 * CRM_EMAIL_MAX characters. On success writes the normal form (NUL-terminated) to out, which
 * must hold CRM_EMAIL_BUF bytes, and returns true; otherwise *why says what is wrong. */
bool crm_email_normalize(const char *in, size_t len, char *out, const char **why);

#endif
