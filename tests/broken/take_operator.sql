-- take_operator.sql -- TEST ONLY: the deliberately unsafe crm_take_operator (BROKEN VARIANT)
--
-- Applied by tests/prove-broken-variant to its own database after the stack started, over the
-- real function of sql/functions/20_candidates.sql. It reads eligibility on a plain snapshot
-- (no row lock) and then increments the counter without re-checking the limit in the UPDATE:
-- two transactions that read the same last free slot both take it. The concurrency test must
-- catch that. Never apply this anywhere else. (A restart does not undo it: `crm migrate`
-- re-applies a repeatable file only when the file's checksum changes.)
CREATE OR REPLACE FUNCTION crm_take_operator(p_source bigint, p_order bigint[], p_skip_locked boolean,
                                             OUT o_operator bigint, OUT o_load integer, OUT o_limit integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_cand     bigint;
    v_eligible boolean;
BEGIN
    -- BROKEN VARIANT: eligibility from a snapshot, increment without the conditional re-check
    FOREACH v_cand IN ARRAY p_order LOOP
        IF p_skip_locked THEN
            PERFORM 1 FROM operators o WHERE o.id = v_cand FOR NO KEY UPDATE SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;
        END IF;
        SELECT crm_eligible(o) INTO v_eligible FROM operators o
         WHERE o.id = v_cand
           AND EXISTS (SELECT 1 FROM source_operators so
                        WHERE so.source_id = p_source AND so.operator_id = v_cand);
        CONTINUE WHEN NOT coalesce(v_eligible, false);
        UPDATE operators o
           SET active_contacts = o.active_contacts + 1
         WHERE o.id = v_cand
        RETURNING o.id, o.active_contacts - 1, o.max_load_limit INTO o_operator, o_load, o_limit;
        EXIT;
    END LOOP;
END
$$;
