/* test_metrics.c -- metrics.c: bucket choice, label escaping, the exposition, and summing the
 * slots of several processes through the shared region
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "crm/arena.h"
#include "crm/buf.h"
#include "crm/metrics.h"

#define MS 1000000ull

static void test_buckets(void)
{
	CHECK(crm_metrics_bucket(0) == 0);
	CHECK(crm_metrics_bucket(5 * MS) == 0); /* le: a bound holds its own value */
	CHECK(crm_metrics_bucket(5 * MS + 1) == 1);
	CHECK(crm_metrics_bucket(10 * MS) == 1);
	CHECK(crm_metrics_bucket(30 * MS) == 3);
	CHECK(crm_metrics_bucket(1000 * MS) == 7);
	CHECK(crm_metrics_bucket(10000 * MS) == 10);
	CHECK(crm_metrics_bucket(10000 * MS + 1) == CRM_METRICS_BUCKETS); /* +Inf only */
	CHECK_STR(crm_metrics_bucket_bounds[0], "0.005");
	CHECK_STR(crm_metrics_bucket_bounds[CRM_METRICS_BUCKETS - 1], "10");
}

static void test_labels(void)
{
	struct crm_buf b;

	crm_buf_init(&b);
	crm_metrics_label_escape(&b, "a\"b\\c\nd/{id}");
	CHECK_STR(b.data, "a\\\"b\\\\c\\nd/{id}");
	crm_buf_finish(&b);
	CHECK_STR(crm_metrics_method_label(crm_metrics_method_index("PATCH")), "PATCH");
	CHECK_STR(crm_metrics_method_label(crm_metrics_method_index("BREW")), "other");
	CHECK_STR(crm_metrics_code_label(crm_metrics_code_index(201)), "201");
	CHECK_STR(crm_metrics_code_label(crm_metrics_code_index(418)), "other");
	CHECK(crm_metrics_db_class_index("40P01") == 4 * 36 + 0);
	CHECK(crm_metrics_db_class_index("57014") == 5 * 36 + 7);
	CHECK(crm_metrics_db_class_index("0A000") == 0 * 36 + 10);
	CHECK(crm_metrics_db_class_index("x") == -1);
	CHECK(crm_metrics_db_class_index(NULL) == -1);
}

static void test_exposition(void)
{
	static const char *const patterns[] = {"/api/contacts", "/api/x\"y"};
	struct crm_metrics_extra x = {patterns, 2, "1.2.3", true, 7, 12.5};
	struct crm_metrics_totals *t = calloc(1, sizeof(*t));
	struct crm_buf b;
	int post = crm_metrics_method_index("POST"), get = crm_metrics_method_index("GET");

	CHECK(t != NULL);
	if (t == NULL)
		return;
	t->sum.requests[0][post][crm_metrics_code_index(201)] = 3;
	t->sum.buckets[0][post][0] = 2;
	t->sum.buckets[0][post][CRM_METRICS_BUCKETS] = 1;
	t->sum.duration_ns[0][post] = 11500 * MS;
	t->sum.requests[1][get][crm_metrics_code_index(404)] = 1;
	t->sum.requests[CRM_METRICS_UNMATCHED][get][crm_metrics_code_index(404)] = 4;
	t->sum.db_errors[crm_metrics_db_class_index("40001")] = 2;
	t->workers = 4;
	t->busy = 1;
	crm_buf_init(&b);
	crm_metrics_write(&b, t, &x);
	CHECK(strstr(b.data, "# TYPE crm_http_requests_total counter\n") != NULL);
	CHECK(strstr(b.data, "crm_http_requests_total{route=\"/api/contacts\",method=\"POST\",code=\"201\"} 3\n"));
	CHECK(strstr(b.data, "crm_http_requests_total{route=\"/api/x\\\"y\",method=\"GET\",code=\"404\"} 1\n"));
	CHECK(strstr(b.data, "crm_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"} 4\n"));
	/* cumulative buckets, +Inf equal to _count */
	CHECK(strstr(b.data, "_bucket{route=\"/api/contacts\",method=\"POST\",le=\"0.005\"} 2\n"));
	CHECK(strstr(b.data, "_bucket{route=\"/api/contacts\",method=\"POST\",le=\"10\"} 2\n"));
	CHECK(strstr(b.data, "_bucket{route=\"/api/contacts\",method=\"POST\",le=\"+Inf\"} 3\n"));
	CHECK(strstr(b.data, "crm_http_request_duration_seconds_count{route=\"/api/contacts\",method=\"POST\"} 3\n"));
	CHECK(strstr(b.data, "crm_http_request_duration_seconds_sum{route=\"/api/contacts\",method=\"POST\"} 11.5"));
	CHECK(strstr(b.data, "duration_seconds_count{route=\"/api/x") == NULL); /* no histogram without counts */
	CHECK(strstr(b.data, "crm_db_errors_total{class=\"40\"} 2\n"));
	CHECK(strstr(b.data, "crm_intake_total{outcome=\"unassigned\"} 0\n"));
	CHECK(strstr(b.data, "crm_assignments_total{reason=\"backlog\"} 0\n"));
	CHECK(strstr(b.data, "crm_workers 4\ncrm_workers_busy 1\n") == NULL); /* HELP/TYPE between */
	CHECK(strstr(b.data, "\ncrm_workers 4\n") && strstr(b.data, "\ncrm_workers_busy 1\n"));
	CHECK(strstr(b.data, "\ncrm_backlog_waiting 7\n") && strstr(b.data, "\ncrm_backlog_oldest_seconds 12.500\n"));
	CHECK(strstr(b.data, "crm_build_info{version=\"1.2.3\"} 1\n"));
	CHECK(b.data[b.len - 1] == '\n');
	crm_buf_clear(&b);
	x.backlog_known = false;
	crm_metrics_write(&b, t, &x);
	CHECK(strstr(b.data, "crm_backlog") == NULL); /* no figures when the database did not answer */
	crm_buf_finish(&b);
	free(t);
}

/* Three children write their slots; the parent sums them. Updates before attach count nothing. */
static void test_shared_slots(void)
{
	struct crm_metrics_totals *t = calloc(1, sizeof(*t));

	CHECK(t != NULL);
	if (t == NULL)
		return;
	crm_metrics_request(0, "GET", 200, MS); /* no region yet: a no-op */
	CHECK(crm_metrics_create(2, 3));
	for (int i = 0; i < 3; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			crm_metrics_attach(i);
			for (int n = 0; n < 100; n++)
				crm_metrics_request(1, "POST", 201, 20 * MS);
			crm_metrics_intake(CRM_METRICS_INTAKE_ASSIGNED);
			crm_metrics_db_error("08006");
			crm_metrics_busy(i == 0);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	}
	crm_metrics_worker_restarted(1, true);
	crm_metrics_worker_restarted(2, false); /* a replaced worker is not a restart */
	crm_metrics_workers_running(2);
	crm_metrics_collect(t);
	CHECK(t->sum.requests[1][crm_metrics_method_index("POST")][crm_metrics_code_index(201)] == 300);
	CHECK(t->sum.buckets[1][crm_metrics_method_index("POST")][2] == 300);
	CHECK(t->sum.requests[0][crm_metrics_method_index("GET")][crm_metrics_code_index(200)] == 0);
	CHECK(t->sum.intake[CRM_METRICS_INTAKE_ASSIGNED] == 3);
	CHECK(t->sum.db_errors[crm_metrics_db_class_index("08")] == 3);
	CHECK(t->busy == 1 && t->workers == 2 && t->restarts == 1);
	free(t);
}

int main(void)
{
	test_buckets();
	test_labels();
	test_exposition();
	test_shared_slots();
	return check_done("metrics");
}
