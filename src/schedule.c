/* schedule.c -- working hours: the parts of a weekly schedule, checked and ordered (pure) */
#include "crm/schedule.h"

#include <stdlib.h>
#include <string.h>

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

bool crm_schedule_day(const char *s, int *day)
{
	for (int i = 0; i < 7; i++) {
		if (strcmp(s, day_names[i]) == 0) {
			*day = i;
			return true;
		}
	}
	return false;
}

const char *crm_schedule_day_name(int day)
{
	return day >= 0 && day < 7 ? day_names[day] : "?";
}

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool crm_schedule_time(const char *s, int *minutes)
{
	int h, m;

	if (strlen(s) != 5 || s[2] != ':' || !digits(s, 2, &h) || !digits(s + 3, 2, &m) || h > 23 || m > 59)
		return false;
	*minutes = h * 60 + m;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

bool crm_schedule_date(const char *s, int *ymd)
{
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &m) ||
		!digits(s + 8, 2, &d))
		return false;
	if (y < CRM_SCHEDULE_YEAR_MIN || y > CRM_SCHEDULE_YEAR_MAX || m < 1 || m > 12 || d < 1 ||
		d > days_in_month(y, m))
		return false;
	*ymd = y * 10000 + m * 100 + d;
	return true;
}

bool crm_schedule_zone_name(const char *s)
{
	size_t n = strlen(s);
	size_t part = 0; /* length of the current component */

	if (n == 0 || n > CRM_SCHEDULE_ZONE_MAX || s[0] == '/' || s[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '/') {
			if (part == 0)
				return false;
			part = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
			    c == '+' || c == '-'))
			return false;
		part++;
	}
	return true;
}

static int shift_cmp(const void *a, const void *b)
{
	const struct crm_shift *x = a, *y = b;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return (x->to > y->to) - (x->to < y->to);
}

size_t crm_schedule_sort_shifts(struct crm_shift *shifts, size_t n)
{
	size_t kept = 0;

	if (n == 0)
		return 0;
	qsort(shifts, n, sizeof(*shifts), shift_cmp);
	for (size_t i = 0; i < n; i++) {
		if (kept == 0 || shift_cmp(&shifts[kept - 1], &shifts[i]) != 0)
			shifts[kept++] = shifts[i];
	}
	return kept;
}

static int int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

size_t crm_schedule_sort_dates(int *ymd, size_t n)
{
	size_t kept = 0;

	if (n == 0)
		return 0;
	qsort(ymd, n, sizeof(*ymd), int_cmp);
	for (size_t i = 0; i < n; i++) {
		if (kept == 0 || ymd[kept - 1] != ymd[i])
			ymd[kept++] = ymd[i];
	}
	return kept;
}
