/* http.c -- route matching, request checks common to all routes, and response framing
 *
 * The answer is framed as CGI/FastCGI response headers ("Status: 201 Created") and written
 * through the sink the transport gave. A handler either fills resp->body and returns, or
 * starts streaming (headers first, then the body in chunks as rows arrive).
 */
#include "crm/http.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "crm/json.h"
#include "crm/json_valid.h"
#include "crm/log.h"
#include "crm/util.h"

#define ID_DIGITS_MAX 18
#define QUERY_NAMES_MAX 32 /* names a route may take */
#define STREAM_CHUNK (32 * 1024)

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* Matches one path segment of a pattern; "{id}" takes 1..18 digits. */
static bool segment_match(const char *pat, size_t plen, const char *seg, size_t slen, int64_t *param, bool *is_param)
{
	*is_param = plen == 4 && memcmp(pat, "{id}", 4) == 0;
	if (!*is_param)
		return plen == slen && memcmp(pat, seg, slen) == 0;
	if (slen == 0 || slen > ID_DIGITS_MAX)
		return false;
	*param = 0;
	for (size_t i = 0; i < slen; i++) {
		if (seg[i] < '0' || seg[i] > '9')
			return false;
		*param = *param * 10 + (seg[i] - '0');
	}
	return true;
}

static bool path_match(const char *pattern, const char *path, int64_t params[CRM_ROUTE_PARAMS_MAX])
{
	size_t np = 0;

	for (;;) {
		const char *pe, *se;
		bool is_param;
		int64_t v = 0;

		if (*pattern != '/' || *path != '/')
			return false;
		pattern++, path++;
		pe = strchr(pattern, '/');
		se = strchr(path, '/');
		if (pe == NULL)
			pe = pattern + strlen(pattern);
		if (se == NULL)
			se = path + strlen(path);
		if (!segment_match(pattern, (size_t)(pe - pattern), path, (size_t)(se - path), &v, &is_param))
			return false;
		if (is_param && np < CRM_ROUTE_PARAMS_MAX)
			params[np++] = v;
		pattern = pe, path = se;
		if (*pattern == '\0' || *path == '\0')
			return *pattern == '\0' && *path == '\0';
	}
}

enum crm_match crm_http_match(const struct crm_router *router, const char *method, const char *path,
	const struct crm_route **route, int64_t params[CRM_ROUTE_PARAMS_MAX], char *allow, size_t allow_size)
{
	const struct crm_route *routes = router->routes;
	bool path_found = false;
	size_t used = 0;

	if (allow_size > 0)
		allow[0] = '\0';
	for (size_t i = 0; i < router->nroutes; i++) {
		int64_t p[CRM_ROUTE_PARAMS_MAX] = {0};

		if (!path_match(routes[i].pattern, path, p))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			*route = &routes[i];
			memcpy(params, p, sizeof(p));
			return CRM_MATCH_OK;
		}
		path_found = true;
		if (used + strlen(routes[i].method) + 9 < allow_size) {
			used += (size_t)snprintf(allow + used, allow_size - used, "%s%s%s", used ? ", " : "",
				routes[i].method, strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
		}
	}
	return path_found ? CRM_MATCH_NO_METHOD : CRM_MATCH_NO_PATH;
}

void crm_http_routes_print(const struct crm_router *router, FILE *out)
{
	for (size_t i = 0; i < router->nroutes; i++) {
		const struct crm_route *r = &router->routes[i];
		const char *sep = "";

		fprintf(out, "%s %s ", r->method, r->pattern);
		if (r->scopes & CRM_SCOPE_PUBLIC)
			fputs("public", out);
		for (unsigned bit = 1; bit & CRM_SCOPE_ALL; bit <<= 1) {
			if (r->scopes & bit) {
				fprintf(out, "%s%s", sep, crm_scope_name(bit));
				sep = ",";
			}
		}
		fputc('\n', out);
	}
}

bool crm_http_router_check(const struct crm_router *router, struct crm_err *err)
{
	for (size_t i = 0; i < router->nroutes; i++) {
		const struct crm_route *r = &router->routes[i];

		if (r->scopes == 0 || (r->scopes & ~(CRM_SCOPE_ALL | CRM_SCOPE_PUBLIC)) != 0 ||
			((r->scopes & CRM_SCOPE_PUBLIC) && r->scopes != CRM_SCOPE_PUBLIC))
			return crm_err_set(err, CRM_E_INTERNAL,
				"route %s %s: its scopes must be a non-empty set of admin, intake, agent, read, or public "
				"alone",
				r->method, r->pattern);
		if (!(r->scopes & CRM_SCOPE_PUBLIC) && router->authorize == NULL)
			return crm_err_set(err, CRM_E_INTERNAL, "route %s %s needs a key but the router checks none",
				r->method, r->pattern);
	}
	return true;
}

/* Who may call the route: public, or the router's authorize callback with the route's scopes.
 * Fails closed: a route without scopes, or a router that cannot check keys, serves nobody. */
static bool authorized(const struct crm_router *router, const struct crm_route *route, struct crm_ctx *ctx,
	struct crm_err *err)
{
	if (route->scopes == CRM_SCOPE_PUBLIC)
		return true;
	if (router->authorize == NULL || (route->scopes & CRM_SCOPE_ALL) == 0) {
		crm_log_error("route %s %s has no scope or no key check: refused", route->method, route->pattern);
		crm_err_set(err, CRM_E_INTERNAL, NULL);
		crm_resp_error(ctx->resp, err);
		return false;
	}
	return router->authorize(ctx, route->scopes & CRM_SCOPE_ALL);
}

static const char *skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The charset parameter's value at s (a token or a quoted string) is UTF-8. */
static bool charset_is_utf8(const char *s, size_t len)
{
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
		s++, len -= 2;
	return len == 5 && strncasecmp(s, "utf-8", 5) == 0;
}

bool crm_http_is_json(const char *ct)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (ct == NULL || strncasecmp(ct, json, n) != 0)
		return false;
	for (ct = skip_ows(ct + n); *ct != '\0'; ct = skip_ows(ct)) {
		const char *name, *end;

		if (*ct != ';')
			return false;
		name = skip_ows(ct + 1);
		end = name + strcspn(name, ";");
		ct = end;
		while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - name) >= 8 && strncasecmp(name, "charset=", 8) == 0 &&
			!charset_is_utf8(name + 8, (size_t)(end - name) - 8))
			return false;
	}
	return true;
}

/* The byte that the "%XY" at s[i] encodes, or -1 when it is not '%' and two hex digits. */
static int pct_byte(const char *s, size_t i, size_t len)
{
	int hi, lo;

	if (s[i] != '%' || i + 2 >= len)
		return -1;
	hi = crm_hexval((unsigned char)s[i + 1]);
	lo = crm_hexval((unsigned char)s[i + 2]);
	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static char *decode_component(struct crm_arena *a, const char *s, size_t len)
{
	char *out = crm_arena_alloc(a, len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		int byte = pct_byte(s, i, len);

		if (s[i] == '+') {
			*o++ = ' ';
		} else if (byte >= 0) {
			*o++ = (char)byte;
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

const char *crm_http_query_get(struct crm_arena *a, const char *query, const char *name)
{
	const char *p = query;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '&'), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', len);
		if (strcmp(decode_component(a, p, eq ? (size_t)(eq - p) : len), name) == 0)
			return eq ? decode_component(a, eq + 1, len - (size_t)(eq - p) - 1) : "";
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/* s[0..len) as a strictly percent-encoded component: every '%' starts two hex digits, no
 * %00, and the decoded bytes are UTF-8. */
static bool component_ok(struct crm_arena *a, const char *s, size_t len)
{
	const char *decoded;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%')
			continue;
		if (pct_byte(s, i, len) <= 0) /* not two hex digits, or %00 */
			return false;
		i += 2;
	}
	decoded = decode_component(a, s, len);
	return crm_json_utf8_valid(decoded, strlen(decoded));
}

static int name_index(const char *name, const char *const *allowed)
{
	for (int i = 0; allowed != NULL && allowed[i] != NULL && i < QUERY_NAMES_MAX; i++) {
		if (strcmp(allowed[i], name) == 0)
			return i;
	}
	return -1;
}

bool crm_http_query_check(struct crm_arena *a, const char *query, const char *const *allowed, struct crm_err *err)
{
	uint32_t seen = 0;

	if (*query == '\0')
		return true;
	for (const char *p = query;;) {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);
		size_t nlen = eq ? (size_t)(eq - p) : len;
		const char *name;
		int i;

		if (nlen == 0)
			return crm_err_set(err, CRM_E_BAD_REQUEST, "the query string has an empty parameter name");
		if (!component_ok(a, p, nlen) || (eq != NULL && !component_ok(a, eq + 1, len - nlen - 1)))
			return crm_err_set(err, CRM_E_BAD_REQUEST,
				"the query string has bad percent-encoding, %%00 or text that is not UTF-8");
		name = decode_component(a, p, nlen);
		if ((i = name_index(name, allowed)) < 0)
			return crm_err_set(err, CRM_E_BAD_REQUEST, "unknown query parameter \"%.64s\"", name);
		if (seen & (1u << i))
			return crm_err_set(err, CRM_E_BAD_REQUEST, "query parameter \"%s\" is repeated", name);
		seen |= 1u << i;
		if (p[len] == '\0')
			return true;
		p += len + 1;
	}
}

/* --- responses --- */

void crm_resp_init(struct crm_response *resp, struct crm_sink sink)
{
	resp->status = 200;
	resp->content_type = "application/json";
	resp->extra_headers[0] = '\0';
	crm_buf_init(&resp->body);
	resp->streaming = false;
	resp->failed = false;
	resp->head_only = false;
	resp->request_id = NULL;
	resp->sink = sink;
}

void crm_resp_finish(struct crm_response *resp)
{
	crm_buf_finish(&resp->body);
}

void crm_resp_header(struct crm_response *resp, const char *fmt, ...)
{
	size_t used = strlen(resp->extra_headers);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(resp->extra_headers + used, sizeof(resp->extra_headers) - used, fmt, ap);
	va_end(ap);
	used = strlen(resp->extra_headers);
	if (used + 2 < sizeof(resp->extra_headers))
		memcpy(resp->extra_headers + used, "\r\n", 3);
}

void crm_resp_error(struct crm_response *resp, const struct crm_err *err)
{
	if (resp->streaming) {
		/* the status is gone already: cut the body so the client sees a broken document */
		crm_log_error("error after the response started: %s", err->detail);
		resp->failed = true;
		return;
	}
	resp->status = crm_err_http_status(err->code);
	resp->content_type = "application/problem+json";
	crm_buf_clear(&resp->body);
	crm_json_problem(&resp->body, err, resp->request_id);
	if (resp->status == 503) /* every 503 is temporary: conflict, time limit, database down */
		crm_resp_header(resp, "Retry-After: %d", CRM_RETRY_AFTER_SECONDS);
}

static bool sink_write(struct crm_response *resp, const char *data, size_t len)
{
	if (resp->failed)
		return false;
	if (len > 0 && !resp->sink.write(resp->sink.ctx, data, len))
		resp->failed = true;
	return !resp->failed;
}

static void send_headers(struct crm_response *resp, bool with_length)
{
	char head[1024];
	int n;

	if (with_length)
		n = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
			resp->status, reason(resp->status), resp->content_type, resp->body.len, resp->extra_headers);
	else
		n = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Type: %s\r\n%s\r\n", resp->status,
			reason(resp->status), resp->content_type, resp->extra_headers);
	(void)sink_write(resp, head, (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1);
}

void crm_resp_stream_begin(struct crm_response *resp, int status)
{
	resp->status = status;
	send_headers(resp, false);
	resp->streaming = true;
}

/* The body goes out, except to a HEAD request (nginx would drop it too). */
static bool body_write(struct crm_response *resp, const char *data, size_t len)
{
	return resp->head_only ? !resp->failed : sink_write(resp, data, len);
}

bool crm_resp_flush(struct crm_response *resp, size_t threshold)
{
	if (!resp->streaming || resp->body.len < threshold)
		return !resp->failed;
	(void)body_write(resp, resp->body.data, resp->body.len);
	crm_buf_clear(&resp->body);
	return !resp->failed;
}

void crm_resp_send(struct crm_response *resp)
{
	if (resp->streaming) {
		(void)crm_resp_flush(resp, 0);
		return;
	}
	send_headers(resp, true);
	(void)body_write(resp, resp->body.data, resp->body.len);
}

bool crm_http_request_id_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

	return n >= 1 && n <= CRM_REQUEST_ID_MAX && s[n] == '\0';
}

void crm_http_handle(const struct crm_router *router, struct crm_service *svc, struct crm_arena *arena,
	struct crm_request *req, struct crm_response *resp)
{
	const struct crm_route *route = NULL;
	struct crm_ctx ctx = {req, resp, svc, arena};
	struct crm_err err;
	char allow[128];

	crm_err_init(&err);
	crm_log_context_set(req->method, NULL, NULL); /* no route yet */
	if (req->request_id != NULL) {                /* the id goes with every answer and every line */
		crm_log_context_request_id(req->request_id);
		crm_resp_header(resp, "X-Request-Id: %s", req->request_id);
		resp->request_id = req->request_id;
	}
	resp->head_only = strcmp(req->method, "HEAD") == 0; /* answered as GET, without the body */
	if (req->queue_expired) { /* first: a refused request costs no routing and no database work */
		crm_err_set(&err, CRM_E_BUSY, "every worker was busy for longer than the queue limit; try again");
		crm_resp_error(resp, &err);
		goto send;
	}
	switch (crm_http_match(router, resp->head_only ? "GET" : req->method, req->path, &route, req->params, allow,
		sizeof(allow))) {
	case CRM_MATCH_NO_PATH:
		crm_err_set(&err, CRM_E_NOT_FOUND, "no resource at this path");
		crm_resp_error(resp, &err);
		goto send;
	case CRM_MATCH_NO_METHOD:
		crm_err_set(&err, CRM_E_METHOD, "%s is not allowed here; allowed: %s", req->method, allow);
		crm_resp_error(resp, &err);
		crm_resp_header(resp, "Allow: %s", allow);
		goto send;
	case CRM_MATCH_OK: break;
	}
	req->route = route;
	/* from here on every log line of this request names its route (never the raw path) */
	crm_log_context_set(req->method, route->pattern, NULL);
	if (!authorized(router, route, &ctx, &err)) /* before anything about the body is said */
		goto send;
	crm_log_context_set(req->method, route->pattern, req->key_id); /* and the key that called it */
	if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PATCH") == 0) {
		if (req->body_too_large) {
			crm_err_set(&err, CRM_E_TOO_LARGE, NULL);
			crm_resp_error(resp, &err);
			goto send;
		}
		if (!crm_http_is_json(req->content_type)) {
			crm_err_set(&err, CRM_E_MEDIA_TYPE,
				"content type must be application/json, in UTF-8 if a charset is given");
			crm_resp_error(resp, &err);
			goto send;
		}
	}
	if (!crm_http_query_check(arena, req->query, route->query, &err)) {
		crm_resp_error(resp, &err);
		goto send;
	}
	route->handler(&ctx);
send:
	crm_resp_send(resp);
}
