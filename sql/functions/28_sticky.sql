-- 28_sticky.sql -- sticky returning leads (0014_sticky.sql): the operator a returning lead goes
-- back to, taken for crm_intake (30_intake.sql)
--
-- The rule, in one place: for a source with sticky_window_seconds = W, an arriving contact of
-- lead L looks at L's most recent contact E (the highest id, from any source, open or closed:
-- one backward probe of contacts_lead_idx). E counts when it has an operator X now and E was
-- assigned to X at most W seconds before this transaction's time (now()): "assigned" is the
-- latest entry of E's history naming X, either the latest assignments row of E with operator X
-- (a drain, a hand-picked operator, a timeout's reassignment) or, when there is none, E's
-- intake decision if it chose X. Every change of a contact's operator writes one of those, so
-- this is the moment E last went to X. Then X is taken by crm_take_operator(source, [X]): X
-- must be configured for this source and eligible now (active, on shift, below its limit),
-- checked under X's row lock like any other take, so the limit promise holds. The drain of
-- waiting contacts keeps the usual rule: it does not call this.
--
-- o_operator NULL: no sticky decision (no earlier contact, E unassigned, the window passed,
-- X not configured here or not eligible); nothing was locked or written then (a conditional
-- UPDATE that matches no row locks none). Else X's slot is taken, o_load / o_limit are its
-- load before and its limit, o_earlier is E.
CREATE OR REPLACE FUNCTION crm_intake_sticky(p_source bigint, p_lead bigint, p_window integer,
                                             OUT o_operator bigint, OUT o_load integer, OUT o_limit integer,
                                             OUT o_earlier bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_e  record;
    v_at timestamptz;  -- when E last went to its operator
BEGIN
    SELECT c.id, c.operator_id, c.intake_operator_id, c.created_at INTO v_e
      FROM contacts c WHERE c.lead_id = p_lead ORDER BY c.id DESC LIMIT 1;
    IF v_e.operator_id IS NULL THEN  -- no earlier contact, or it waits unassigned
        RETURN;
    END IF;
    v_at := coalesce((SELECT a.created_at FROM assignments a
                       WHERE a.contact_id = v_e.id AND a.operator_id = v_e.operator_id
                       ORDER BY a.id DESC LIMIT 1),
                     CASE WHEN v_e.intake_operator_id = v_e.operator_id THEN v_e.created_at END);
    IF NOT coalesce(v_at >= now() - make_interval(secs => p_window), false) THEN
        RETURN;
    END IF;
    SELECT t.o_operator, t.o_load, t.o_limit INTO o_operator, o_load, o_limit
      FROM crm_take_operator(p_source, ARRAY[v_e.operator_id], false) t;
    IF o_operator IS NOT NULL THEN
        o_earlier := v_e.id;
    END IF;
END
$$;
