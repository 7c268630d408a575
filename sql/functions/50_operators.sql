-- 50_operators.sql -- changing an operator

-- PATCH of an operator; capacity may appear, so its sources are drained in the same
-- transaction. NULL arguments leave a column unchanged; the schedule is written when
-- p_set_schedule (NULL then means "always at work"), and its on-shift state is recomputed in
-- this transaction by the trigger operators_schedule (sql/0012_working_hours.sql), which also
-- wakes the drainer to plan its sleep anew. No row: the operator does not exist.
CREATE OR REPLACE FUNCTION crm_operator_update(p_id bigint, p_name text, p_active boolean, p_limit integer,
                                               p_batch integer, p_set_schedule boolean, p_schedule jsonb)
RETURNS SETOF operators
LANGUAGE plpgsql AS $$
DECLARE
    v_op operators;
BEGIN
    IF p_set_schedule THEN
        UPDATE operators o
           SET name = coalesce(p_name, o.name),
               is_active = coalesce(p_active, o.is_active),
               max_load_limit = coalesce(p_limit, o.max_load_limit),
               schedule = p_schedule
         WHERE o.id = p_id
        RETURNING o.* INTO v_op;
    ELSE
        UPDATE operators o
           SET name = coalesce(p_name, o.name),
               is_active = coalesce(p_active, o.is_active),
               max_load_limit = coalesce(p_limit, o.max_load_limit)
         WHERE o.id = p_id
        RETURNING o.* INTO v_op;
    END IF;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF crm_eligible(v_op) THEN
        PERFORM crm_drain_sources(crm_operator_sources(p_id), p_batch);
        SELECT * INTO v_op FROM operators o WHERE o.id = p_id;
    END IF;
    RETURN NEXT v_op;
END
$$;

-- The signature of the previous release (workers not yet restarted): the schedule unchanged.
CREATE OR REPLACE FUNCTION crm_operator_update(p_id bigint, p_name text, p_active boolean, p_limit integer,
                                               p_batch integer)
RETURNS SETOF operators
LANGUAGE sql AS $$
    SELECT * FROM crm_operator_update(p_id, p_name, p_active, p_limit, p_batch, false, NULL)
$$;
