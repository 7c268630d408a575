-- 30_intake.sql -- one distribution as one statement (one round trip, one transaction)
--
-- crm_intake(email, source) reads the source's candidates once (20_candidates.sql: the
-- weighted random order and the snapshot), finds or creates the lead, takes the first operator
-- of the order's eligible-when-read part that is still configured and eligible
-- (crm_take_operator's conditional row update; nobody eligible when read: no operator row is
-- touched), stores the contact (unassigned when nobody could be taken) and appends the decision
-- to the history with the snapshot it read. An unknown source gives no row.
--
-- Locks: the source row is locked FOR KEY SHARE first, the lock the contact's foreign key
-- takes anyway, so the source cannot vanish before the insert; then the lead, then one
-- operator row at a time, always in that order, so two intakes cannot deadlock on each other.

CREATE OR REPLACE FUNCTION crm_intake(p_email text, p_source bigint)
RETURNS TABLE (id bigint, lead_id bigint, source_id bigint, operator_id bigint, status text,
               created_at text)
LANGUAGE plpgsql AS $$
DECLARE
    v_cands   record;
    v_lead    bigint;
    v_take    record;
    v_contact contacts;
BEGIN
    PERFORM 1 FROM sources s WHERE s.id = p_source FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO v_cands FROM crm_candidates(p_source);

    LOOP
        SELECT l.id INTO v_lead FROM leads l WHERE l.email = p_email;
        EXIT WHEN FOUND;
        INSERT INTO leads AS l (email) VALUES (p_email)
            ON CONFLICT (email) DO NOTHING
            RETURNING l.id INTO v_lead;
        EXIT WHEN FOUND;
    END LOOP;

    SELECT * INTO v_take FROM crm_take_operator(p_source, v_cands.o_order[1:v_cands.o_eligible], false);
    INSERT INTO contacts AS c (lead_id, source_id, operator_id)
        VALUES (v_lead, p_source, v_take.o_operator)
        RETURNING c.* INTO v_contact;
    INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, note, candidates)
        VALUES (v_contact.id, v_take.o_operator, 'intake', v_take.o_load, v_take.o_limit,
                CASE WHEN v_take.o_operator IS NULL THEN crm_no_choice_reason(cardinality(v_cands.o_order), v_cands.o_active) END,
                v_cands.o_snapshot);

    RETURN QUERY SELECT v_contact.id, v_contact.lead_id, v_contact.source_id, v_contact.operator_id,
        v_contact.status, crm_rfc3339(v_contact.created_at);
END
$$;
