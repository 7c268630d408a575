/* json_valid.h -- RFC 8259 validation of a request body, before any parser sees it
 *
 * json-c accepts more than JSON even in strict mode (single-quoted strings, duplicate member
 * names, lone surrogate escapes...). Every request body passes this check first, so what
 * json-c is given is exactly the language of RFC 8259 (and I-JSON's rules on top of it).
 */
#ifndef CRM_JSON_VALID_H
#define CRM_JSON_VALID_H

#include <stdbool.h>
#include <stddef.h>

#include "crm/arena.h"
#include "crm/err.h"

/* True when text[0..len) is one JSON text by the grammar of RFC 8259: one value with optional
 * white space (space, tab, LF, CR) around it; strings of well-formed UTF-8 (no overlong forms,
 * no encoded surrogates, nothing past U+10FFFF), no raw control characters, only the escapes of
 * the RFC, \u escapes of surrogates only as a high-low pair; numbers without leading zeros,
 * '+', hex or NaN/Infinity; arrays and objects nested at most CRM_JSON_MAX_DEPTH deep, without
 * trailing commas. On top of the grammar (RFC 7493, I-JSON): member names of one object are
 * unique once decoded ("a" and "\u0061" are the same name) and contain no NUL.
 * Otherwise false with CRM_E_BAD_JSON and a detail naming the problem and its byte offset.
 * Work is O(len log len) and memory O(number of member names), from the arena. */
bool crm_json_validate(const char *text, size_t len, struct crm_arena *arena, struct crm_err *err) CRM_MUSTCHECK;

/* True when s[0..len) is well-formed UTF-8 (the same rule as inside JSON strings). */
bool crm_json_utf8_valid(const char *s, size_t len);

#endif
