/* log.c -- one line per event on stderr: time, level, pid, message */
#include "crm/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum crm_log_level current = CRM_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

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

void crm_log(enum crm_log_level level, const char *fmt, ...)
{
	char line[1024], stamp[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	if (!crm_log_enabled(level))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s [%ld] ", stamp, (long)(tv.tv_usec / 1000), names[level],
		(long)getpid());
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* one write per line so lines of concurrent workers do not interleave */
	n = (int)strlen(line);
	if ((size_t)n < sizeof(line) - 1)
		line[n++] = '\n';
	else
		line[sizeof(line) - 2] = '\n', n = sizeof(line) - 1;
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere to report it */
	}
}
