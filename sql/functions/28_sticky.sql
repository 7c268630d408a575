-- 28_sticky.sql -- sticky returning leads (0014_sticky.sql): the earlier contact whose operator
-- a returning lead goes back to, read by crm_intake (30_intake.sql), which takes that operator
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
-- crm_sticky_earlier(lead, window): E's id and operator X when E counts, else no row. A STABLE
-- one-SELECT SQL function, so it is inlined into crm_intake's statement that takes X (one
-- statement for the probe, the window and the take; a refused take locks and writes nothing).
CREATE OR REPLACE FUNCTION crm_sticky_earlier(p_lead bigint, p_window integer)
RETURNS TABLE (id bigint, operator_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT e.id, e.operator_id
      FROM (SELECT c.id, c.operator_id, c.intake_operator_id, c.created_at FROM contacts c
             WHERE c.lead_id = p_lead ORDER BY c.id DESC LIMIT 1) e
     WHERE e.operator_id IS NOT NULL
       AND coalesce((SELECT a.created_at FROM assignments a
                      WHERE a.contact_id = e.id AND a.operator_id = e.operator_id
                      ORDER BY a.id DESC LIMIT 1),
                    CASE WHEN e.intake_operator_id = e.operator_id THEN e.created_at END)
           >= now() - make_interval(secs => p_window)
$$;
