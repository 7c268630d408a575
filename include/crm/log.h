/* log.h -- leveled logging to stderr, one line per event, control characters escaped */
#ifndef CRM_LOG_H
#define CRM_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum crm_log_level { CRM_LOG_ERROR, CRM_LOG_WARN, CRM_LOG_INFO, CRM_LOG_DEBUG };
enum crm_log_format { CRM_LOG_TEXT, CRM_LOG_JSON };

void crm_log_set_level(enum crm_log_level level);
bool crm_log_enabled(enum crm_log_level level);
/* Parses "error", "warn", "info", "debug". */
bool crm_log_level_parse(const char *s, enum crm_log_level *out);
/* The request being served: every line logged until crm_log_context_clear carries
 * "[METHOD ROUTE key=KEY_ID]" (a NULL or empty argument prints "-"). ROUTE is the route's
 * pattern ("/api/contacts/{id}"), never the raw path; the strings are copied. */
void crm_log_context_set(const char *method, const char *route, const char *key_id);
/* The request's id (README "Request ids"), kept until crm_log_context_clear: the text format
 * adds " req=ID" to the context, the json format a "request_id" member. */
void crm_log_context_request_id(const char *request_id);
void crm_log_context_clear(void);

/* text (the default) or json: one JSON object per line (see log.c). */
void crm_log_set_format(enum crm_log_format format);
/* Parses "text", "json". */
bool crm_log_format_parse(const char *s, enum crm_log_format *out);

/* Copies src[0..len) to dst (cap bytes, always NUL-terminated) with every byte that is a control
 * character (C0, DEL, C1), a backslash or not part of well-formed UTF-8 written as \xNN; stops
 * before a character that would not fit whole. Returns the length written. */
size_t crm_log_escape(char *dst, size_t cap, const char *src, size_t len);

void crm_log(enum crm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define crm_log_error(...) crm_log(CRM_LOG_ERROR, __VA_ARGS__)
#define crm_log_warn(...) crm_log(CRM_LOG_WARN, __VA_ARGS__)
#define crm_log_info(...) crm_log(CRM_LOG_INFO, __VA_ARGS__)
#define crm_log_debug(...)                                   \
	do {                                                 \
		if (crm_log_enabled(CRM_LOG_DEBUG))          \
			crm_log(CRM_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
