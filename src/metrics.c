/* metrics.c -- the counters of every worker in shared memory, summed into Prometheus text
 *
 * Owns the shared region (see metrics.h): the master creates it before forking and writes
 * only the header; each child writes only its own slot; any worker reads them all at a scrape.
 * It knows nothing of routes, the database or HTTP: the route patterns, the backlog figures and
 * the version come in from the scrape's handler.
 *
 * DESIGN (no lock): a counter has one writer, so an update needs no read-modify-write across
 * processes; it is a relaxed atomic load and store of a 64-bit word (plain mov instructions),
 * and a reader sees either the old or the new value, never a torn one. A scrape is not a
 * snapshot: counters of requests finishing meanwhile may be summed on one side of an update
 * and not the other; each counter stays monotonic, which is all Prometheus needs.
 */
#include "crm/metrics.h"

#include <string.h>
#include <sys/mman.h>

#include "crm/arena.h"

struct header {
	uint64_t workers_running;
	uint64_t restarts;
	int nworkers;
	int nchildren;
};

static struct header *region; /* the header, then nchildren slots; NULL: no metrics */
static struct crm_metrics_slot *own;

static struct crm_metrics_slot *slot_at(int i)
{
	return (struct crm_metrics_slot *)(void *)((char *)region + sizeof(struct crm_metrics_slot) * (size_t)i +
						   ((sizeof(*region) + 63) & ~(size_t)63));
}

static uint64_t get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void put(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void add(uint64_t *p, uint64_t n)
{
	put(p, get(p) + n); /* one writer: no lost update */
}

bool crm_metrics_create(int workers, int children)
{
	size_t size = ((sizeof(*region) + 63) & ~(size_t)63) + sizeof(struct crm_metrics_slot) * (size_t)children;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return false;
	region = p; /* zero-filled by the kernel */
	region->nworkers = workers;
	region->nchildren = children;
	return true;
}

void crm_metrics_attach(int index)
{
	if (region != NULL && index >= 0 && index < region->nchildren) {
		own = slot_at(index);
		put(&own->busy, 0); /* a predecessor killed mid-request left it set */
	}
}

void crm_metrics_workers_running(int n)
{
	if (region != NULL)
		put(&region->workers_running, (uint64_t)n);
}

void crm_metrics_worker_restarted(int index, bool died)
{
	if (region == NULL)
		return;
	if (died)
		add(&region->restarts, 1);
	if (index >= 0 && index < region->nchildren)
		put(&slot_at(index)->busy, 0);
}

/* --- the owner's updates --- */

void crm_metrics_request(int route, const char *method, int status, uint64_t duration_ns)
{
	int m, b;

	if (own == NULL)
		return;
	if (route < 0 || route >= CRM_METRICS_ROUTES)
		route = CRM_METRICS_UNMATCHED;
	m = crm_metrics_method_index(method);
	b = crm_metrics_bucket(duration_ns);
	add(&own->requests[route][m][crm_metrics_code_index(status)], 1);
	add(&own->buckets[route][m][b], 1);
	add(&own->duration_ns[route][m], duration_ns);
}

void crm_metrics_busy(bool busy)
{
	if (own != NULL)
		put(&own->busy, busy ? 1 : 0);
}

void crm_metrics_intake(enum crm_metrics_intake outcome)
{
	if (own != NULL && outcome < CRM_METRICS_INTAKE_N)
		add(&own->intake[outcome], 1);
}

void crm_metrics_assignments(enum crm_metrics_reason reason, uint64_t n)
{
	if (own != NULL && reason < CRM_METRICS_REASON_N)
		add(&own->assignments[reason], n);
}

void crm_metrics_db_error(const char *sqlstate)
{
	int c = crm_metrics_db_class_index(sqlstate);

	if (own != NULL && c >= 0)
		add(&own->db_errors[c], 1);
}

void crm_metrics_db_reconnect(void)
{
	if (own != NULL)
		add(&own->db_reconnects, 1);
}

/* --- pure parts --- */

const char *const crm_metrics_bucket_bounds[CRM_METRICS_BUCKETS] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "10"};
static const uint64_t bounds_ns[CRM_METRICS_BUCKETS] = {5000000, 10000000, 25000000, 50000000, 100000000, 250000000,
	500000000, 1000000000, 2500000000, 5000000000, 10000000000};

int crm_metrics_bucket(uint64_t duration_ns)
{
	int b = 0;

	while (b < CRM_METRICS_BUCKETS && duration_ns > bounds_ns[b]) /* le: a bound includes itself */
		b++;
	return b;
}

static const char *const methods[CRM_METRICS_METHODS] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
	"other"};

int crm_metrics_method_index(const char *method)
{
	for (int i = 0; method != NULL && i < CRM_METRICS_METHODS - 1; i++) {
		if (strcmp(method, methods[i]) == 0)
			return i;
	}
	return CRM_METRICS_METHODS - 1;
}

const char *crm_metrics_method_label(int index)
{
	return index >= 0 && index < CRM_METRICS_METHODS ? methods[index] : methods[CRM_METRICS_METHODS - 1];
}

static const int codes[CRM_METRICS_CODES - 1] = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 408, 409, 410, 412,
	413, 414, 415, 422, 429, 500, 502, 503, 504};
static const char *const code_labels[CRM_METRICS_CODES] = {"200", "201", "202", "204", "304", "400", "401", "403",
	"404", "405", "408", "409", "410", "412", "413", "414", "415", "422", "429", "500", "502", "503", "504",
	"other"};

int crm_metrics_code_index(int status)
{
	for (int i = 0; i < CRM_METRICS_CODES - 1; i++) {
		if (codes[i] == status)
			return i;
	}
	return CRM_METRICS_CODES - 1;
}

const char *crm_metrics_code_label(int index)
{
	return index >= 0 && index < CRM_METRICS_CODES ? code_labels[index] : code_labels[CRM_METRICS_CODES - 1];
}

static int class_char(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return 10 + (c - 'A');
	return -1;
}

int crm_metrics_db_class_index(const char *sqlstate)
{
	int a, b;

	if (sqlstate == NULL || (a = class_char(sqlstate[0])) < 0 || (b = class_char(sqlstate[1])) < 0)
		return -1;
	return a * 36 + b;
}

static char class_label(int v)
{
	return (char)(v < 10 ? '0' + v : 'A' + (v - 10));
}

void crm_metrics_label_escape(struct crm_buf *out, const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\')
			crm_buf_puts(out, "\\\\");
		else if (*p == '"')
			crm_buf_puts(out, "\\\"");
		else if (*p == '\n')
			crm_buf_puts(out, "\\n");
		else
			crm_buf_putc(out, *p);
	}
}

void crm_metrics_collect(struct crm_metrics_totals *out)
{
	const uint64_t *src;
	uint64_t *dst;
	size_t words = sizeof(struct crm_metrics_slot) / sizeof(uint64_t);

	memset(out, 0, sizeof(*out));
	if (region == NULL)
		return;
	dst = (uint64_t *)(void *)&out->sum;
	for (int i = 0; i < region->nchildren; i++) {
		src = (const uint64_t *)(const void *)slot_at(i);
		for (size_t w = 0; w < words; w++)
			dst[w] += get(&src[w]);
		if (i < region->nworkers)
			out->busy += get(&slot_at(i)->busy);
	}
	out->sum.busy = 0; /* the drainer's slot is never busy; out->busy counts the workers */
	out->workers = get(&region->workers_running);
	out->restarts = get(&region->restarts);
}

/* --- the exposition --- */

static void family(struct crm_buf *out, const char *name, const char *type, const char *help)
{
	crm_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void route_labels(struct crm_buf *out, const struct crm_metrics_extra *x, int r, int m)
{
	crm_buf_puts(out, "route=\"");
	crm_metrics_label_escape(out, r == CRM_METRICS_UNMATCHED ? "unmatched" : x->route_patterns[r]);
	crm_buf_printf(out, "\",method=\"%s\"", crm_metrics_method_label(m));
}

static bool route_named(const struct crm_metrics_extra *x, int r)
{
	return r == CRM_METRICS_UNMATCHED || ((size_t)r < x->nroutes && x->route_patterns[r] != NULL);
}

static void write_requests(struct crm_buf *out, const struct crm_metrics_totals *t, const struct crm_metrics_extra *x)
{
	family(out, "crm_http_requests_total", "counter",
		"HTTP requests answered, by route pattern, method and status.");
	for (int r = 0; r < CRM_METRICS_ROUTES; r++) {
		for (int m = 0; route_named(x, r) && m < CRM_METRICS_METHODS; m++) {
			for (int c = 0; c < CRM_METRICS_CODES; c++) {
				if (t->sum.requests[r][m][c] == 0)
					continue;
				crm_buf_puts(out, "crm_http_requests_total{");
				route_labels(out, x, r, m);
				crm_buf_printf(out, ",code=\"%s\"} %llu\n", crm_metrics_code_label(c),
					(unsigned long long)t->sum.requests[r][m][c]);
			}
		}
	}
}

static void write_histogram(struct crm_buf *out, const struct crm_metrics_totals *t, const struct crm_metrics_extra *x,
	int r, int m)
{
	const uint64_t *b = t->sum.buckets[r][m];
	uint64_t cum = 0;

	for (int i = 0; i <= CRM_METRICS_BUCKETS; i++) {
		cum += b[i];
		crm_buf_puts(out, "crm_http_request_duration_seconds_bucket{");
		route_labels(out, x, r, m);
		crm_buf_printf(out, ",le=\"%s\"} %llu\n",
			i < CRM_METRICS_BUCKETS ? crm_metrics_bucket_bounds[i] : "+Inf", (unsigned long long)cum);
	}
	crm_buf_puts(out, "crm_http_request_duration_seconds_sum{");
	route_labels(out, x, r, m);
	crm_buf_printf(out, "} %.9f\n", (double)t->sum.duration_ns[r][m] / 1e9);
	crm_buf_puts(out, "crm_http_request_duration_seconds_count{");
	route_labels(out, x, r, m);
	crm_buf_printf(out, "} %llu\n", (unsigned long long)cum);
}

static void write_durations(struct crm_buf *out, const struct crm_metrics_totals *t, const struct crm_metrics_extra *x)
{
	family(out, "crm_http_request_duration_seconds", "histogram",
		"Time from the worker's accept to the end of the answer, by route pattern and method.");
	for (int r = 0; r < CRM_METRICS_ROUTES; r++) {
		for (int m = 0; route_named(x, r) && m < CRM_METRICS_METHODS; m++) {
			uint64_t n = 0;

			for (int i = 0; i <= CRM_METRICS_BUCKETS; i++)
				n += t->sum.buckets[r][m][i];
			if (n > 0)
				write_histogram(out, t, x, r, m);
		}
	}
}

static void write_service(struct crm_buf *out, const struct crm_metrics_totals *t)
{
	static const char *const outcomes[CRM_METRICS_INTAKE_N] = {"assigned", "unassigned"};
	static const char *const reasons[CRM_METRICS_REASON_N] = {"intake", "backlog", "manual", "unassigned",
		"timeout", "sticky"};

	family(out, "crm_intake_total", "counter", "Contacts taken in by POST /api/contacts, by outcome.");
	for (int i = 0; i < CRM_METRICS_INTAKE_N; i++)
		crm_buf_printf(out, "crm_intake_total{outcome=\"%s\"} %llu\n", outcomes[i],
			(unsigned long long)t->sum.intake[i]);
	family(out, "crm_assignments_total", "counter",
		"Assignment history entries written by this service's requests and drainer, by reason.");
	for (int i = 0; i < CRM_METRICS_REASON_N; i++)
		crm_buf_printf(out, "crm_assignments_total{reason=\"%s\"} %llu\n", reasons[i],
			(unsigned long long)t->sum.assignments[i]);
	family(out, "crm_db_errors_total", "counter", "Failed database statements, by SQLSTATE class.");
	for (int c = 0; c < CRM_METRICS_DB_CLASSES; c++) {
		if (t->sum.db_errors[c] > 0)
			crm_buf_printf(out, "crm_db_errors_total{class=\"%c%c\"} %llu\n", class_label(c / 36),
				class_label(c % 36), (unsigned long long)t->sum.db_errors[c]);
	}
	family(out, "crm_db_reconnects_total", "counter", "Database connections made again after one was lost.");
	crm_buf_printf(out, "crm_db_reconnects_total %llu\n", (unsigned long long)t->sum.db_reconnects);
}

static void write_process(struct crm_buf *out, const struct crm_metrics_totals *t, const struct crm_metrics_extra *x)
{
	family(out, "crm_workers", "gauge", "Workers of the master running now.");
	crm_buf_printf(out, "crm_workers %llu\n", (unsigned long long)t->workers);
	family(out, "crm_workers_busy", "gauge", "Workers serving a request now (this scrape included).");
	crm_buf_printf(out, "crm_workers_busy %llu\n", (unsigned long long)t->busy);
	family(out, "crm_worker_restarts_total", "counter", "Workers and drainers restarted after they died.");
	crm_buf_printf(out, "crm_worker_restarts_total %llu\n", (unsigned long long)t->restarts);
	if (x->backlog_known) {
		family(out, "crm_backlog_waiting", "gauge", "Active contacts waiting for an operator.");
		crm_buf_printf(out, "crm_backlog_waiting %lld\n", (long long)x->backlog_waiting);
		family(out, "crm_backlog_oldest_seconds", "gauge",
			"Age of the oldest waiting contact (0: none waits).");
		crm_buf_printf(out, "crm_backlog_oldest_seconds %.3f\n", x->backlog_oldest_seconds);
	}
	family(out, "crm_build_info", "gauge", "The running build, as a label; always 1.");
	crm_buf_puts(out, "crm_build_info{version=\"");
	crm_metrics_label_escape(out, x->version ? x->version : "unknown");
	crm_buf_puts(out, "\"} 1\n");
}

void crm_metrics_write(struct crm_buf *out, const struct crm_metrics_totals *totals,
	const struct crm_metrics_extra *extra)
{
	write_requests(out, totals, extra);
	write_durations(out, totals, extra);
	write_service(out, totals);
	write_process(out, totals, extra);
}
