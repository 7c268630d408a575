/* log.c -- one line per event on stderr: time, level, pid, the request's context, message
 *
 * Owns the line format and the escaping of everything that goes into a line. A worker sets the
 * request's context (method, route pattern, API key id, request id) when it has routed a request
 * and clears it when the request ends; every line logged in between carries it, so a line names
 * its request without the code that logs having to pass it along.
 *
 * Two formats (CRM_LOG_FORMAT): text, the default, "TIME LEVEL [PID] [METHOD ROUTE key=K
 * req=ID] message"; json, one object per line for log shippers, {"time", "level", "pid", "msg"}
 * and, inside a request, "method", "route", "key", "request_id" (null when not known yet). A
 * json line is the text line's escaped content (below) with '"' and '\' escaped for JSON, so
 * both formats carry exactly the same characters.
 *
 * DESIGN (escaping): the whole line after the prefix -- the message with its arguments and the
 * context -- goes through crm_log_escape, so no caller can forget it: control characters (C0,
 * DEL, C1), backslash and bytes that are not well-formed UTF-8 become \xNN. A request path
 * holding "%0a" (decoded by nginx into a newline) or raw escape sequences cannot start a forged
 * line or drive a terminal, and a line stays one line. What may be logged at all is the caller's
 * rule (README, "Logging"): never a request's body, query string, raw path or an email.
 */
#include "crm/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048
#define FIELD_MAX 80
/* room kept in a json line for the context members after a long message */
#define JSON_CONTEXT_ROOM (4 * (2 * FIELD_MAX + 16))

static enum crm_log_level current = CRM_LOG_INFO;
static enum crm_log_format format = CRM_LOG_TEXT;
static const char *const names[] = {"error", "warn", "info", "debug"};

/* The request being served; active false when none. Fields are "" when not known. */
static struct {
	bool active;
	char method[FIELD_MAX], route[FIELD_MAX], key[FIELD_MAX], request_id[FIELD_MAX];
} ctx;

void crm_log_set_format(enum crm_log_format f)
{
	format = f;
}

bool crm_log_format_parse(const char *s, enum crm_log_format *out)
{
	if (strcmp(s, "text") == 0 || strcmp(s, "json") == 0) {
		*out = s[0] == 'j' ? CRM_LOG_JSON : CRM_LOG_TEXT;
		return true;
	}
	return false;
}

void crm_log_set_level(enum crm_log_level level)
{
	current = level;
}

bool crm_log_enabled(enum crm_log_level level)
{
	return level <= current;
}

bool crm_log_level_parse(const char *s, enum crm_log_level *out)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum crm_log_level)i;
			return true;
		}
	}
	return false;
}

void crm_log_context_set(const char *method, const char *route, const char *key_id)
{
	ctx.active = true;
	snprintf(ctx.method, sizeof(ctx.method), "%s", method ? method : "");
	snprintf(ctx.route, sizeof(ctx.route), "%s", route ? route : "");
	snprintf(ctx.key, sizeof(ctx.key), "%s", key_id ? key_id : "");
}

void crm_log_context_request_id(const char *request_id)
{
	snprintf(ctx.request_id, sizeof(ctx.request_id), "%s", request_id ? request_id : "");
}

void crm_log_context_clear(void)
{
	ctx.active = false;
	ctx.request_id[0] = '\0';
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes) that is neither a control
 * character (C1: U+0080..U+009F) nor an overlong form nor a surrogate; 0 when there is none. */
static size_t utf8_printable(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = s[0] & (0xffu >> (len + 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0; /* overlong or past Unicode */
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
		return 0; /* surrogate, or a C1 control character */
	return len;
}

size_t crm_log_escape(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0;

	if (cap == 0)
		return 0;
	while (i < len) {
		size_t u = s[i] >= 0x80 ? utf8_printable(s + i, len - i) : 0;

		if (u > 0) {
			if (o + u >= cap)
				break;
			memcpy(dst + o, s + i, u);
			o += u, i += u;
		} else if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
			if (o + 1 >= cap)
				break;
			dst[o++] = (char)s[i++];
		} else {
			if (o + 4 >= cap)
				break;
			dst[o++] = '\\', dst[o++] = 'x';
			dst[o++] = hex[s[i] >> 4], dst[o++] = hex[s[i] & 15];
			i++;
		}
	}
	dst[o] = '\0';
	return o;
}

/* The text format's "[METHOD ROUTE key=K req=ID] " prefix of the message; "" outside a request. */
static size_t text_context(char *dst, size_t cap)
{
	int k;

	if (!ctx.active)
		return 0;
	k = snprintf(dst, cap, "[%s %s key=%s%s%s] ", ctx.method[0] ? ctx.method : "-", ctx.route[0] ? ctx.route : "-",
		ctx.key[0] ? ctx.key : "-", ctx.request_id[0] ? " req=" : "", ctx.request_id);
	return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

/* Appends s (escaped text: no control characters) as a JSON string, or null when s is "". */
static size_t json_str(char *dst, size_t cap, size_t o, const char *s, bool null_if_empty)
{
	if (null_if_empty && s[0] == '\0') {
		for (const char *n = "null"; *n != '\0' && o + 1 < cap; n++)
			dst[o++] = *n;
		return o;
	}
	if (o + 1 < cap)
		dst[o++] = '"';
	for (; *s != '\0' && o + 3 < cap; s++) {
		if (*s == '"' || *s == '\\')
			dst[o++] = '\\';
		dst[o++] = *s;
	}
	if (o + 1 < cap)
		dst[o++] = '"';
	return o;
}

/* Appends `,"name":` and the field, escaped like the message. */
static size_t json_field(char *dst, size_t cap, size_t o, const char *name, const char *value)
{
	char esc[FIELD_MAX * 4];
	int k = snprintf(dst + o, cap - o, ",\"%s\":", name);

	if (k < 0 || (size_t)k >= cap - o)
		return o;
	crm_log_escape(esc, sizeof(esc), value, strlen(value));
	return json_str(dst, cap, o + (size_t)k, esc, true);
}

/* One JSON object: the message is already escaped (msg); the closing brace always fits. */
static size_t json_line(char *line, size_t cap, const char *stamp, enum crm_log_level level, const char *msg)
{
	int k = snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%ld,\"msg\":", stamp, names[level],
		(long)getpid());
	size_t o = k > 0 && (size_t)k < cap ? (size_t)k : 0;

	o = json_str(line, cap - 1 - JSON_CONTEXT_ROOM, o, msg, false);
	if (ctx.active) {
		o = json_field(line, cap - 1, o, "method", ctx.method);
		o = json_field(line, cap - 1, o, "route", ctx.route);
		o = json_field(line, cap - 1, o, "key", ctx.key);
		o = json_field(line, cap - 1, o, "request_id", ctx.request_id);
	}
	line[o++] = '}';
	return o;
}

void crm_log(enum crm_log_level level, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES], raw[LINE_MAX_BYTES], msg[LINE_MAX_BYTES], stamp[64], sec[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n, r;
	int k;

	if (!crm_log_enabled(level))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp, sizeof(stamp), "%s.%03dZ", sec, (int)(tv.tv_usec / 1000 % 1000));
	r = format == CRM_LOG_TEXT ? text_context(raw, sizeof(raw)) : 0;
	va_start(ap, fmt);
	k = vsnprintf(raw + r, sizeof(raw) - r, fmt, ap);
	va_end(ap);
	if (k > 0) /* a message past the buffer is cut */
		r = r + (size_t)k < sizeof(raw) ? r + (size_t)k : sizeof(raw) - 1;
	if (format == CRM_LOG_JSON) {
		/* the message escaped with the text rules; json_line cuts it so the context still fits */
		crm_log_escape(msg, sizeof(msg), raw, r);
		n = json_line(line, sizeof(line) - 1, stamp, level, msg);
	} else {
		k = snprintf(line, sizeof(line), "%s %s [%ld] ", stamp, names[level], (long)getpid());
		n = k > 0 && (size_t)k < sizeof(line) ? (size_t)k : 0;
		/* one byte kept for the newline */
		n += crm_log_escape(line + n, sizeof(line) - n - 1, raw, r);
	}
	line[n++] = '\n'; /* one write per line so concurrent workers do not interleave */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere to report it */
	}
}
