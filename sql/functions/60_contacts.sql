-- 60_contacts.sql -- the contact lifecycle: status and operator of a contact

-- PATCH of a contact: status and/or operator. o_error is NULL on success, else one of the
-- closed set crm_contact_update_error (0004); nothing is written then.
-- A hand-picked operator must be configured for the source and eligible, even for a closed
-- contact (which then takes no slot). Reopening a contact only needs room below the limit.
CREATE OR REPLACE FUNCTION crm_contact_update(p_id bigint, p_status text, p_set_operator boolean,
                                              p_operator bigint, p_batch integer,
                                              OUT o_error crm_contact_update_error, OUT o_contact contacts)
LANGUAGE plpgsql AS $$
DECLARE
    v_old        contacts;
    v_status     text;     -- the contact's status after the update
    v_op         bigint;   -- its operator after the update
    v_moves      boolean;  -- the operator changes: a decision for the history
    v_old_counts boolean;  -- before: active and assigned, so one unit of its operator's load
    v_new_counts boolean;  -- after: the same
    v_keeps_slot boolean;  -- counted before and after by the same operator: loads do not change
    v_frees_slot boolean;  -- the old operator's load goes down by one
    v_takes_slot boolean;  -- the new operator's load goes up by one
    v_target     operators;
    v_hist       record;   -- the source's version and who was eligible, before anything changes
BEGIN
    SELECT * INTO v_old FROM contacts c WHERE c.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        o_error := 'not_found';
        RETURN;
    END IF;
    v_status := coalesce(p_status, v_old.status);
    v_op := CASE WHEN p_set_operator THEN p_operator ELSE v_old.operator_id END;
    v_moves := p_set_operator AND v_op IS DISTINCT FROM v_old.operator_id;
    v_old_counts := v_old.status = 'active' AND v_old.operator_id IS NOT NULL;
    v_new_counts := v_status = 'active' AND v_op IS NOT NULL;
    v_keeps_slot := v_old_counts AND v_new_counts AND v_op = v_old.operator_id;
    v_frees_slot := v_old_counts AND NOT v_keeps_slot;
    v_takes_slot := v_new_counts AND NOT v_keeps_slot;

    -- both operators, in id order, so two updates cannot wait on each other
    PERFORM 1 FROM operators o WHERE o.id IN (v_old.operator_id, v_op) ORDER BY o.id FOR NO KEY UPDATE;
    IF v_moves THEN
        SELECT * INTO v_hist FROM crm_history_now(v_old.source_id);  -- before anything changes
    END IF;

    IF v_op IS NOT NULL THEN
        SELECT * INTO v_target FROM operators o WHERE o.id = v_op;
        IF NOT FOUND THEN
            o_error := 'unknown_operator';
            RETURN;
        END IF;
    END IF;
    IF v_moves AND v_op IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM source_operators so
                        WHERE so.source_id = v_old.source_id AND so.operator_id = v_op) THEN
            o_error := 'not_configured';
            RETURN;
        END IF;
        IF NOT crm_eligible(v_target) THEN
            o_error := CASE WHEN NOT v_target.is_active THEN 'inactive'::crm_contact_update_error
                            WHEN NOT v_target.on_shift THEN 'off_shift'
                            ELSE 'at_limit' END;
            RETURN;
        END IF;
    END IF;

    IF v_takes_slot THEN
        UPDATE operators o SET active_contacts = o.active_contacts + 1
         WHERE o.id = v_op AND crm_below_limit(o);
        IF NOT FOUND THEN  -- reopening a contact of a full operator
            o_error := 'at_limit';
            RETURN;
        END IF;
    END IF;
    IF v_frees_slot THEN
        UPDATE operators o SET active_contacts = o.active_contacts - 1 WHERE o.id = v_old.operator_id;
    END IF;

    UPDATE contacts c SET status = v_status, operator_id = v_op WHERE c.id = p_id;

    IF v_moves THEN
        INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, version, eligible,
                                 ineligible)
        VALUES (p_id, v_op, CASE WHEN v_op IS NULL THEN 'unassigned' ELSE 'manual' END,
                v_target.active_contacts, v_target.max_load_limit, v_hist.o_version, v_hist.o_eligible,
                v_hist.o_ineligible);
    END IF;

    -- capacity appeared at the old operator, or the contact itself waits in its source's queue
    IF v_frees_slot THEN
        PERFORM crm_drain_sources(crm_operator_sources(v_old.operator_id), p_batch);
    ELSIF v_status = 'active' AND v_op IS NULL THEN
        PERFORM crm_drain_sources(ARRAY[v_old.source_id], p_batch);
    END IF;
    SELECT * INTO o_contact FROM contacts c WHERE c.id = p_id;
END
$$;
