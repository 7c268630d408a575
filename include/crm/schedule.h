/* schedule.h -- working hours: the parts of an operator's weekly schedule, checked (pure)
 *
 * An operator's schedule is {"timezone": Z, "weekly": [{"day", "from", "to"}...], "days_off":
 * [...]}. This module checks and orders its parts; whether a moment is inside a shift is
 * computed by the database (sql/functions/15_schedule.sql), which owns the zone database, and
 * so is the zone name's validity.
 */
#ifndef CRM_SCHEDULE_H
#define CRM_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>

#define CRM_SCHEDULE_SHIFTS_MAX 70 /* ten a day */
#define CRM_SCHEDULE_DAYS_OFF_MAX 366
#define CRM_SCHEDULE_ZONE_MAX 64 /* IANA names are shorter */
#define CRM_SCHEDULE_YEAR_MIN 2000
#define CRM_SCHEDULE_YEAR_MAX 2099

/* One weekly shift: day 0 (Monday) .. 6 (Sunday), minutes since local midnight. A shift whose
 * end is not after its start ends on the next day (a night shift); start == end is refused. */
struct crm_shift {
	int day;
	int from, to;
};

/* "mon" .. "sun" (lower case, as the API writes them) to 0 .. 6. */
bool crm_schedule_day(const char *s, int *day);

/* The name of day 0 .. 6. */
const char *crm_schedule_day_name(int day);

/* "HH:MM", 00:00 .. 23:59, exactly five characters, to minutes since midnight. */
bool crm_schedule_time(const char *s, int *minutes);

/* A calendar date "YYYY-MM-DD" between CRM_SCHEDULE_YEAR_MIN and _MAX that exists (no
 * 2026-02-30), to a sortable number yyyymmdd. */
bool crm_schedule_date(const char *s, int *ymd);

/* A zone name as IANA spells them: 1 .. CRM_SCHEDULE_ZONE_MAX characters of letters, digits and
 * "/_+-", not starting or ending with '/', no empty or dot component. Whether the zone exists is
 * the database's to say. */
bool crm_schedule_zone_name(const char *s);

/* Orders shifts by day, start and end, and drops exact repeats; returns the new count. */
size_t crm_schedule_sort_shifts(struct crm_shift *shifts, size_t n);

/* Orders dates (yyyymmdd) and drops repeats; returns the new count. */
size_t crm_schedule_sort_dates(int *ymd, size_t n);

#endif
