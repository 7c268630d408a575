/* test_router.c -- route matching, 404/405 with Allow, request checks, query strings
 *
 * The router is tested on a table of its own: it links neither the handlers nor the service
 * and database layers (test_routes.c checks the service's real table).
 */
#include <stddef.h>

#include "check.h"
#include "crm/http.h"
#include "crm/util.h"

static void h_dummy(struct crm_ctx *ctx)
{
	(void)ctx;
}

/* Answers {"n":1} (a body a HEAD request must not get). */
static void h_body(struct crm_ctx *ctx)
{
	crm_buf_puts(&ctx->resp->body, "{\"n\":1}");
}

static const char *const things_query[] = {"limit", "after_id", "name", NULL};

static const struct crm_route table[] = {
	{"GET", "/api/things", h_body, things_query, CRM_SCOPE_PUBLIC},
	{"POST", "/api/things", h_dummy, NULL, CRM_SCOPE_PUBLIC},
	{"GET", "/api/things/{id}", h_dummy, NULL, CRM_SCOPE_PUBLIC},
	{"PATCH", "/api/things/{id}", h_dummy, NULL, CRM_SCOPE_PUBLIC},
	{"POST", "/api/things/{id}/parts/{id}", h_dummy, NULL, CRM_SCOPE_PUBLIC},
};
static const struct crm_router router = {table, CRM_COUNT(table), NULL};

static enum crm_match match(const char *method, const char *path, const struct crm_route **r, int64_t *params,
	char *allow)
{
	return crm_http_match(&router, method, path, r, params, allow, 128);
}

static void test_match(void)
{
	const struct crm_route *r = NULL;
	int64_t p[CRM_ROUTE_PARAMS_MAX];
	char allow[128];

	CHECK(match("GET", "/api/things", &r, p, allow) == CRM_MATCH_OK && r == &table[0]);
	CHECK(match("POST", "/api/things", &r, p, allow) == CRM_MATCH_OK && r == &table[1]);
	CHECK(match("GET", "/api/things/42", &r, p, allow) == CRM_MATCH_OK && r == &table[2] && p[0] == 42);
	CHECK(match("POST", "/api/things/7/parts/9", &r, p, allow) == CRM_MATCH_OK && p[0] == 7 && p[1] == 9);
	CHECK(match("GET", "/api/things/999999999999999999", &r, p, allow) == CRM_MATCH_OK &&
		p[0] == 999999999999999999LL);
}

static void test_no_path(void)
{
	const struct crm_route *r;
	int64_t p[CRM_ROUTE_PARAMS_MAX];
	char allow[128];
	static const char *const paths[] = {"/", "", "/api", "/api/things/", "/api/things/abc", "/api/things/-1",
		"/api/things/1x", "/api/things/1/", "/api/things//", "/api/thing", "/api/thingss",
		"/api/things/1234567890123456789", "/api/things/1/parts", "api/things", "/api/things/1/parts/x"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		CHECK(match("GET", paths[i], &r, p, allow) == CRM_MATCH_NO_PATH);
}

static void test_no_method(void)
{
	const struct crm_route *r;
	int64_t p[CRM_ROUTE_PARAMS_MAX];
	char allow[128];

	CHECK(match("DELETE", "/api/things", &r, p, allow) == CRM_MATCH_NO_METHOD);
	CHECK_STR(allow, "GET, HEAD, POST");
	CHECK(match("POST", "/api/things/3", &r, p, allow) == CRM_MATCH_NO_METHOD);
	CHECK_STR(allow, "GET, HEAD, PATCH");
	CHECK(match("PATCH", "/api/things/3/parts/4", &r, p, allow) == CRM_MATCH_NO_METHOD);
	CHECK_STR(allow, "POST");
	CHECK(match("get", "/api/things", &r, p, allow) == CRM_MATCH_NO_METHOD);
}

struct capture {
	struct crm_buf out;
};

static bool capture_write(void *ctx, const char *data, size_t len)
{
	crm_buf_append(&((struct capture *)ctx)->out, data, len);
	return true;
}

/* Requests rejected before any handler runs need no service. */
static const char *handle_query(const char *method, const char *path, const char *query, const char *ct, bool too_large,
	struct capture *cap)
{
	struct crm_request req = {0};
	struct crm_response resp;
	struct crm_arena *a = crm_arena_create(1024);
	struct crm_sink sink = {capture_write, cap};

	crm_buf_clear(&cap->out);
	req.method = method;
	req.path = path;
	req.query = query;
	req.content_type = ct;
	req.body = "{}";
	req.body_len = 2;
	req.body_too_large = too_large;
	crm_resp_init(&resp, sink);
	crm_http_handle(&router, NULL, a, &req, &resp);
	crm_resp_finish(&resp);
	crm_arena_destroy(a);
	return cap->out.data;
}

static const char *handle(const char *method, const char *path, const char *ct, bool too_large, struct capture *cap)
{
	return handle_query(method, path, "", ct, too_large, cap);
}

static void test_handle_rejections(void)
{
	struct capture cap;
	const char *out;

	crm_buf_init(&cap.out);
	out = handle("GET", "/nope", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 404 Not Found\r\n", 23) == 0);
	CHECK(strstr(out, "Content-Type: application/problem+json\r\n") != NULL);
	CHECK(strstr(out, "\"status\":404") != NULL);
	out = handle("DELETE", "/api/things/1", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 405", 11) == 0);
	CHECK(strstr(out, "\r\nAllow: GET, HEAD, PATCH\r\n") != NULL);
	out = handle("POST", "/api/things", "text/plain", false, &cap);
	CHECK(strncmp(out, "Status: 415", 11) == 0);
	out = handle("POST", "/api/things", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 415", 11) == 0);
	out = handle("PATCH", "/api/things/1", "application/json", true, &cap);
	CHECK(strncmp(out, "Status: 413", 11) == 0);
	out = handle("POST", "/api/things", "application/json; charset=latin1", false, &cap);
	CHECK(strncmp(out, "Status: 415", 11) == 0 && strstr(out, "UTF-8") != NULL);
	out = handle_query("GET", "/api/things", "lmit=10", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 400", 11) == 0 && strstr(out, "unknown query parameter \\\"lmit\\\"") != NULL);
	out = handle_query("GET", "/api/things", "limit=1&limit=2", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 400", 11) == 0 && strstr(out, "\\\"limit\\\" is repeated") != NULL);
	out = handle_query("GET", "/api/things/1", "limit=1", NULL, false, &cap); /* takes no parameters */
	CHECK(strncmp(out, "Status: 400", 11) == 0);
	out = handle_query("POST", "/api/things", "x=1", "application/json", false, &cap);
	CHECK(strncmp(out, "Status: 400", 11) == 0);
	crm_buf_finish(&cap.out);
}

/* HEAD: the status and headers of GET (Content-Length included), no body. */
static void test_head(void)
{
	struct capture cap;
	const char *out;

	crm_buf_init(&cap.out);
	out = handle("GET", "/api/things", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 200", 11) == 0 && strstr(out, "Content-Length: 7\r\n") != NULL);
	CHECK(strstr(out, "\r\n\r\n{\"n\":1}") != NULL);
	out = handle("HEAD", "/api/things", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 200", 11) == 0 && strstr(out, "Content-Length: 7\r\n") != NULL);
	CHECK(strlen(out) > 4 && strcmp(out + strlen(out) - 4, "\r\n\r\n") == 0);
	out = handle_query("HEAD", "/api/things", "lmit=1", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 400", 11) == 0 && strcmp(out + strlen(out) - 4, "\r\n\r\n") == 0);
	out = handle("HEAD", "/api/things/1/parts/2", NULL, false, &cap);
	CHECK(strncmp(out, "Status: 405", 11) == 0 && strstr(out, "\r\nAllow: POST\r\n") != NULL);
	crm_buf_finish(&cap.out);
}

/* --- the authorize callback: runs after routing, before the body checks and the handler --- */

static unsigned authorize_asked; /* the scopes the callback was called with */
static int handler_ran;

static void h_count(struct crm_ctx *ctx)
{
	(void)ctx;
	handler_ran++;
}

static bool authorize_no(struct crm_ctx *ctx, unsigned scopes)
{
	struct crm_err err;

	authorize_asked = scopes;
	crm_err_init(&err);
	crm_err_set(&err, CRM_E_FORBIDDEN, "no");
	crm_resp_error(ctx->resp, &err);
	return false;
}

static bool authorize_yes(struct crm_ctx *ctx, unsigned scopes)
{
	(void)ctx;
	authorize_asked = scopes;
	return true;
}

static const struct crm_route keyed_table[] = {
	{"POST", "/k", h_count, NULL, CRM_SCOPE_ADMIN | CRM_SCOPE_INTAKE},
	{"GET", "/p", h_count, NULL, CRM_SCOPE_PUBLIC},
	{"GET", "/none", h_count, NULL, 0}, /* refused by crm_http_router_check; fails closed anyway */
};

static const char *handle_with(const struct crm_router *r, const char *method, const char *path, const char *ct,
	struct capture *cap)
{
	struct crm_request req = {0};
	struct crm_response resp;
	struct crm_arena *a = crm_arena_create(1024);
	struct crm_sink sink = {capture_write, cap};

	crm_buf_clear(&cap->out);
	req.method = method;
	req.path = path;
	req.query = "";
	req.content_type = ct;
	req.body = "{}";
	req.body_len = 2;
	crm_resp_init(&resp, sink);
	crm_http_handle(r, NULL, a, &req, &resp);
	crm_resp_finish(&resp);
	crm_arena_destroy(a);
	return cap->out.data;
}

static void test_authorize(void)
{
	const struct crm_router no = {keyed_table, CRM_COUNT(keyed_table), authorize_no};
	const struct crm_router yes = {keyed_table, CRM_COUNT(keyed_table), authorize_yes};
	const struct crm_router none = {keyed_table, CRM_COUNT(keyed_table), NULL};
	struct capture cap;
	const char *out;

	crm_buf_init(&cap.out);
	handler_ran = 0;
	/* refused: before the content type is even looked at (text/plain would be 415) */
	out = handle_with(&no, "POST", "/k", "text/plain", &cap);
	CHECK(strncmp(out, "Status: 403 Forbidden\r\n", 23) == 0 && handler_ran == 0);
	CHECK(authorize_asked == (CRM_SCOPE_ADMIN | CRM_SCOPE_INTAKE));
	out = handle_with(&yes, "POST", "/k", "application/json", &cap);
	CHECK(strncmp(out, "Status: 200", 11) == 0 && handler_ran == 1);
	out = handle_with(&yes, "POST", "/k", "text/plain", &cap);
	CHECK(strncmp(out, "Status: 415", 11) == 0 && handler_ran == 1);
	/* a public route never asks */
	authorize_asked = 0;
	out = handle_with(&no, "GET", "/p", NULL, &cap);
	CHECK(strncmp(out, "Status: 200", 11) == 0 && handler_ran == 2 && authorize_asked == 0);
	/* fails closed: no scopes, or a key route on a router that checks no keys */
	out = handle_with(&yes, "GET", "/none", NULL, &cap);
	CHECK(strncmp(out, "Status: 500", 11) == 0 && handler_ran == 2);
	out = handle_with(&none, "POST", "/k", "application/json", &cap);
	CHECK(strncmp(out, "Status: 500", 11) == 0 && handler_ran == 2);
	/* 404 and 405 need no key */
	CHECK(strncmp(handle_with(&no, "GET", "/x", NULL, &cap), "Status: 404", 11) == 0);
	CHECK(strncmp(handle_with(&no, "GET", "/k", NULL, &cap), "Status: 405", 11) == 0);
	crm_buf_finish(&cap.out);
}

static bool query_ok(const char *query)
{
	struct crm_arena *a = crm_arena_create(1024);
	struct crm_err err;
	bool ok;

	crm_err_init(&err);
	ok = crm_http_query_check(a, query, things_query, &err);
	CHECK(ok == (err.code == CRM_E_OK));
	CHECK(ok || err.code == CRM_E_BAD_REQUEST);
	crm_arena_destroy(a);
	return ok;
}

static void test_query_check(void)
{
	static const char *const good[] = {"", "limit=5", "limit=5&after_id=7", "limit=", "limit", "l%69mit=5",
		"name=a+b%20c", "name=%C3%A9", "name=%e2%82%ac", "name=%7F", "name=%2500"};
	static const char *const bad[] = {"lmit=10", "limit=1&limit=2", "limit=1&l%69mit=2", "limit=1&", "&limit=1",
		"limit=1&&after_id=2", "=5", "name=%00", "name=a%00b", "na%00me=1", "name=%", "name=%2", "name=%G1",
		"name=%C3", "name=%C0%AF", "name=%ED%A0%80", "name=%FF", "name=\xc3", "Limit=1", "limit =1"};

	for (size_t i = 0; i < CRM_COUNT(good); i++) {
		CHECK(query_ok(good[i]));
		if (!query_ok(good[i]))
			fprintf(stderr, "  refused: %s\n", good[i]);
	}
	for (size_t i = 0; i < CRM_COUNT(bad); i++) {
		CHECK(!query_ok(bad[i]));
		if (query_ok(bad[i]))
			fprintf(stderr, "  accepted: %s\n", bad[i]);
	}
}

static void test_query(void)
{
	struct crm_arena *a = crm_arena_create(1024);

	CHECK_STR(crm_http_query_get(a, "a=1&b=two&c=", "b"), "two");
	CHECK_STR(crm_http_query_get(a, "a=1&b=two&c=", "c"), "");
	CHECK_STR(crm_http_query_get(a, "ab=1&b=2", "b"), "2");
	CHECK_STR(crm_http_query_get(a, "x=a%20b+c%2", "x"), "a b c%2");
	CHECK(crm_http_query_get(a, "a=1", "b") == NULL);
	CHECK(crm_http_query_get(a, "", "a") == NULL);
	CHECK_STR(crm_http_query_get(a, "l%69mit=5", "limit"), "5"); /* names compared decoded */
	CHECK(crm_http_is_json("application/json"));
	CHECK(crm_http_is_json("application/json; charset=utf-8"));
	CHECK(crm_http_is_json("application/json;charset=UTF-8"));
	CHECK(crm_http_is_json("application/json; charset=\"utf-8\""));
	CHECK(crm_http_is_json("application/json; foo=bar; charset=utf-8 "));
	CHECK(crm_http_is_json("application/json;"));
	CHECK(!crm_http_is_json("application/json; charset=iso-8859-1"));
	CHECK(!crm_http_is_json("application/json; charset=utf-16"));
	CHECK(!crm_http_is_json("application/json; charset=utf8"));
	CHECK(!crm_http_is_json("application/json; charset="));
	CHECK(!crm_http_is_json("application/json; foo=bar; CHARSET=latin1"));
	CHECK(crm_http_is_json("Application/JSON"));
	CHECK(!crm_http_is_json("application/jsonx"));
	CHECK(!crm_http_is_json("text/plain"));
	CHECK(!crm_http_is_json(NULL));
	crm_arena_destroy(a);
}

int main(void)
{
	test_match();
	test_no_path();
	test_no_method();
	test_handle_rejections();
	test_head();
	test_authorize();
	test_query_check();
	test_query();
	return check_done("router");
}
