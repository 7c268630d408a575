/* http.h -- requests, responses and the route table, independent of the transport
 *
 * The fcgi layer fills a struct crm_request and gives a sink that writes bytes to the client;
 * crm_http_handle() matches the route, runs the handler and writes the whole answer. Handlers
 * choose HTTP statuses (from the error table) and are the only users of json.h and service.h
 * at this level.
 */
#ifndef CRM_HTTP_H
#define CRM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crm/arena.h"
#include "crm/buf.h"
#include "crm/domain.h"
#include "crm/err.h"

#define CRM_ROUTE_PARAMS_MAX 2
/* The Retry-After of every 503 answer (a retry conflict, a database time limit, no database). */
#define CRM_RETRY_AFTER_SECONDS 1

struct crm_service; /* service.h: what the handlers call */

struct crm_request {
	const char *method;       /* "GET", ... */
	const char *path;         /* without the query string */
	const char *query;        /* without '?', may be "" */
	const char *content_type; /* NULL when absent */
	const char *body;
	size_t body_len;
	bool body_too_large;                  /* the declared length exceeded the limit; body not read */
	int64_t params[CRM_ROUTE_PARAMS_MAX]; /* {id} values of the matched route, in order */
	bool queue_expired;          /* waited for a worker longer than CRM_QUEUE_TIMEOUT_MS: 503 before any work */
	const char *idempotency_key; /* the Idempotency-Key header; NULL when absent */
	const char *authorization;   /* the Authorization header; NULL when absent */
	/* Set by the router's authorize callback before the handler runs; NULL on a public route
	 * (and when a benchmark turned the check off). key_id is the key's public id, for logs. */
	const char *key_id;
	const struct crm_principal *principal;
	/* Set by crm_http_handle: the matched route (an entry of the router's table), NULL when
	 * none matched; the transport counts the request under it (metrics.h). */
	const struct crm_route *route;
	/* README "Request ids": nginx's CRM_REQUEST_ID (the client's X-Request-Id when well formed,
	 * else nginx's $request_id), or one the worker made; 1..CRM_REQUEST_ID_MAX characters of
	 * [A-Za-z0-9._-]. Echoed in X-Request-Id, every log line and every problem body. */
	const char *request_id;
};

#define CRM_REQUEST_ID_MAX 64

/* s is a well-formed request id: 1..CRM_REQUEST_ID_MAX characters of [A-Za-z0-9._-]. */
bool crm_http_request_id_ok(const char *s);

/* Where the answer goes; write returns false when the client is gone. */
struct crm_sink {
	bool (*write)(void *ctx, const char *data, size_t len);
	void *ctx;
};

struct crm_response {
	int status;
	const char *content_type;
	char extra_headers[512]; /* "Name: value\r\n" lines (Location, Allow, Link) */
	struct crm_buf body;
	bool streaming;         /* headers already sent, body flushed in chunks */
	bool failed;            /* the sink failed: stop producing */
	bool head_only;         /* a HEAD request: the headers of GET, no body */
	const char *request_id; /* in every problem body; NULL: none (set by crm_http_handle) */
	struct crm_sink sink;
};

/* Everything a handler may use. */
struct crm_ctx {
	struct crm_request *req;
	struct crm_response *resp;
	struct crm_service *svc;
	struct crm_arena *arena;
};

typedef void (*crm_handler_fn)(struct crm_ctx *ctx);

struct crm_route {
	const char *method;
	const char *pattern; /* literal segments and "{id}" (1 to 18 digits) */
	crm_handler_fn handler;
	const char *const *query; /* the query parameters it takes, NULL-terminated; NULL: none */
	unsigned scopes;          /* enum crm_scope bits that may call it, or CRM_SCOPE_PUBLIC alone */
};

/* Authenticates the request and checks that its key holds one of `scopes` (never public):
 * true with req->key_id and req->principal set, or false after answering (401, 403, 503).
 * The handlers layer implements it (it needs the service); the http layer only calls it. */
typedef bool (*crm_authorize_fn)(struct crm_ctx *ctx, unsigned scopes);

/* A route table; the service's own is crm_routes (routes.h). The router never reaches for a
 * global table, so it can be tested and fuzzed without the handlers and what they call. */
struct crm_router {
	const struct crm_route *routes;
	size_t nroutes;
	crm_authorize_fn authorize; /* NULL: only public routes can be served */
};

/* Every route says who may call it: a non-zero mask of known scopes, or CRM_SCOPE_PUBLIC
 * alone; and a router with a non-public route has an authorize callback. Checked at start
 * (crm serve refuses to run) and by the unit tests; crm_http_handle fails closed regardless. */
bool crm_http_router_check(const struct crm_router *router, struct crm_err *err) CRM_MUSTCHECK;

enum crm_match { CRM_MATCH_OK, CRM_MATCH_NO_PATH, CRM_MATCH_NO_METHOD };

/* Finds the route for method and path. On CRM_MATCH_OK *route and params are set; on
 * CRM_MATCH_NO_METHOD allow[] receives "GET, POST" style text of the path's methods. */
enum crm_match crm_http_match(const struct crm_router *router, const char *method, const char *path,
	const struct crm_route **route, int64_t params[CRM_ROUTE_PARAMS_MAX], char *allow, size_t allow_size);

/* Runs one request to completion with the routes of router. */
void crm_http_handle(const struct crm_router *router, struct crm_service *svc, struct crm_arena *arena,
	struct crm_request *req, struct crm_response *resp);

/* One "METHOD PATTERN SCOPES" line per route; SCOPES is "admin,agent,read" or "public". */
void crm_http_routes_print(const struct crm_router *router, FILE *out);

/* --- response helpers for handlers --- */
void crm_resp_init(struct crm_response *resp, struct crm_sink sink);
void crm_resp_finish(struct crm_response *resp);
void crm_resp_header(struct crm_response *resp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Answers a problem+json for err (with resp->request_id as "request_id"). */
void crm_resp_error(struct crm_response *resp, const struct crm_err *err);
/* Sends the status line and headers now; later body bytes are flushed as they accumulate. */
void crm_resp_stream_begin(struct crm_response *resp, int status);
/* Flushes the body buffer if it is larger than `threshold`; returns false if the client is gone. */
bool crm_resp_flush(struct crm_response *resp, size_t threshold);
/* Writes the status, headers and the buffered body (or the last chunk when streaming). */
void crm_resp_send(struct crm_response *resp);

/* Query string: finds `name` (compared decoded) and copies its decoded value into the arena;
 * NULL if absent. Lenient by itself: crm_http_handle has run crm_http_query_check before. */
const char *crm_http_query_get(struct crm_arena *a, const char *query, const char *name);
/* The whole query string against the names a route takes (NULL-terminated; NULL for none):
 * every parameter known and given once, "name=value" pieces separated by single '&', every
 * '%' followed by two hex digits, no %00, decoded text in UTF-8. Else CRM_E_BAD_REQUEST with
 * a detail naming the parameter. */
bool crm_http_query_check(struct crm_arena *a, const char *query, const char *const *allowed,
	struct crm_err *err) CRM_MUSTCHECK;
/* Content-Type is application/json, with or without parameters; a charset parameter must
 * be UTF-8 (RFC 8259: JSON is UTF-8). */
bool crm_http_is_json(const char *content_type);

#endif
