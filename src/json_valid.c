/* json_valid.c -- RFC 8259 validator over the bytes of a request body
 *
 * Owns the question "is this JSON?"; json.c asks it before json-c sees the text, and json-c
 * then only builds the tree. Nothing here allocates outside the request arena or recurses:
 * the nesting is a fixed stack of CRM_JSON_MAX_DEPTH containers.
 *
 * DESIGN: the scanner is a loop over a small state ("what may come next": a value, a member
 * name, ':', or ',' / a closing bracket). Strings are checked byte by byte: UTF-8 by the table
 * of well-formed sequences (Unicode 15, table 3-7), escapes by RFC 8259 section 7, with a \u
 * high surrogate accepted only when a \u low surrogate follows. Duplicate member names: every
 * name of the open objects is kept as (hash of its code points, raw span); when an object
 * closes its names are sorted by (hash, decoded name) and neighbours compared, so a body of n
 * names costs O(n log n) comparisons whatever the hash collisions, never O(n^2).
 */
#include "crm/json_valid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crm/json.h"

/* One member name of an open object: its raw text between the quotes (escapes undecoded). */
struct name {
	uint64_t hash; /* FNV-1a over the decoded code points */
	const unsigned char *raw;
	size_t len;
};

enum want {
	W_VALUE,        /* a value */
	W_VALUE_OR_END, /* after '[': a value or ']' */
	W_NAME,         /* after ',' in an object: a member name */
	W_NAME_OR_END,  /* after '{': a member name or '}' */
	W_COLON,        /* after a member name */
	W_NEXT,         /* after a value: ',' or the closing bracket (or the end, at the top) */
};

struct scan {
	const unsigned char *start, *p, *end;
	struct crm_arena *arena;
	struct crm_err *err;
	char stack[CRM_JSON_MAX_DEPTH];        /* '{' or '[' */
	size_t first_name[CRM_JSON_MAX_DEPTH]; /* index in names[] of an open object's first name */
	size_t depth;
	struct name *names;
	size_t nnames, cap;
};

static bool fail(struct scan *s, const char *what)
{
	return crm_err_set(s->err, CRM_E_BAD_JSON, "request body is not valid JSON: %s at byte %zu", what,
		(size_t)(s->p - s->start));
}

static bool truncated(struct scan *s)
{
	return crm_err_set(s->err, CRM_E_BAD_JSON, "request body is not complete JSON");
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The 4 hex digits at p (p + 4 <= end), or -1. */
static long hex4(const unsigned char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7) with its code point in
 * *cp, or 0 when the bytes are ill-formed or cut by end. */
static size_t utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
	unsigned c = p[0], lo = 0x80, hi = 0xBF;
	size_t n;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2, v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3, v = c & 0x0F;
		lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F: overlong */
		hi = c == 0xED ? 0x9F : 0xBF; /* ED A0..BF: a surrogate (CESU-8) */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4, v = c & 0x07;
		lo = c == 0xF0 ? 0x90 : 0x80; /* F0 80..8F: overlong */
		hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 90..: past U+10FFFF */
	} else {
		return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (p[i] < lo || p[i] > hi)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
		lo = 0x80, hi = 0xBF;
	}
	*cp = v;
	return n;
}

bool crm_json_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	uint32_t cp;
	size_t n;

	for (; p < end; p += n) {
		if ((n = utf8_decode(p, end, &cp)) == 0)
			return false;
	}
	return true;
}

/* The escape after a backslash at *pp (validated) as one code point; advances *pp. */
static uint32_t escape_decode(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint32_t v;

	switch (*p) {
	case 'b': *pp = p + 1; return '\b';
	case 'f': *pp = p + 1; return '\f';
	case 'n': *pp = p + 1; return '\n';
	case 'r': *pp = p + 1; return '\r';
	case 't': *pp = p + 1; return '\t';
	case 'u': break;
	default: *pp = p + 1; return *p; /* " \ / */
	}
	v = (uint32_t)hex4(p + 1);
	if (v >= 0xD800 && v <= 0xDBFF) { /* a pair: the validator checked the low half follows */
		v = 0x10000 + ((v - 0xD800) << 10) + ((uint32_t)hex4(p + 7) - 0xDC00);
		*pp = p + 11;
		return v;
	}
	*pp = p + 5;
	return v;
}

/* The next code point of a validated raw string span; advances *pp. */
static uint32_t next_cp(const unsigned char **pp, const unsigned char *end)
{
	uint32_t cp = 0;

	if (**pp == '\\') {
		(*pp)++;
		return escape_decode(pp);
	}
	*pp += utf8_decode(*pp, end, &cp);
	return cp;
}

static uint64_t hash_cp(uint64_t h, uint32_t cp)
{
	for (int i = 0; i < 4; i++, cp >>= 8) {
		h ^= cp & 0xFF;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Checks the escape after the backslash at s->p; sets *cp and moves past it. */
static bool scan_escape(struct scan *s, uint32_t *cp)
{
	const unsigned char *p = s->p;
	long hi, lo;

	if (p >= s->end)
		return truncated(s);
	if (*p != '\0' && strchr("\"\\/bfnrt", *p) != NULL) {
		*cp = escape_decode(&s->p);
		return true;
	}
	if (*p != 'u')
		return fail(s, "unknown escape");
	if (s->end - p < 5)
		return truncated(s);
	if ((hi = hex4(p + 1)) < 0)
		return fail(s, "bad \\u escape");
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return fail(s, "lone low surrogate escape");
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		if (s->end - p < 11 || p[5] != '\\' || p[6] != 'u' || (lo = hex4(p + 7)) < 0 || lo < 0xDC00 ||
			lo > 0xDFFF)
			return fail(s, "high surrogate escape without a low one");
	}
	*cp = escape_decode(&s->p);
	return true;
}

/* A string from its opening quote at s->p; moves past the closing quote. Sets the span between
 * the quotes, the hash of its code points and whether it holds U+0000. */
static bool scan_string(struct scan *s, struct name *out, bool *has_nul)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	*has_nul = false;
	out->raw = ++s->p;
	for (;;) {
		uint32_t cp = 0;
		size_t n;

		if (s->p >= s->end)
			return truncated(s);
		if (*s->p == '"')
			break;
		if (*s->p < 0x20)
			return fail(s, "control character in a string");
		if (*s->p == '\\') {
			s->p++;
			if (!scan_escape(s, &cp))
				return false;
		} else {
			if ((n = utf8_decode(s->p, s->end, &cp)) == 0)
				return fail(s, "invalid UTF-8");
			s->p += n;
		}
		*has_nul |= cp == 0;
		h = hash_cp(h, cp);
	}
	out->len = (size_t)(s->p - out->raw);
	out->hash = h;
	s->p++;
	return true;
}

static bool scan_digits(struct scan *s)
{
	const unsigned char *from = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	if (s->p > from)
		return true;
	return s->p >= s->end ? truncated(s) : fail(s, "digit expected");
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0') {
		s->p++;
		if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			return fail(s, "number with a leading zero");
	} else if (!scan_digits(s)) {
		return false;
	}
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!scan_digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!scan_digits(s))
			return false;
	}
	return true;
}

static bool scan_literal(struct scan *s)
{
	static const char *const words[] = {"true", "false", "null"};

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i]);

		if ((unsigned char)words[i][0] != (unsigned char)*s->p)
			continue;
		if ((size_t)(s->end - s->p) < n)
			return memcmp(s->p, words[i], (size_t)(s->end - s->p)) == 0 ? truncated(s)
										    : fail(s, "unknown word");
		if (memcmp(s->p, words[i], n) != 0)
			return fail(s, "unknown word");
		s->p += n;
		return true;
	}
	return fail(s, "unexpected character");
}

/* Orders names by hash, then by decoded code points (a total order on the decoded names). */
static int name_cmp(const void *a, const void *b)
{
	const struct name *x = a, *y = b;
	const unsigned char *p = x->raw, *q = y->raw, *pe = x->raw + x->len, *qe = y->raw + y->len;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	while (p < pe && q < qe) {
		uint32_t c = next_cp(&p, pe), d = next_cp(&q, qe);

		if (c != d)
			return c < d ? -1 : 1;
	}
	return (p < pe) - (q < qe);
}

static void add_name(struct scan *s, const struct name *n)
{
	if (s->nnames == s->cap) {
		struct name *grown;

		s->cap = s->cap ? s->cap * 2 : 16;
		grown = crm_arena_alloc(s->arena, s->cap * sizeof(*grown));
		if (s->nnames > 0)
			memcpy(grown, s->names, s->nnames * sizeof(*grown));
		s->names = grown;
	}
	s->names[s->nnames++] = *n;
}

/* The object whose names start at names[first] closes: no name twice. */
static bool names_unique(struct scan *s, size_t first)
{
	struct name *v = s->names + first;
	size_t n = s->nnames - first;

	if (n > 1)
		qsort(v, n, sizeof(*v), name_cmp);
	for (size_t i = 1; i < n; i++) {
		if (name_cmp(&v[i - 1], &v[i]) == 0)
			return fail(s, "duplicate member name");
	}
	s->nnames = first;
	return true;
}

static bool open_container(struct scan *s, enum want *want)
{
	if (s->depth == CRM_JSON_MAX_DEPTH)
		return fail(s, "nesting too deep");
	s->stack[s->depth] = (char)*s->p;
	s->first_name[s->depth] = s->nnames;
	s->depth++;
	*want = *s->p == '{' ? W_NAME_OR_END : W_VALUE_OR_END;
	s->p++;
	return true;
}

static bool close_container(struct scan *s, enum want *want)
{
	char open = *s->p == '}' ? '{' : '[';

	if (s->depth == 0 || s->stack[s->depth - 1] != open)
		return fail(s, "unexpected closing bracket");
	s->depth--;
	if (open == '{' && !names_unique(s, s->first_name[s->depth]))
		return false;
	s->p++;
	*want = W_NEXT;
	return true;
}

static bool scan_value(struct scan *s, enum want *want)
{
	struct name str;
	bool nul;

	switch (*s->p) {
	case '{':
	case '[': return open_container(s, want);
	case '"': *want = W_NEXT; return scan_string(s, &str, &nul);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9': *want = W_NEXT; return scan_number(s);
	default: *want = W_NEXT; return scan_literal(s);
	}
}

static bool scan_name(struct scan *s, enum want *want)
{
	struct name name;
	const unsigned char *at = s->p;
	bool nul;

	if (*s->p != '"')
		return fail(s, "member name expected");
	if (!scan_string(s, &name, &nul))
		return false;
	if (nul) {
		s->p = at;
		return fail(s, "member name contains \\u0000");
	}
	*want = W_COLON;
	add_name(s, &name);
	return true;
}

/* ',' or a closing bracket after a value inside a container. */
static bool scan_next(struct scan *s, enum want *want)
{
	if (s->depth == 0)
		return crm_err_set(s->err, CRM_E_BAD_JSON, "request body has data after the JSON value");
	if (*s->p == '}' || *s->p == ']')
		return close_container(s, want);
	if (*s->p != ',')
		return fail(s, s->stack[s->depth - 1] == '{' ? "',' or '}' expected" : "',' or ']' expected");
	s->p++;
	*want = s->stack[s->depth - 1] == '{' ? W_NAME : W_VALUE;
	return true;
}

static bool step(struct scan *s, enum want *want)
{
	switch (*want) {
	case W_VALUE_OR_END:
		if (*s->p == ']')
			return close_container(s, want);
		return scan_value(s, want);
	case W_VALUE: return scan_value(s, want);
	case W_NAME_OR_END:
		if (*s->p == '}')
			return close_container(s, want);
		return scan_name(s, want);
	case W_NAME: return scan_name(s, want);
	case W_COLON:
		if (*s->p != ':')
			return fail(s, "':' expected");
		s->p++;
		*want = W_VALUE;
		return true;
	case W_NEXT: return scan_next(s, want);
	}
	return fail(s, "internal state");
}

bool crm_json_validate(const char *text, size_t len, struct crm_arena *arena, struct crm_err *err)
{
	struct scan s = {0};
	enum want want = W_VALUE;

	s.start = s.p = (const unsigned char *)text;
	s.end = s.start + len;
	s.arena = arena;
	s.err = err;
	for (;;) {
		while (s.p < s.end && (*s.p == ' ' || *s.p == '\t' || *s.p == '\n' || *s.p == '\r'))
			s.p++;
		if (s.p == s.end)
			return want == W_NEXT && s.depth == 0 ? true : truncated(&s);
		if (!step(&s, &want))
			return false;
	}
}
