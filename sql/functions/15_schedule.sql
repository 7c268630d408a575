-- 15_schedule.sql -- working hours: when an operator's weekly schedule puts them on shift
--
-- A schedule is the canonical JSON that the operator handlers store (src/schedule.c checks and
-- normalises it; these functions trust it):
--   {"timezone": "Europe/Berlin",
--    "weekly": [{"day": "mon", "from": "09:00", "to": "18:00"}, ...],
--    "days_off": ["2026-12-24", ...]}
-- Times are local wall-clock times in the IANA zone, so a daylight-saving change moves a shift
-- with the clock. A shift whose `to` is not later than its `from` is a night shift ending on the
-- next day ("22:00"-"06:00"; "18:00"-"00:00" ends at midnight). A day off cancels the shifts that
-- START on that local date; a night shift that started the evening before runs to its end.
-- Local times that do not exist (the hour skipped in spring) or exist twice (the hour repeated in
-- autumn) are resolved as PostgreSQL resolves `timestamp AT TIME ZONE`: a skipped 02:30 is read
-- with the offset in force before the change (it is 03:30 of the new offset), a repeated one is
-- the later of the two.
-- A null schedule means always on shift (an operator without working hours).

-- The shifts starting on the p_days local dates from p_first on, as intervals [starts_at,
-- ends_at). STABLE (the zone database), not IMMUTABLE.
CREATE OR REPLACE FUNCTION crm_schedule_shifts(p_schedule jsonb, p_first date, p_days integer)
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT (d + f) AT TIME ZONE z.tz,
	       (d + t + CASE WHEN t <= f THEN interval '1 day' ELSE interval '0' END) AT TIME ZONE z.tz
	FROM (SELECT p_schedule->>'timezone' AS tz) z,
	     generate_series(p_first::timestamp, (p_first + p_days - 1)::timestamp, interval '1 day') AS d,
	     jsonb_array_elements(p_schedule->'weekly') AS w,
	     LATERAL (SELECT (w->>'from')::interval AS f, (w->>'to')::interval AS t) ft
	WHERE w->>'day' = to_char(d, 'dy')
	  AND NOT coalesce(p_schedule->'days_off', '[]') ? to_char(d, 'YYYY-MM-DD')
$$;

-- Whether the schedule has the operator on shift at p_at, and the next moment that may change:
-- the end of the run of overlapping or touching shifts that contains p_at, or the start of the
-- next shift. o_next_change is null when no shift is ahead (an empty week, or a null schedule,
-- which is on shift for ever). The shifts are read eight local days at a time, in start order;
-- any seven days without a day off hold a shift of a non-empty week, so the search ends at the
-- latest eight days past the last day off. A run that never breaks (shifts overlapping round the
-- clock) is reported to end where the search stops; the caller asks again then.
CREATE OR REPLACE FUNCTION crm_schedule_state(p_schedule jsonb, p_at timestamptz,
	OUT o_on_shift boolean, OUT o_next_change timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
	v_tz text := p_schedule->>'timezone';
	v_day date;          -- first local date of the window
	v_last date;         -- past this, the search stops
	v_run_end timestamptz; -- end of the run containing p_at, once found
	v_shift record;
BEGIN
	o_on_shift := p_schedule IS NULL;
	IF p_schedule IS NULL OR coalesce(jsonb_array_length(p_schedule->'weekly'), 0) = 0 THEN
		RETURN;
	END IF;
	v_day := (p_at AT TIME ZONE v_tz)::date - 1;
	SELECT greatest(v_day, max(d::date)) + 8 INTO v_last
	FROM jsonb_array_elements_text(coalesce(p_schedule->'days_off', '[]')) d;
	WHILE v_day <= v_last LOOP
		FOR v_shift IN
			SELECT s.starts_at, s.ends_at
			FROM crm_schedule_shifts(p_schedule, v_day, 8) s
			WHERE s.ends_at > p_at
			ORDER BY s.starts_at, s.ends_at
		LOOP
			IF v_run_end IS NULL THEN
				IF v_shift.starts_at > p_at THEN
					o_next_change := v_shift.starts_at;
					RETURN;
				END IF;
				v_run_end := v_shift.ends_at;
			ELSIF v_shift.starts_at <= v_run_end THEN
				v_run_end := greatest(v_run_end, v_shift.ends_at);
			ELSE
				o_on_shift := true;
				o_next_change := v_run_end;
				RETURN;
			END IF;
		END LOOP;
		v_day := v_day + 8;
	END LOOP;
	o_on_shift := v_run_end IS NOT NULL;
	o_next_change := v_run_end;
END
$$;
