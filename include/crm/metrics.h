/* metrics.h -- the service's counters in shared memory, and their Prometheus text
 *
 * The master maps one region (MAP_SHARED | MAP_ANONYMOUS) before it forks: a header it alone
 * writes (workers running, restarts) and one slot per child index (the workers, then the
 * drainer), reused when the child at that index is restarted, so its counters never go back.
 * A child attaches to its slot after fork and is the only writer of it: each update is a
 * relaxed atomic load and store of a plain 64-bit counter (no lock, no read-modify-write bus
 * lock, no system call). A scrape sums every slot with relaxed loads, on whichever worker
 * serves it. Without crm_metrics_create (the CLI, unit tests) every update is a no-op.
 */
#ifndef CRM_METRICS_H
#define CRM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crm/buf.h"

/* Route indexes: a route table's own order; the last index counts requests no route matched. */
#define CRM_METRICS_ROUTES 48
#define CRM_METRICS_UNMATCHED (CRM_METRICS_ROUTES - 1)
#define CRM_METRICS_METHODS 8            /* GET HEAD POST PUT PATCH DELETE OPTIONS, then any other */
#define CRM_METRICS_CODES 24             /* the statuses of crm_metrics_code_label, then any other */
#define CRM_METRICS_BUCKETS 11           /* Prometheus' default upper bounds, .005 to 10 seconds */
#define CRM_METRICS_DB_CLASSES (36 * 36) /* SQLSTATE classes: two characters of [0-9A-Z] */

enum crm_metrics_intake { CRM_METRICS_INTAKE_ASSIGNED, CRM_METRICS_INTAKE_UNASSIGNED, CRM_METRICS_INTAKE_N };

/* The reasons of the assignment history (sql/0003_lifecycle.sql). */
enum crm_metrics_reason {
	CRM_METRICS_REASON_INTAKE,
	CRM_METRICS_REASON_BACKLOG,
	CRM_METRICS_REASON_MANUAL,
	CRM_METRICS_REASON_UNASSIGNED,
	CRM_METRICS_REASON_TIMEOUT,
	CRM_METRICS_REASON_STICKY,
	CRM_METRICS_REASON_N
};

/* One child's counters. Histogram buckets are stored per bucket (not cumulative); the last
 * one counts the requests slower than every bound. */
struct crm_metrics_slot {
	uint64_t requests[CRM_METRICS_ROUTES][CRM_METRICS_METHODS][CRM_METRICS_CODES];
	uint64_t buckets[CRM_METRICS_ROUTES][CRM_METRICS_METHODS][CRM_METRICS_BUCKETS + 1];
	uint64_t duration_ns[CRM_METRICS_ROUTES][CRM_METRICS_METHODS];
	uint64_t intake[CRM_METRICS_INTAKE_N];
	uint64_t assignments[CRM_METRICS_REASON_N];
	uint64_t db_errors[CRM_METRICS_DB_CLASSES];
	uint64_t db_reconnects;
	uint64_t busy; /* 1 while a worker serves a request */
};

/* Maps the region for `workers` workers and `children` child slots in all (children >=
 * workers). Called once by the master before forking; false when mmap failed (the service
 * runs without metrics). */
bool crm_metrics_create(int workers, int children);
/* In a child after fork: slot `index` (0..children-1) is its own from now on. */
void crm_metrics_attach(int index);
/* The master's view of its children: how many workers run; child `index` ended and will be
 * started again (counted as a restart when it died: killed, or a non-zero exit status; a worker
 * replaced on SIGHUP exits 0). */
void crm_metrics_workers_running(int n);
void crm_metrics_worker_restarted(int index, bool died);

/* --- the owner's updates (no-ops without a region or a slot) --- */
void crm_metrics_request(int route, const char *method, int status, uint64_t duration_ns);
void crm_metrics_busy(bool busy);
void crm_metrics_intake(enum crm_metrics_intake outcome);
void crm_metrics_assignments(enum crm_metrics_reason reason, uint64_t n);
void crm_metrics_db_error(const char *sqlstate);
void crm_metrics_db_reconnect(void);

/* --- pure parts, for the scrape and the unit tests --- */
/* The bucket of a duration: 0..CRM_METRICS_BUCKETS-1 for the first bound >= it, else
 * CRM_METRICS_BUCKETS (+Inf only). */
int crm_metrics_bucket(uint64_t duration_ns);
extern const char *const crm_metrics_bucket_bounds[CRM_METRICS_BUCKETS]; /* "0.005", ... "10" */
int crm_metrics_method_index(const char *method);
const char *crm_metrics_method_label(int index);
int crm_metrics_code_index(int status);
/* The label of a code index; the last index is "other". */
const char *crm_metrics_code_label(int index);
/* Index of a SQLSTATE's class, or -1 when it is not two characters of [0-9A-Z]. */
int crm_metrics_db_class_index(const char *sqlstate);
/* A label value in the text format: backslash, double quote and newline escaped. */
void crm_metrics_label_escape(struct crm_buf *out, const char *value);

/* The slots summed, plus the master's header. */
struct crm_metrics_totals {
	struct crm_metrics_slot sum;
	uint64_t workers;  /* workers running */
	uint64_t busy;     /* of them, serving a request */
	uint64_t restarts; /* workers and drainer restarted after they died */
};

/* Sums every slot into *out (zeros without a region). */
void crm_metrics_collect(struct crm_metrics_totals *out);

/* What the scrape adds from outside the region. */
struct crm_metrics_extra {
	const char *const *route_patterns; /* by route index; NULL entries are never emitted */
	size_t nroutes;                    /* at most CRM_METRICS_UNMATCHED */
	const char *version;
	bool backlog_known; /* the database answered */
	int64_t backlog_waiting;
	double backlog_oldest_seconds;
};

/* The whole exposition (text format 0.0.4) of totals and extra. Series of requests and
 * durations appear once they count something; the others always. */
void crm_metrics_write(struct crm_buf *out, const struct crm_metrics_totals *totals,
	const struct crm_metrics_extra *extra);

#endif
