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
#include "crm/log.h"

#define ID_DIGITS_MAX 18
#define STREAM_CHUNK (32 * 1024)

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
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
		if (used + strlen(routes[i].method) + 3 < allow_size) {
			used += (size_t)snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "", routes[i].method);
		}
	}
	return path_found ? CRM_MATCH_NO_METHOD : CRM_MATCH_NO_PATH;
}

void crm_http_routes_print(const struct crm_router *router, FILE *out)
{
	for (size_t i = 0; i < router->nroutes; i++)
		fprintf(out, "%s %s\n", router->routes[i].method, router->routes[i].pattern);
}

bool crm_http_is_json(const char *ct)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (ct == NULL || strncasecmp(ct, json, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *decode_component(struct crm_arena *a, const char *s, size_t len)
{
	char *out = crm_arena_alloc(a, len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
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
	size_t nlen = strlen(name);
	const char *p = query;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '&'), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', len);
		if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0)
			return decode_component(a, eq + 1, len - nlen - 1);
		if (eq == NULL && len == nlen && memcmp(p, name, nlen) == 0)
			return "";
		p = end ? end + 1 : NULL;
	}
	return NULL;
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
	crm_json_problem(&resp->body, err);
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

bool crm_resp_flush(struct crm_response *resp, size_t threshold)
{
	if (!resp->streaming || resp->body.len < threshold)
		return !resp->failed;
	(void)sink_write(resp, resp->body.data, resp->body.len);
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
	(void)sink_write(resp, resp->body.data, resp->body.len);
}

void crm_http_handle(const struct crm_router *router, struct crm_service *svc, struct crm_arena *arena,
	struct crm_request *req, struct crm_response *resp)
{
	const struct crm_route *route = NULL;
	struct crm_ctx ctx = {req, resp, svc, arena};
	struct crm_err err;
	char allow[128];

	crm_err_init(&err);
	switch (crm_http_match(router, req->method, req->path, &route, req->params, allow, sizeof(allow))) {
	case CRM_MATCH_NO_PATH:
		crm_err_set(&err, CRM_E_NOT_FOUND, "no resource at this path");
		crm_resp_error(resp, &err);
		goto send;
	case CRM_MATCH_NO_METHOD:
		crm_err_set(&err, CRM_E_METHOD, "%s is not allowed here; allowed: %s", req->method, allow);
		crm_resp_error(resp, &err);
		crm_resp_header(resp, "Allow: %s", allow);
		goto send;
	case CRM_MATCH_OK:
		break;
	}
	if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PATCH") == 0) {
		if (req->body_too_large) {
			crm_err_set(&err, CRM_E_TOO_LARGE, NULL);
			crm_resp_error(resp, &err);
			goto send;
		}
		if (!crm_http_is_json(req->content_type)) {
			crm_err_set(&err, CRM_E_MEDIA_TYPE, NULL);
			crm_resp_error(resp, &err);
			goto send;
		}
	}
	route->handler(&ctx);
send:
	crm_resp_send(resp);
}
