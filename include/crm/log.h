/* log.h -- leveled logging to stderr, one line per event */
#ifndef CRM_LOG_H
#define CRM_LOG_H

#include <stdbool.h>

enum crm_log_level { CRM_LOG_ERROR, CRM_LOG_WARN, CRM_LOG_INFO, CRM_LOG_DEBUG };

void crm_log_set_level(enum crm_log_level level);
bool crm_log_enabled(enum crm_log_level level);
/* Parses "error", "warn", "info", "debug". */
bool crm_log_level_parse(const char *s, enum crm_log_level *out);
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
