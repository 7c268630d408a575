/* test_domain.c -- the small rules of domain.c: contact statuses and stats shares */
#include <math.h>
#include <stddef.h>

#include "check.h"
#include "crm/domain.h"
#include "crm/util.h"

static void test_status(void)
{
	static const char *const bad[] = {"", "Active", "ACTIVE", "open", "active ", " closed", "closedx", "activ"};

	CHECK(crm_contact_status_valid("active"));
	CHECK(crm_contact_status_valid("closed"));
	CHECK(!crm_contact_status_valid(NULL));
	for (size_t i = 0; i < CRM_COUNT(bad); i++)
		CHECK(!crm_contact_status_valid(bad[i]));
}

static bool near(double a, double b)
{
	return fabs(a - b) < 1e-12;
}

static void test_shares(void)
{
	struct crm_operator_stats ops[3] = {
		{.operator_id = 1, .weight = 10, .assigned = 3},
		{.operator_id = 2, .weight = 30, .assigned = 1},
		{.operator_id = 3, .weight = 60, .assigned = 0},
	};
	struct crm_source_stats st = {.source_id = 7, .assigned_total = 4, .operators = ops, .noperators = 3};

	crm_source_stats_shares(&st);
	CHECK(near(ops[0].configured_share, 0.1) && near(ops[1].configured_share, 0.3));
	CHECK(near(ops[2].configured_share, 0.6));
	CHECK(near(ops[0].actual_share, 0.75) && near(ops[1].actual_share, 0.25) && ops[2].actual_share == 0.0);

	/* nothing assigned yet: actual shares are 0, not NaN */
	st.assigned_total = 0;
	ops[0].assigned = ops[1].assigned = 0;
	crm_source_stats_shares(&st);
	CHECK(ops[0].actual_share == 0.0 && ops[1].actual_share == 0.0 && near(ops[1].configured_share, 0.3));

	/* no operator configured: nothing to fill, nothing read */
	st.noperators = 0;
	st.operators = NULL;
	crm_source_stats_shares(&st);
}

static void test_id_max(void)
{
	CHECK(CRM_ID_MAX == (1LL << 53) - 1);
}

int main(void)
{
	test_status();
	test_shares();
	test_id_max();
	return check_done("domain");
}
