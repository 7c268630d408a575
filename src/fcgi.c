/* fcgi.c -- FastCGI transport: the listening socket and the worker's request loop
 *
 * The only includer of fcgiapp.h. A worker accepts one request at a time on the socket it
 * shares with its siblings, copies what it needs out of libfcgi's buffers into the request
 * arena (libfcgi frees them at the next accept), runs crm_http_handle and writes the answer.
 * Below it are only http (crm_http_handle) and the service (crm_service_connect at start,
 * crm_service_request_done after every request); it never calls the database layer.
 *
 * DESIGN (stopping): SIGTERM is blocked while a request runs, so an in-flight request always
 * completes. While the worker waits in accept it is idle, and the handler exits at once.
 */
#include "crm/fcgi.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "crm/arena.h"
#include "crm/http.h"
#include "crm/log.h"
#include "crm/proc.h"
#include "crm/routes.h"
#include "crm/service.h"

#define LISTEN_BACKLOG 1024
#define ARENA_BLOCK (64 * 1024)

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t idle;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (idle)
		_exit(0);
}

bool crm_fcgi_listen(const struct crm_config *cfg, int *out, struct crm_err *err)
{
	int fd = -1, accepting = 0;
	socklen_t len = sizeof(accepting);
	struct stat st;

	if (FCGX_Init() != 0)
		return crm_err_set(err, CRM_E_INTERNAL, "could not initialise libfcgi");
	switch (cfg->listen_kind) {
	case CRM_LISTEN_FD:
		fd = cfg->listen_fd;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting)
			return crm_err_set(err, CRM_E_INVALID, "fd %d is not a listening socket", fd);
		break;
	case CRM_LISTEN_UNIX:
		if (lstat(cfg->listen_addr, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(cfg->listen_addr); /* left by a previous run */
		fd = FCGX_OpenSocket(cfg->listen_addr, LISTEN_BACKLOG);
		if (fd < 0)
			return crm_err_set(err, CRM_E_INVALID, "could not listen on %s", cfg->listen_addr);
		if (chmod(cfg->listen_addr, cfg->socket_mode) != 0)
			crm_log_warn("could not chmod %s: %s", cfg->listen_addr, strerror(errno));
		break;
	case CRM_LISTEN_TCP:
		fd = FCGX_OpenSocket(cfg->listen_addr, LISTEN_BACKLOG);
		if (fd < 0)
			return crm_err_set(err, CRM_E_INVALID, "could not listen on %s", cfg->listen_addr);
		break;
	}
	if (fd < 0)
		return crm_err_set(err, CRM_E_INTERNAL, "unknown listen kind");
	*out = fd;
	return true;
}

static bool sink_write(void *ctx, const char *data, size_t len)
{
	FCGX_Request *req = ctx;

	while (len > 0) {
		int chunk = len > (1u << 30) ? (1 << 30) : (int)len;

		if (FCGX_PutStr(data, chunk, req->out) != chunk)
			return false;
		data += chunk;
		len -= (size_t)chunk;
	}
	return true;
}

static const char *param(FCGX_Request *req, struct crm_arena *a, const char *name)
{
	const char *v = FCGX_GetParam(name, req->envp);

	return (v == NULL || v[0] == '\0') ? NULL : crm_arena_strdup(a, v);
}

/* Reads the body (declared length, or until EOF when none is declared), up to the limit. */
static void read_body(FCGX_Request *fr, struct crm_arena *a, size_t limit, struct crm_request *req)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	size_t want = limit + 1, got = 0;
	char *body;

	if (cl != NULL && cl[0] != '\0') {
		char *end;
		unsigned long long v = strtoull(cl, &end, 10);

		if (*end != '\0' || v > limit) {
			req->body_too_large = true;
			return;
		}
		want = (size_t)v;
	}
	body = crm_arena_alloc(a, want + 1);
	while (got < want) {
		int n = FCGX_GetStr(body + got, (int)(want - got), fr->in);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got > limit) {
		req->body_too_large = true;
		return;
	}
	body[got] = '\0';
	req->body = body;
	req->body_len = got;
}

/* Returns false when the answer could not be completed (an error after its headers went out,
 * or the client gone): see abort_request. */
static bool serve_one(FCGX_Request *fr, const struct crm_config *cfg, struct crm_service *svc, struct crm_arena *arena)
{
	struct crm_sink sink = {sink_write, fr};
	struct crm_request req;
	struct crm_response resp;
	struct timespec t0, t1;
	const char *uri;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&req, 0, sizeof(req));
	req.method = param(fr, arena, "REQUEST_METHOD");
	if (req.method == NULL)
		req.method = "GET";
	uri = param(fr, arena, "DOCUMENT_URI");
	if (uri == NULL && (uri = param(fr, arena, "REQUEST_URI")) != NULL)
		uri = crm_arena_strndup(arena, uri, strcspn(uri, "?"));
	req.path = uri ? uri : "/";
	req.query = param(fr, arena, "QUERY_STRING");
	if (req.query == NULL)
		req.query = "";
	req.content_type = param(fr, arena, "CONTENT_TYPE");
	read_body(fr, arena, cfg->body_limit, &req);

	crm_resp_init(&resp, sink);
	crm_http_handle(&crm_routes, svc, arena, &req, &resp);
	crm_resp_finish(&resp);

	if (crm_log_enabled(CRM_LOG_DEBUG)) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		crm_log_debug("%s %s %d %.3fms%s", req.method, req.path, resp.status,
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
			resp.failed ? " (aborted)" : "");
	}
	return !resp.failed;
}

/* Aborts a request whose answer could not be completed, so the client sees a failed transfer,
 * never a complete 200 with cut JSON. Closing the connection without FCGI_END_REQUEST is not
 * enough: without fastcgi_keep_conn nginx takes the end of the connection as the end of the
 * answer and ends the chunked body cleanly. A record header that is not FastCGI version 1 is an
 * upstream error for nginx at any point: it logs "upstream sent unsupported FastCGI protocol
 * version: 0" and closes the client's connection without the last chunk. The records written
 * so far are whole (libfcgi writes a record at a time), so this header starts a new record;
 * what libfcgi still buffers is dropped unsent by FCGX_Free. */
static void abort_request(FCGX_Request *fr)
{
	static const char not_fastcgi[8]; /* version 0 */

	if (fr->ipcFd >= 0 && write(fr->ipcFd, not_fastcgi, sizeof(not_fastcgi)) < 0)
		crm_log_debug("aborting a request: %s", strerror(errno));
	FCGX_Free(fr, 1);
}

int crm_fcgi_worker_run(const struct crm_config *cfg, int listen_fd)
{
	struct crm_service svc;
	struct crm_arena *arena;
	FCGX_Request fr;
	sigset_t stopset;
	struct crm_err err;

	crm_proc_child_init("crm-worker", on_stop);
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	sigprocmask(SIG_BLOCK, &stopset, NULL);
	crm_err_init(&err);
	if (!crm_service_init(&svc, cfg->database_url, cfg->drain_batch, &err)) {
		crm_log_error("%s", err.detail);
		return 1;
	}
	crm_service_set_timeouts(&svc, cfg->statement_timeout, cfg->lock_timeout);
	arena = crm_arena_create(ARENA_BLOCK);
	crm_service_connect(&svc);
	if (FCGX_InitRequest(&fr, listen_fd, 0) != 0) {
		crm_log_error("could not initialise the FastCGI request");
		return 1;
	}
	while (!stop_requested) {
		int rc;

		idle = 1;
		sigprocmask(SIG_UNBLOCK, &stopset, NULL);
		rc = FCGX_Accept_r(&fr);
		sigprocmask(SIG_BLOCK, &stopset, NULL);
		idle = 0;
		if (rc < 0) {
			crm_log_warn("accept failed: %d", rc);
			usleep(10000);
			continue;
		}
		if (serve_one(&fr, cfg, &svc, arena))
			FCGX_Finish_r(&fr);
		else
			abort_request(&fr);
		crm_arena_reset(arena);
		crm_service_request_done(&svc);
	}
	FCGX_Free(&fr, 1);
	crm_arena_destroy(arena);
	crm_service_finish(&svc);
	return 0;
}
