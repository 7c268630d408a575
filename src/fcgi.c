/* fcgi.c -- FastCGI transport: the listening socket and the worker's request loop
 *
 * The only includer of fcgiapp.h. A worker accepts one request at a time on the socket it
 * shares with its siblings, copies what it needs out of libfcgi's buffers into the request
 * arena (libfcgi frees them at the next accept), runs crm_http_handle and writes the answer.
 * Below it are only http (crm_http_handle) and the service (crm_service_connect at start,
 * crm_service_request_done after every request); it never calls the database layer.
 *
 * DESIGN (stopping): SIGTERM and SIGINT are blocked everywhere but in one ppoll(2) on the
 * listening socket, which lets them in atomically while the worker waits for a connection. A
 * stop therefore ends a worker only when it holds no connection: one that arrived while it was
 * serving waits until the request is answered. The socket is non-blocking, so when siblings race
 * for one connection the losers' accept returns EAGAIN and they go back to waiting, where a stop
 * still reaches them. (Exiting from the handler while "idle" in FCGX_Accept_r was not safe: its
 * accept may have taken a connection already, which then died unanswered -- a 502 at nginx
 * during a SIGHUP.)
 *
 * DESIGN (body deadline): FCGX_GetStr blocks, and libfcgi's record reader may loop over many
 * reads (management records, padding, other request ids) inside one call, so neither a poll()
 * before each call nor a per-read SO_RCVTIMEO bounds the whole body. Instead a one-shot
 * ITIMER_REAL of CRM_BODY_TIMEOUT seconds is armed after accept; its SIGALRM handler calls
 * shutdown(SHUT_RD) on the request's socket (async-signal-safe), after which every read libfcgi
 * does returns end of file at once, wherever it is. A body that did not arrive whole (deadline,
 * or the client closed early) is never handed to the application: the request is dropped and
 * logged. nginx buffers the whole body before it connects (fastcgi_request_buffering on), so
 * only a client speaking FastCGI directly can be cut. Not covered: the params phase inside
 * FCGX_Accept_r, which libfcgi reads before it returns control.
 *
 * DESIGN (overload): requests wait for a free worker in the listening socket's backlog, where
 * no worker can see them. nginx passes the time it handed the request on (fastcgi_param
 * CRM_REQUEST_START $msec); a worker that accepts a request which waited longer than
 * CRM_QUEUE_TIMEOUT_MS answers 503 with Retry-After at once, before routing or any database
 * work, so nothing changes. When every worker is busy the queue then drains at the speed of
 * these answers (microseconds each) instead of at the speed of real work, and a served
 * request's latency stays near the queue limit plus its own time: the client learns early and
 * can retry elsewhere, instead of waiting behind nginx's read timeout. The check costs one
 * clock_gettime; it trusts nginx and the workers to share a clock (one host, or NTP), and a
 * request without the parameter (a direct FastCGI client) is never refused. The backlog is
 * bounded too (CRM_LISTEN_BACKLOG, default 256: about a quarter second of work for 8 workers):
 * past it nginx's connect fails at once and nginx answers 503 + Retry-After itself. Under a
 * sustained overload that is the refusal that costs nothing, and the workers keep their time
 * for real work (tests/bench/overload, 4x the sustainable rate on 2 shared cores: with 1024 the
 * queue went past the limit and the workers spent most of their time refusing, serving a
 * quarter of the base rate; with 256 nginx refused the excess in 0 ms and the workers served
 * about the base rate). The queue limit catches the stretches where the backlog is not full but
 * the workers are slow.
 */
#include "crm/fcgi.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "crm/arena.h"
#include "crm/drainer.h"
#include "crm/http.h"
#include "crm/log.h"
#include "crm/metrics.h"
#include "crm/proc.h"
#include "crm/routes.h"
#include "crm/service.h"

#define ARENA_BLOCK (64 * 1024)

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t body_fd = -1;      /* the socket whose body is being read */
static volatile sig_atomic_t body_deadline_hit; /* the SIGALRM of this request fired */

/* Requests refused for their queue time since the last log line (one line a second at most). */
static struct {
	unsigned long count;
	time_t logged_at;
} refused;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_body_deadline(int sig)
{
	(void)sig;
	if (body_fd >= 0) {
		body_deadline_hit = 1;
		shutdown(body_fd, SHUT_RD); /* every later read of the request returns end of file */
	}
}

static void body_deadline_arm(int fd, int seconds)
{
	struct itimerval it = {{0, 0}, {seconds, 0}};

	body_deadline_hit = 0;
	body_fd = fd;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void body_deadline_disarm(void)
{
	struct itimerval off = {{0, 0}, {0, 0}};

	setitimer(ITIMER_REAL, &off, NULL);
	body_fd = -1;
}

/* A socket file at path is left by a run that ended (nothing accepts on it: ECONNREFUSED) or
 * belongs to a live master (a connection succeeds). Unlinking the latter would silently take
 * its clients away, so it is refused; so is anything we cannot tell. */
static bool socket_stale(const char *path, struct crm_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, rc, saved;

	if (strlen(path) >= sizeof(sa.sun_path))
		return crm_err_set(err, CRM_E_INVALID, "socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return crm_err_set(err, CRM_E_INTERNAL, "socket: %s", strerror(errno));
	rc = connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
	saved = errno;
	close(fd);
	if (rc == 0)
		return crm_err_set(err, CRM_E_INVALID,
			"%s is held by a live master (it accepts connections): stop it first, or use another CRM_LISTEN",
			path);
	if (saved != ECONNREFUSED)
		return crm_err_set(err, CRM_E_INVALID, "%s exists and cannot be checked (%s): not replacing it", path,
			strerror(saved));
	return true;
}

/* A unix socket: created 0600 (umask), then owner, group and mode; a failure is an error, since
 * nginx could not connect or, worse, someone else could. */
static bool listen_unix(const struct crm_config *cfg, uid_t owner, gid_t group, int *out, struct crm_err *err)
{
	struct stat st;
	mode_t old;
	int fd;

	if (lstat(cfg->listen_addr, &st) == 0 && S_ISSOCK(st.st_mode)) {
		if (!socket_stale(cfg->listen_addr, err))
			return false;
		unlink(cfg->listen_addr); /* left by a previous run */
	}
	old = umask(0177);
	fd = FCGX_OpenSocket(cfg->listen_addr, cfg->listen_backlog);
	umask(old);
	if (fd < 0)
		return crm_err_set(err, CRM_E_INVALID, "could not listen on %s (does its directory exist?)",
			cfg->listen_addr);
	if ((owner != (uid_t)-1 || group != (gid_t)-1) && chown(cfg->listen_addr, owner, group) != 0) {
		close(fd);
		return crm_err_set(err, CRM_E_INVALID, "could not chown %s: %s", cfg->listen_addr, strerror(errno));
	}
	if (chmod(cfg->listen_addr, cfg->socket_mode) != 0) {
		close(fd);
		return crm_err_set(err, CRM_E_INVALID, "could not chmod %s: %s", cfg->listen_addr, strerror(errno));
	}
	*out = fd;
	return true;
}

bool crm_fcgi_listen(const struct crm_config *cfg, uid_t owner, gid_t group, int *out, struct crm_err *err)
{
	int fd = -1, accepting = 0, flags;
	socklen_t len = sizeof(accepting);

	if (FCGX_Init() != 0)
		return crm_err_set(err, CRM_E_INTERNAL, "could not initialise libfcgi");
	switch (cfg->listen_kind) {
	case CRM_LISTEN_FD:
		fd = cfg->listen_fd;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting)
			return crm_err_set(err, CRM_E_INVALID, "fd %d is not a listening socket", fd);
		break;
	case CRM_LISTEN_UNIX:
		if (!listen_unix(cfg, owner, group, &fd, err))
			return false;
		break;
	case CRM_LISTEN_TCP:
		fd = FCGX_OpenSocket(cfg->listen_addr, cfg->listen_backlog);
		if (fd < 0)
			return crm_err_set(err, CRM_E_INVALID, "could not listen on %s", cfg->listen_addr);
		break;
	}
	if (fd < 0)
		return crm_err_set(err, CRM_E_INTERNAL, "unknown listen kind");
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) /* see DESIGN (stopping) */
		return crm_err_set(err, CRM_E_INTERNAL, "could not make the listening socket non-blocking: %s",
			strerror(errno));
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

/* Reads the body (declared length, or until EOF when none is declared), up to the limit, within
 * the body deadline. Returns false when the body did not arrive whole: the request is dropped. */
static bool read_body(FCGX_Request *fr, struct crm_arena *a, size_t limit, struct crm_request *req)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	size_t want = limit + 1, got = 0;
	bool declared = false;
	char *body;

	if (cl != NULL && cl[0] != '\0') {
		char *end;
		unsigned long long v = strtoull(cl, &end, 10);

		if (*end != '\0' || v > limit) {
			req->body_too_large = true;
			return true;
		}
		want = (size_t)v;
		declared = true;
	}
	body = crm_arena_alloc(a, want + 1);
	while (got < want) {
		int n = FCGX_GetStr(body + got, (int)(want - got), fr->in);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if ((declared && got < want) || FCGX_GetError(fr->in) != 0) {
		crm_log_warn("%s: request body incomplete (%zu of %s bytes)%s; dropped", req->method, got,
			declared ? cl : "?", body_deadline_hit ? " when the body deadline passed" : "");
		return false;
	}
	if (got > limit) {
		req->body_too_large = true;
		return true;
	}
	body[got] = '\0';
	req->body = body;
	req->body_len = got;
	return true;
}

/* True when the request waited for a worker longer than limit_ms since nginx handed it on
 * (CRM_REQUEST_START, seconds since the epoch with milliseconds, nginx's $msec). */
static bool queue_expired(FCGX_Request *fr, int limit_ms, double *waited_ms)
{
	const char *v = FCGX_GetParam("CRM_REQUEST_START", fr->envp);
	struct timespec now;
	char *end;
	double start;

	if (limit_ms == 0 || v == NULL || v[0] == '\0')
		return false;
	start = strtod(v, &end);
	if (*end != '\0' || !(start > 0))
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	*waited_ms = ((double)now.tv_sec + (double)now.tv_nsec / 1e9 - start) * 1e3;
	return *waited_ms > (double)limit_ms;
}

static void log_refused(int limit_ms, double waited_ms)
{
	time_t now = time(NULL);

	refused.count++;
	if (now == refused.logged_at)
		return;
	crm_log_warn("every worker busy: refused %lu request(s) that waited longer than %d ms (the last %.0f ms)",
		refused.count, limit_ms, waited_ms);
	refused.count = 0;
	refused.logged_at = now;
}

/* The request's id: nginx's CRM_REQUEST_ID (edge.conf: the client's X-Request-Id when well formed,
 * else $request_id), or, for a request that did not come through nginx (or a malformed one), an
 * id of the worker's own: 16 random hex digits drawn at the worker's start and a 16-digit counter,
 * 32 characters like nginx's, unique without a system call per request. */
static const char *request_id(FCGX_Request *fr, struct crm_arena *a)
{
	static char prefix[17];
	static uint64_t counter;
	const char *v = FCGX_GetParam("CRM_REQUEST_ID", fr->envp);
	char *id;

	if (v != NULL && crm_http_request_id_ok(v))
		return crm_arena_strdup(a, v);
	if (prefix[0] == '\0') {
		uint64_t r = 0;

		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
		snprintf(prefix, sizeof(prefix), "%016" PRIx64, r);
	}
	id = crm_arena_alloc(a, 33);
	snprintf(id, 33, "%s%016" PRIx64, prefix, ++counter);
	return id;
}

/* Returns false when the answer could not be completed (an error after its headers went out,
 * or the client gone): see abort_request. */
static bool serve_one(FCGX_Request *fr, const struct crm_config *cfg, struct crm_service *svc, struct crm_arena *arena)
{
	struct crm_sink sink = {sink_write, fr};
	struct crm_request req;
	struct crm_response resp;
	struct timespec t0, t1;
	const char *uri, *key;
	double waited_ms = 0;
	bool complete;

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
	if (queue_expired(fr, cfg->queue_timeout_ms, &waited_ms)) {
		req.queue_expired = true;
		log_refused(cfg->queue_timeout_ms, waited_ms);
	}
	key = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", fr->envp); /* present but empty: a malformed key */
	req.idempotency_key = key ? crm_arena_strdup(arena, key) : NULL;
	req.authorization = param(fr, arena, "HTTP_AUTHORIZATION"); /* checked by the route's authorize */
	req.request_id = request_id(fr, arena);
	body_deadline_arm(fr->ipcFd, cfg->body_timeout);
	complete = read_body(fr, arena, cfg->body_limit, &req);
	body_deadline_disarm();
	if (!complete) /* stalled or cut short: nothing was answered, the request just ends */
		return true;

	crm_resp_init(&resp, sink);
	crm_http_handle(&crm_routes, svc, arena, &req, &resp);
	crm_resp_finish(&resp);
	clock_gettime(CLOCK_MONOTONIC, &t1); /* the vDSO: no system call */
	crm_metrics_request(req.route ? (int)(req.route - crm_routes.routes) : CRM_METRICS_UNMATCHED, req.method,
		resp.status,
		(uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec);

	if (crm_log_enabled(CRM_LOG_DEBUG)) {
		crm_log_debug("%d %.3fms%s", resp.status,
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
			resp.failed ? " (aborted)" : "");
	}
	crm_log_context_clear();
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

/* Waits until the listening socket has a connection, with the stop signals let in for the wait
 * alone. False when the wait ended otherwise (a signal; the caller checks stop_requested). */
static bool wait_connection(int listen_fd, const sigset_t *stopset)
{
	struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
	sigset_t during;

	sigprocmask(SIG_SETMASK, NULL, &during);
	for (int s = 1; s < NSIG; s++) {
		if (sigismember(stopset, s) == 1)
			sigdelset(&during, s);
	}
	return ppoll(&pfd, 1, NULL, &during) == 1 && (pfd.revents & POLLIN);
}

int crm_fcgi_worker_run(const struct crm_config *cfg, int listen_fd)
{
	struct crm_service svc;
	struct crm_arena *arena;
	FCGX_Request fr;
	sigset_t stopset;
	struct sigaction alarm_sa;
	struct crm_err err;

	crm_proc_child_init("crm-worker", on_stop);
	memset(&alarm_sa, 0, sizeof(alarm_sa));
	alarm_sa.sa_handler = on_body_deadline;
	alarm_sa.sa_flags = SA_RESTART; /* the restarted read sees the shutdown */
	sigemptyset(&alarm_sa.sa_mask);
	sigaction(SIGALRM, &alarm_sa, NULL);
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
	crm_service_set_idempotency_ttl(&svc, cfg->idempotency_ttl);
	crm_service_set_keys(&svc, cfg->key_cache_ms, cfg->bench_no_auth);
	crm_service_set_heartbeat(&svc, crm_drainer_heartbeat(), crm_drainer_stale_ms(cfg));
	arena = crm_arena_create(ARENA_BLOCK);
	crm_service_connect(&svc);
	if (FCGX_InitRequest(&fr, listen_fd, 0) != 0) {
		crm_log_error("could not initialise the FastCGI request");
		return 1;
	}
	while (!stop_requested) {
		int rc;

		if (!wait_connection(listen_fd, &stopset))
			continue;
		rc = FCGX_Accept_r(&fr);
		if (rc == -EAGAIN || rc == -EINTR)
			continue; /* a sibling took it */
		if (rc < 0) {
			crm_log_warn("accept failed: %d", rc);
			usleep(10000);
			continue;
		}
		crm_metrics_busy(true);
		if (serve_one(&fr, cfg, &svc, arena))
			FCGX_Finish_r(&fr);
		else
			abort_request(&fr);
		crm_metrics_busy(false);
		crm_arena_reset(arena);
		crm_service_request_done(&svc);
	}
	FCGX_Free(&fr, 1);
	crm_arena_destroy(arena);
	crm_service_finish(&svc);
	return 0;
}
