/* log.c -- one line per event on stderr: time, level, pid, the request's context, message
 *
 * Owns the line format and the escaping of everything that goes into a line. A worker sets the
 * request's context (method, route pattern, API key id) when it has routed a request and clears
 * it when the request ends; every line logged in between carries it, so a line names its request
 * without the code that logs having to pass it along.
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
#define CONTEXT_MAX 160

static enum crm_log_level current = CRM_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};
static char context[CONTEXT_MAX]; /* "" when no request is being served */

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
	snprintf(context, sizeof(context), "[%s %s key=%s] ", method ? method : "-", route ? route : "-",
		key_id && key_id[0] ? key_id : "-");
}

void crm_log_context_clear(void)
{
	context[0] = '\0';
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

void crm_log(enum crm_log_level level, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES], raw[LINE_MAX_BYTES], stamp[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n, r;
	int k;

	if (!crm_log_enabled(level))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line, sizeof(line), "%s.%03ldZ %s [%ld] ", stamp, (long)(tv.tv_usec / 1000), names[level],
		(long)getpid());
	n = k > 0 && (size_t)k < sizeof(line) ? (size_t)k : 0;
	r = strlen(context);
	memcpy(raw, context, r + 1);
	va_start(ap, fmt);
	k = vsnprintf(raw + r, sizeof(raw) - r, fmt, ap);
	va_end(ap);
	if (k > 0) /* a message past the buffer is cut */
		r = r + (size_t)k < sizeof(raw) ? r + (size_t)k : sizeof(raw) - 1;
	/* one byte kept for the newline; one write per line so concurrent workers do not interleave */
	n += crm_log_escape(line + n, sizeof(line) - n - 1, raw, r);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere to report it */
	}
}
