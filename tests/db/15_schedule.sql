-- 15_schedule.sql -- crm_schedule_state(schedule, at): on shift or not, and the next change
-- Every "now" is fixed here, so daylight-saving weekends are tested without waiting for them.
-- 2026-11-30 is a Monday. Europe/Berlin is UTC+1 in winter, UTC+2 in summer (2026-03-29 02:00
-- -> 03:00 and 2026-10-25 03:00 -> 02:00); America/New_York is UTC-5 in winter.
BEGIN;
SELECT plan(34);

CREATE TEMP TABLE sch (name text PRIMARY KEY, s jsonb);
INSERT INTO sch VALUES
 ('office', '{"timezone": "Europe/Berlin", "weekly": [
     {"day": "mon", "from": "09:00", "to": "18:00"}, {"day": "tue", "from": "09:00", "to": "18:00"},
     {"day": "wed", "from": "09:00", "to": "18:00"}, {"day": "thu", "from": "09:00", "to": "18:00"},
     {"day": "fri", "from": "09:00", "to": "18:00"}], "days_off": ["2026-12-24", "2026-12-25"]}'),
 ('night', '{"timezone": "Europe/Berlin", "weekly": [{"day": "sat", "from": "22:00", "to": "06:00"}], "days_off": []}'),
 ('split', '{"timezone": "Europe/Berlin", "weekly": [
     {"day": "mon", "from": "09:00", "to": "12:00"}, {"day": "mon", "from": "12:00", "to": "14:00"},
     {"day": "mon", "from": "13:00", "to": "15:00"}, {"day": "mon", "from": "16:00", "to": "17:00"}], "days_off": []}'),
 ('midnight', '{"timezone": "Europe/Berlin", "weekly": [{"day": "tue", "from": "18:00", "to": "00:00"}], "days_off": []}'),
 ('ny', '{"timezone": "America/New_York", "weekly": [{"day": "mon", "from": "09:00", "to": "17:00"}], "days_off": []}'),
 ('sunday', '{"timezone": "Europe/Berlin", "weekly": [{"day": "sun", "from": "09:00", "to": "18:00"}], "days_off": []}'),
 ('gap', '{"timezone": "Europe/Berlin", "weekly": [{"day": "sun", "from": "02:30", "to": "04:00"}], "days_off": []}'),
 ('eve_off', '{"timezone": "Europe/Berlin", "weekly": [{"day": "wed", "from": "22:00", "to": "06:00"}], "days_off": ["2026-12-24"]}'),
 ('empty', '{"timezone": "Europe/Berlin", "weekly": [], "days_off": []}'),
 ('long_off', '{"timezone": "UTC", "weekly": [{"day": "mon", "from": "09:00", "to": "10:00"}],
     "days_off": ["2026-11-30", "2026-12-07", "2026-12-14", "2026-12-21", "2026-12-28", "2027-01-04"]}');

CREATE FUNCTION pg_temp.st(p_name text, p_at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN r.o_on_shift THEN 'on' ELSE 'off' END || ' until ' ||
	       coalesce(to_char(r.o_next_change AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), 'never')
	FROM sch, crm_schedule_state(sch.s, p_at) r WHERE sch.name = p_name
$$;

-- inside and outside a day shift (09:00-18:00 Berlin = 08:00-17:00 UTC in winter)
SELECT is(pg_temp.st('office', '2026-12-01 07:59:59Z'), 'off until 2026-12-01 08:00', 'before the shift: off, it starts at 09:00 local');
SELECT is(pg_temp.st('office', '2026-12-01 08:00Z'), 'on until 2026-12-01 17:00', 'at its start: on (the start is inside)');
SELECT is(pg_temp.st('office', '2026-12-01 12:00Z'), 'on until 2026-12-01 17:00', 'inside: on until 18:00 local');
SELECT is(pg_temp.st('office', '2026-12-01 17:00Z'), 'off until 2026-12-02 08:00', 'at its end: off (the end is outside)');
SELECT is(pg_temp.st('office', '2026-12-04 17:30Z'), 'off until 2026-12-07 08:00', 'Friday evening: off until Monday');
SELECT is(pg_temp.st('office', '2026-12-05 12:00Z'), 'off until 2026-12-07 08:00', 'Saturday: no shift that day');

-- days off
SELECT is(pg_temp.st('office', '2026-12-24 10:00Z'), 'off until 2026-12-28 08:00', 'a day off: off, and the next day off is skipped too');
SELECT is(pg_temp.st('office', '2026-12-23 12:00Z'), 'on until 2026-12-23 17:00', 'the day before a day off: on');
SELECT is(pg_temp.st('eve_off', '2026-12-24 03:00Z'), 'on until 2026-12-24 05:00',
          'a night shift that started the evening before a day off runs to its end');
SELECT is(pg_temp.st('long_off', '2026-11-30 09:30Z'), 'off until 2027-01-11 09:00',
          'six Mondays off in a row: the next shift is still found');

-- night shifts
SELECT is(pg_temp.st('night', '2026-12-05 20:59Z'), 'off until 2026-12-05 21:00', 'a night shift starts at 22:00 local');
SELECT is(pg_temp.st('night', '2026-12-05 23:00Z'), 'on until 2026-12-06 05:00', 'it ends the next morning');
SELECT is(pg_temp.st('night', '2026-12-06 04:59Z'), 'on until 2026-12-06 05:00', 'Sunday morning is still Saturday''s shift');
SELECT is(pg_temp.st('night', '2026-12-06 05:00Z'), 'off until 2026-12-12 21:00', 'after it: off for a week');
SELECT is(pg_temp.st('midnight', '2026-12-01 22:30Z'), 'on until 2026-12-01 23:00', '"18:00"-"00:00" ends at midnight');

-- overlapping and touching shifts are one run
SELECT is(pg_temp.st('split', '2026-11-30 10:00Z'), 'on until 2026-11-30 14:00',
          'touching and overlapping shifts: on until the end of the run (15:00 local)');
SELECT is(pg_temp.st('split', '2026-11-30 14:00Z'), 'off until 2026-11-30 15:00', 'a gap of an hour: off until 16:00 local');
SELECT is(pg_temp.st('split', '2026-11-30 16:00Z'), 'off until 2026-12-07 08:00', 'after the last shift of the day');

-- a zone whose offset differs from UTC the other way
SELECT is(pg_temp.st('ny', '2026-11-30 13:59Z'), 'off until 2026-11-30 14:00', 'New York: 09:00 local is 14:00 UTC');
SELECT is(pg_temp.st('ny', '2026-11-30 21:59Z'), 'on until 2026-11-30 22:00', 'New York: on until 17:00 local');
SELECT is(pg_temp.st('ny', '2026-12-01 02:00Z'), 'off until 2026-12-07 14:00',
          'Monday 21:00 local is Tuesday in UTC: off until next Monday');

-- daylight saving: the shift moves with the clock
SELECT is(pg_temp.st('sunday', '2026-03-22 07:30Z'), 'off until 2026-03-22 08:00', 'the Sunday before spring: 09:00 CET');
SELECT is(pg_temp.st('sunday', '2026-03-22 12:00Z'), 'on until 2026-03-22 17:00', 'the Sunday before spring: until 18:00 CET');
SELECT is(pg_temp.st('sunday', '2026-03-28 12:00Z'), 'off until 2026-03-29 07:00', 'spring-forward Sunday: 09:00 CEST is 07:00 UTC');
SELECT is(pg_temp.st('sunday', '2026-03-29 07:00Z'), 'on until 2026-03-29 16:00', 'spring-forward Sunday: until 18:00 CEST');
SELECT is(pg_temp.st('night', '2026-03-28 22:00Z'), 'on until 2026-03-29 04:00',
          'the night of the spring change lasts 7 hours (21:00-04:00 UTC)');
SELECT is(pg_temp.st('night', '2026-03-28 20:59Z'), 'off until 2026-03-28 21:00', 'it starts at 22:00 CET');
SELECT is(pg_temp.st('night', '2026-10-24 20:00Z'), 'on until 2026-10-25 05:00',
          'the night of the autumn change lasts 9 hours (20:00-05:00 UTC)');
SELECT is(pg_temp.st('sunday', '2026-10-25 07:59Z'), 'off until 2026-10-25 08:00', 'autumn Sunday: 09:00 CET is 08:00 UTC');
SELECT is(pg_temp.st('gap', '2026-03-28 12:00Z'), 'off until 2026-03-29 01:30',
          'a shift from 02:30, a time that does not exist that night, starts at 03:30 CEST');

-- no schedule, an empty week
SELECT is((SELECT row(o_on_shift, o_next_change)::text FROM crm_schedule_state(NULL, '2026-12-01 00:00Z')), '(t,)',
          'no schedule: always on shift, nothing ahead');
SELECT is(pg_temp.st('empty', '2026-12-01 12:00Z'), 'off until never', 'an empty week: never on shift');

-- the shifts themselves
SELECT is((SELECT count(*) FROM sch, crm_schedule_shifts(sch.s, '2026-11-30', 9) WHERE sch.name = 'office'),
          7::bigint, 'the shifts of Monday 2026-11-30 .. Tuesday 2026-12-08: seven weekdays');
SELECT is((SELECT count(*) FROM sch, crm_schedule_shifts(sch.s, '2026-12-22', 5) WHERE sch.name = 'office'),
          2::bigint, 'the shifts of 2026-12-22 .. 2026-12-26: two, the days off have none');

SELECT * FROM finish();
ROLLBACK;
