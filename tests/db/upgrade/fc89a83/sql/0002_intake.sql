-- 0002_intake.sql -- one distribution as one statement (one round trip, one transaction)
--
-- crm_intake(email, source, order) finds or creates the lead, then walks `order` (operator ids
-- in the weighted random order drawn by the worker, see include/crm/pick.h) and takes the first
-- operator that is still configured for the source, active and below its limit, with a
-- conditional UPDATE of its counter. The UPDATE holds the operator's row lock until commit and
-- PostgreSQL re-checks the WHERE clause on the newest row version after waiting for a
-- concurrent writer, so no two transactions can both take an operator's last free slot.
-- The lead comes first and the single operator row after it, always in that order, so two
-- intakes cannot deadlock on each other.

CREATE FUNCTION crm_intake(p_email text, p_source bigint, p_order bigint[])
RETURNS TABLE (id bigint, lead_id bigint, source_id bigint, operator_id bigint, status text,
               created_at text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_lead bigint;
    v_op   bigint;
    v_cand bigint;
BEGIN
    LOOP
        SELECT l.id INTO v_lead FROM leads l WHERE l.email = p_email;
        EXIT WHEN FOUND;
        INSERT INTO leads AS l (email) VALUES (p_email)
            ON CONFLICT (email) DO NOTHING
            RETURNING l.id INTO v_lead;
        EXIT WHEN FOUND;
    END LOOP;

    FOREACH v_cand IN ARRAY p_order LOOP
        UPDATE operators o
           SET active_contacts = o.active_contacts + 1
         WHERE o.id = v_cand
           AND o.is_active
           AND o.active_contacts < o.max_load_limit
           AND EXISTS (SELECT 1 FROM source_operators so
                        WHERE so.source_id = p_source AND so.operator_id = v_cand)
        RETURNING o.id INTO v_op;
        EXIT WHEN v_op IS NOT NULL;
    END LOOP;

    RETURN QUERY
    INSERT INTO contacts AS c (lead_id, source_id, operator_id)
    VALUES (v_lead, p_source, v_op)
    RETURNING c.id, c.lead_id, c.source_id, c.operator_id, c.status,
              to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END
$$;
