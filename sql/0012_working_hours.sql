-- 0012_working_hours.sql -- working hours: an operator's schedule and its on-shift state
--
--   operators.schedule: NULL (always at work, the default) or the canonical JSON the API stores
--     (src/handlers_operators.c sorts and dedupes it; sql/functions/15_schedule.sql reads it):
--     {"timezone": Z, "weekly": [{"day", "from", "to"}, ...], "days_off": ["YYYY-MM-DD", ...]}.
--     The zone must be one the database knows (constraint operators_schedule_timezone, which
--     the API answers as 422 schedule.timezone).
--   operators.on_shift / shift_change_at: the schedule's state, kept so that eligibility stays
--     one column read (crm_eligible, sql/functions/10_rules.sql): on_shift as of the last
--     recomputation, and the next moment it may change (NULL: never, e.g. a null schedule).
--     Recomputed by the trigger below when the schedule is written, and by the drainer at
--     shift_change_at (crm_shift_advance, sql/functions/45_shifts.sql), which sleeps until the
--     earliest one (operators_shift_change_idx).
--   versions: an operator off shift is drawn like an inactive one. source_version_operators
--     gains on_shift (cum_weight is NULL unless is_active AND on_shift) and source_versions
--     gains off_shift (active operators off shift), so "why nobody" can say "all off shift";
--     a flip of on_shift writes new versions of the operator's sources, as is_active does.
--     Rows written before this migration: everyone was on shift (the defaults).

-- Whether PostgreSQL knows the zone name (a name it cannot read raises 22023).
CREATE FUNCTION crm_zone_known(p_zone text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE p_zone;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;

ALTER TABLE operators
    ADD COLUMN schedule jsonb,
    ADD COLUMN on_shift boolean NOT NULL DEFAULT true,
    ADD COLUMN shift_change_at timestamptz,
    ADD CONSTRAINT operators_schedule_timezone
        CHECK (schedule IS NULL OR crm_zone_known(schedule->>'timezone'));

CREATE INDEX operators_shift_change_idx ON operators (shift_change_at) WHERE shift_change_at IS NOT NULL;

ALTER TABLE source_versions ADD COLUMN off_shift integer NOT NULL DEFAULT 0;  -- active operators off shift
ALTER TABLE source_version_operators ADD COLUMN on_shift boolean NOT NULL DEFAULT true;

-- A schedule written (POST, PATCH): its state now, in the same transaction, and a wake-up for
-- the drainer so that it plans its sleep anew (delivered at commit; nothing on a rollback).
-- An unknown zone is left to the constraint operators_schedule_timezone.
CREATE FUNCTION crm_operator_schedule_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.schedule IS NOT DISTINCT FROM OLD.schedule THEN
        RETURN NEW;
    END IF;
    IF NEW.schedule IS NULL THEN
        NEW.on_shift := true;
        NEW.shift_change_at := NULL;
    ELSIF crm_zone_known(NEW.schedule->>'timezone') THEN
        SELECT s.o_on_shift, s.o_next_change INTO NEW.on_shift, NEW.shift_change_at
          FROM crm_schedule_state(NEW.schedule, now()) s;
    END IF;
    IF TG_OP = 'UPDATE' OR NEW.schedule IS NOT NULL THEN
        PERFORM pg_notify('crm_backlog', '');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER operators_schedule BEFORE INSERT OR UPDATE OF schedule ON operators
    FOR EACH ROW EXECUTE FUNCTION crm_operator_schedule_written();

-- As in 0010, on_shift added: an operator is drawn when active and on shift.
CREATE OR REPLACE FUNCTION crm_source_version_write(p_source bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_last integer;
    v_now  text;
    v_was  text;
BEGIN
    PERFORM 1 FROM sources s WHERE s.id = p_source FOR NO KEY UPDATE;
    SELECT coalesce(max(v.version), 0) INTO v_last FROM source_versions v WHERE v.source_id = p_source;
    SELECT coalesce(string_agg(concat_ws(':', o.id, so.weight, o.max_load_limit, o.is_active, o.on_shift), ','
                               ORDER BY o.id), '')
      INTO v_now
      FROM source_operators so JOIN operators o ON o.id = so.operator_id WHERE so.source_id = p_source;
    SELECT coalesce(string_agg(concat_ws(':', vo.operator_id, vo.weight, vo.max_load_limit, vo.is_active, vo.on_shift),
                               ',' ORDER BY vo.operator_id), '')
      INTO v_was
      FROM source_version_operators vo WHERE vo.source_id = p_source AND vo.version = v_last;
    IF v_now = v_was THEN
        RETURN v_last;
    END IF;
    INSERT INTO source_versions (source_id, version, configured, active, active_weight, off_shift)
    SELECT p_source, v_last + 1, count(*), count(*) FILTER (WHERE o.is_active),
           coalesce(sum(so.weight) FILTER (WHERE o.is_active AND o.on_shift), 0),
           count(*) FILTER (WHERE o.is_active AND NOT o.on_shift)
      FROM source_operators so JOIN operators o ON o.id = so.operator_id WHERE so.source_id = p_source;
    INSERT INTO source_version_operators (source_id, version, operator_id, weight, max_load_limit, is_active,
                                          on_shift, cum_weight)
    SELECT p_source, v_last + 1, o.id, so.weight, o.max_load_limit, o.is_active, o.on_shift,
           CASE WHEN o.is_active AND o.on_shift
                THEN sum(CASE WHEN o.is_active AND o.on_shift THEN so.weight ELSE 0 END) OVER (ORDER BY o.id) END
      FROM source_operators so JOIN operators o ON o.id = so.operator_id WHERE so.source_id = p_source;
    RETURN v_last + 1;
END
$$;

DROP TRIGGER operators_version ON operators;
CREATE TRIGGER operators_version AFTER UPDATE OF is_active, max_load_limit, on_shift, schedule ON operators
    FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active OR OLD.max_load_limit IS DISTINCT FROM NEW.max_load_limit
                       OR OLD.on_shift IS DISTINCT FROM NEW.on_shift)
    EXECUTE FUNCTION crm_operator_config_changed();

-- a manual assignment to an operator off shift is refused by its own name
ALTER TYPE crm_contact_update_error ADD VALUE 'off_shift';
