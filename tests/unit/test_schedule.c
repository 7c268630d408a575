/* test_schedule.c -- working hours: days, times, dates, zone names, ordering */
#include "check.h"
#include "crm/schedule.h"

static void test_days(void)
{
	int d = -1;

	CHECK(crm_schedule_day("mon", &d) && d == 0);
	CHECK(crm_schedule_day("sun", &d) && d == 6);
	CHECK(!crm_schedule_day("Mon", &d));
	CHECK(!crm_schedule_day("monday", &d));
	CHECK(!crm_schedule_day("", &d));
	CHECK_STR(crm_schedule_day_name(3), "thu");
	CHECK_STR(crm_schedule_day_name(7), "?");
}

static void test_times(void)
{
	static const char *const bad[] = {"24:00", "9:00", "09:0", "09:60", "09-00", "0900", "09:00 ", "+9:00", "",
		"ab:cd"};
	int m = -1;

	CHECK(crm_schedule_time("00:00", &m) && m == 0);
	CHECK(crm_schedule_time("09:30", &m) && m == 570);
	CHECK(crm_schedule_time("23:59", &m) && m == 1439);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!crm_schedule_time(bad[i], &m));
}

static void test_dates(void)
{
	static const char *const bad[] = {"2026-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "1999-12-31",
		"2100-01-01", "2026-1-01", "2026/01/01", "20260101", "2026-01-01T00"};
	int ymd = 0;

	CHECK(crm_schedule_date("2026-12-24", &ymd) && ymd == 20261224);
	CHECK(crm_schedule_date("2028-02-29", &ymd) && ymd == 20280229); /* a leap year */
	CHECK(crm_schedule_date("2000-02-29", &ymd));                    /* divisible by 400 */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!crm_schedule_date(bad[i], &ymd));
}

static void test_zone_names(void)
{
	CHECK(crm_schedule_zone_name("Europe/Berlin"));
	CHECK(crm_schedule_zone_name("America/Argentina/Buenos_Aires"));
	CHECK(crm_schedule_zone_name("UTC"));
	CHECK(crm_schedule_zone_name("Etc/GMT+5"));
	CHECK(!crm_schedule_zone_name(""));
	CHECK(!crm_schedule_zone_name("/etc/passwd"));
	CHECK(!crm_schedule_zone_name("Europe/../Berlin"));
	CHECK(!crm_schedule_zone_name("Europe//Berlin"));
	CHECK(!crm_schedule_zone_name("Europe/Berlin/"));
	CHECK(!crm_schedule_zone_name("Europe/Berlin'"));
	CHECK(!crm_schedule_zone_name("Europe Berlin"));
	CHECK(!crm_schedule_zone_name("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */
}

static void test_sort(void)
{
	struct crm_shift s[] = {{4, 540, 1080}, {0, 720, 840}, {0, 540, 720}, {4, 540, 1080}, {0, 540, 600}};
	int dates[] = {20261225, 20261224, 20261225, 20260101};
	size_t n = crm_schedule_sort_shifts(s, 5);

	CHECK(n == 4);
	CHECK(s[0].day == 0 && s[0].from == 540 && s[0].to == 600);
	CHECK(s[1].day == 0 && s[1].from == 540 && s[1].to == 720);
	CHECK(s[2].day == 0 && s[2].from == 720);
	CHECK(s[3].day == 4);
	CHECK(crm_schedule_sort_shifts(s, 0) == 0);
	n = crm_schedule_sort_dates(dates, 4);
	CHECK(n == 3 && dates[0] == 20260101 && dates[1] == 20261224 && dates[2] == 20261225);
}

int main(void)
{
	test_days();
	test_times();
	test_dates();
	test_zone_names();
	test_sort();
	return check_done("schedule");
}
