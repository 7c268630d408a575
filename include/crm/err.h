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
#define CRM_ERR_MAP(X)                                                                           \
	X(OK, 200, "OK", "ok")                                                                   \
	X(BAD_REQUEST, 400, "Bad Request", "bad request")                                        \
	X(BAD_JSON, 400, "Bad Request", "malformed json")                                        \
	X(UNAUTHORIZED, 401, "Unauthorized", "a valid API key is required")                      \
	X(FORBIDDEN, 403, "Forbidden", "this API key may not do this")                           \
	X(NOT_FOUND, 404, "Not Found", "not found")                                              \
	X(METHOD, 405, "Method Not Allowed", "method not allowed")                               \
	X(CONFLICT, 409, "Conflict", "conflict")                                                 \
	X(TOO_LARGE, 413, "Content Too Large", "request body exceeds the limit")                 \
	X(MEDIA_TYPE, 415, "Unsupported Media Type", "content type must be application/json")    \
	X(INVALID, 422, "Unprocessable Content", "invalid input")                                \
	X(INTERNAL, 500, "Internal Server Error", "internal error")                              \
	X(RETRY, 503, "Service Unavailable", "transaction conflict, try again")                  \
	X(TIMEOUT, 503, "Service Unavailable", "the database did not answer in time, try again") \
	X(UNAVAILABLE, 503, "Service Unavailable", "database unavailable")                       \
	X(BUSY, 503, "Service Unavailable", "every worker is busy, try again")

enum crm_errcode {
#define CRM_ERR_ENUM(name, status, title, msg) CRM_E_##name,
	CRM_ERR_MAP(CRM_ERR_ENUM)
#undef CRM_ERR_ENUM
		CRM_E__COUNT
};

/* Field errors held inside struct crm_err; more go to err->arena when one is given. */
#define CRM_ERR_FIELDS_INLINE 16

struct crm_arena;

/* One offending input field of a 422 answer: "operators[1].weight", "must be > 0". */
struct crm_field_error {
	char field[64];
	char message[128];
};

/* A 422 reports every bad field: the first CRM_ERR_FIELDS_INLINE live in `fields`, the rest in
 * `more`, allocated from `arena` (the request's). The count is bounded only by the body limit
 * (each bad field needs a few bytes of body), so no fixed array could hold them all. Without
 * an arena (start-up, unit code) the extra ones are counted in `dropped` and not kept. */
struct crm_err {
	enum crm_errcode code;
	char detail[256];
	size_t nfields; /* held, inline and in `more` */
	size_t dropped; /* field errors that found no room (no arena) */
	struct crm_field_error fields[CRM_ERR_FIELDS_INLINE];
	struct crm_field_error *more; /* nfields - CRM_ERR_FIELDS_INLINE of them, in the arena */
	size_t more_cap;
	struct crm_arena *arena; /* NULL: field errors beyond the inline ones are dropped */
};

/* Field error i < err->nfields, inline or not. */
const struct crm_field_error *crm_err_field_at(const struct crm_err *err, size_t i);

void crm_err_init(struct crm_err *err);
/* crm_err_init, then field errors past the inline ones are kept in `arena`. */
void crm_err_init_arena(struct crm_err *err, struct crm_arena *arena);
/* Back to CRM_E_OK with no fields, keeping the arena (a retried transaction). */
void crm_err_clear(struct crm_err *err);

/* Sets code and a printf detail; always returns false so callers can `return crm_err_set(...)`. */
bool crm_err_set(struct crm_err *err, enum crm_errcode code, const char *fmt, ...) CRM_PRINTF(3, 4);

/* Adds one field error and turns the error into CRM_E_INVALID. Past the inline ones it goes
 * to the arena, or is dropped (counted) without one.
 * Always returns false, like crm_err_set. */
bool crm_err_field(struct crm_err *err, const char *field, const char *fmt, ...) CRM_PRINTF(3, 4);

const char *crm_strerror(enum crm_errcode code);
const char *crm_err_name(enum crm_errcode code);
const char *crm_err_title(enum crm_errcode code);
int crm_err_http_status(enum crm_errcode code);

#endif
