/* err.h -- the one error vocabulary of mini-crm
 *
 * Every fallible function returns bool (true = success) and takes `struct crm_err *err` last.
 * The code table below is the single place that ties an error to its message and HTTP status
 * (libuv's UV_ERRNO_MAP); handlers read the status from it, nothing else invents one.
 */
#ifndef CRM_ERR_H
#define CRM_ERR_H

#include <stdbool.h>
#include <stddef.h>

#define CRM_MUSTCHECK __attribute__((warn_unused_result))
#define CRM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* X(name, http status, title, default message) */
#define CRM_ERR_MAP(X)                                                                        \
	X(OK, 200, "OK", "ok")                                                                \
	X(BAD_REQUEST, 400, "Bad Request", "bad request")                                     \
	X(BAD_JSON, 400, "Bad Request", "malformed json")                                     \
	X(NOT_FOUND, 404, "Not Found", "not found")                                           \
	X(METHOD, 405, "Method Not Allowed", "method not allowed")                            \
	X(CONFLICT, 409, "Conflict", "conflict")                                              \
	X(TOO_LARGE, 413, "Content Too Large", "request body exceeds the limit")              \
	X(MEDIA_TYPE, 415, "Unsupported Media Type", "content type must be application/json") \
	X(INVALID, 422, "Unprocessable Content", "invalid input")                             \
	X(INTERNAL, 500, "Internal Server Error", "internal error")                           \
	X(RETRY, 503, "Service Unavailable", "transaction conflict, try again")               \
	X(UNAVAILABLE, 503, "Service Unavailable", "database unavailable")

enum crm_errcode {
#define CRM_ERR_ENUM(name, status, title, msg) CRM_E_##name,
	CRM_ERR_MAP(CRM_ERR_ENUM)
#undef CRM_ERR_ENUM
		CRM_E__COUNT
};

#define CRM_ERR_FIELDS_MAX 16

/* One offending input field of a 422 answer: "operators[1].weight", "must be > 0". */
struct crm_field_error {
	char field[64];
	char message[128];
};

struct crm_err {
	enum crm_errcode code;
	char detail[256];
	size_t nfields;
	struct crm_field_error fields[CRM_ERR_FIELDS_MAX];
};

void crm_err_init(struct crm_err *err);

/* Sets code and a printf detail; always returns false so callers can `return crm_err_set(...)`. */
bool crm_err_set(struct crm_err *err, enum crm_errcode code, const char *fmt, ...) CRM_PRINTF(3, 4);

/* Adds one field error and turns the error into CRM_E_INVALID. Extra fields are dropped.
 * Always returns false, like crm_err_set. */
bool crm_err_field(struct crm_err *err, const char *field, const char *fmt, ...) CRM_PRINTF(3, 4);

const char *crm_strerror(enum crm_errcode code);
const char *crm_err_name(enum crm_errcode code);
const char *crm_err_title(enum crm_errcode code);
int crm_err_http_status(enum crm_errcode code);

#endif
