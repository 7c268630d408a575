-- 45_shifts.sql -- working hours in time: the drainer's timer and "on shift now"
--
-- An operator's on_shift / shift_change_at (sql/0012_working_hours.sql) are recomputed when its
-- schedule is written and, at shift_change_at, by the drainer: it sleeps until the earliest
-- shift_change_at of all operators (one probe of operators_shift_change_idx), or a wake-up, or
-- its sweep, whichever comes first, then calls crm_shift_advance until nothing is due, then
-- drains the queues. Each call is its own short transaction and recomputes ONE operator: the
-- flip of on_shift writes versions of the operator's sources (their rows locked FOR NO KEY
-- UPDATE, as any PATCH of an operator does), so taking one operator at a time keeps the lock
-- order of a PATCH and two of them cannot deadlock.

-- The earliest due operator (shift_change_at <= now()), recomputed at now(); o_advanced says
-- whether there was one; o_wait_ms is how long until the next shift_change_at after this call
-- (NULL: none ahead). When an operator comes on shift its sources are drained in the same
-- transaction, up to p_batch contacts (the drainer's walk finishes the rest).
CREATE OR REPLACE FUNCTION crm_shift_advance(p_batch integer, OUT o_advanced boolean, OUT o_wait_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_id     bigint;
    v_op     operators;
BEGIN
    SELECT o.id INTO v_id FROM operators o
     WHERE o.shift_change_at IS NOT NULL AND o.shift_change_at <= now()
     ORDER BY o.shift_change_at LIMIT 1
       FOR NO KEY UPDATE;
    o_advanced := v_id IS NOT NULL;
    IF o_advanced THEN
        UPDATE operators o
           SET (on_shift, shift_change_at) = (SELECT s.o_on_shift, s.o_next_change
                                                FROM crm_schedule_state(o.schedule, now()) s)
         WHERE o.id = v_id
        RETURNING o.* INTO v_op;
        IF crm_eligible(v_op) THEN
            PERFORM crm_drain_sources(crm_operator_sources(v_id), p_batch);
        END IF;
    END IF;
    SELECT crm_ms_until(min(o.shift_change_at)) INTO o_wait_ms FROM operators o WHERE o.shift_change_at IS NOT NULL;
END
$$;

-- Whether the operator is on shift at this moment: its stored state, or, past shift_change_at
-- and before the drainer has recomputed it, the schedule read now.
CREATE OR REPLACE FUNCTION crm_on_shift_now(o operators) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN o.shift_change_at <= now() THEN (crm_schedule_state(o.schedule, now())).o_on_shift
                ELSE o.on_shift END
$$;
