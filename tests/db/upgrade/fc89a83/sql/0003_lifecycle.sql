-- 0003_lifecycle.sql -- contact lifecycle, backlog assignment, assignment history
--
-- Every assignment decision is appended to `assignments`: the contact, the operator chosen (or
-- none and why), the reason (intake, backlog, manual, unassigned), the chosen operator's load
-- read under its row lock just before the decision, and a snapshot of every configured
-- candidate (weight, load, limit, active) read just before the decision.
--
-- Backlog: whenever capacity may appear (a contact closed or unassigned, an operator activated
-- or its limit raised, a source's weights configured) the transaction that made it drains the
-- affected sources' queues, oldest first, up to a bounded batch. If the batch was used up it
-- sends NOTIFY crm_backlog, delivered at commit, and the drainer process finishes the queue.
--
-- Locks: a drain never waits. Waiting contacts are taken with FOR UPDATE SKIP LOCKED and
-- operators with FOR NO KEY UPDATE SKIP LOCKED: an operator locked by another transaction is
-- being changed there, and that transaction drains for it itself. Only the intake (which holds
-- one operator at a time) and a contact update (which locks its operators in id order) wait
-- for operator rows, so no cycle of waits can form.

CREATE TABLE assignments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES contacts (id),
    operator_id bigint REFERENCES operators (id),
    reason      text NOT NULL CHECK (reason IN ('intake', 'backlog', 'manual', 'unassigned')),
    load_before integer,  -- chosen operator's active contacts just before, read under its row lock
    load_limit  integer,  -- its max_load_limit at that moment
    note        text,     -- why nobody was chosen
    candidates  jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX assignments_contact_idx ON assignments (contact_id, id);

CREATE FUNCTION crm_assignments_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'assignments are append-only';
END
$$;
CREATE TRIGGER assignments_append_only BEFORE UPDATE OR DELETE ON assignments
    FOR EACH ROW EXECUTE FUNCTION crm_assignments_append_only();
CREATE TRIGGER assignments_no_truncate BEFORE TRUNCATE ON assignments
    FOR EACH STATEMENT EXECUTE FUNCTION crm_assignments_append_only();

-- Every operator configured for the source, as seen now. (plpgsql rather than sql: PostgreSQL
-- caches the plans of plpgsql statements, while it plans a non-inlined sql function on every
-- call, which tripled the cost of an intake.)
CREATE FUNCTION crm_candidates_snapshot(p_source bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'operator_id', o.id, 'weight', so.weight, 'load', o.active_contacts,
                   'max_load_limit', o.max_load_limit, 'is_active', o.is_active) ORDER BY o.id), '[]')
              FROM source_operators so JOIN operators o ON o.id = so.operator_id
             WHERE so.source_id = p_source);
END
$$;

CREATE FUNCTION crm_no_choice_reason(p_candidates jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN CASE
        WHEN jsonb_array_length(p_candidates) = 0 THEN 'no operators configured'
        WHEN NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_candidates) e
                          WHERE (e ->> 'is_active')::boolean) THEN 'all inactive'
        ELSE 'all at limit'
    END;
END
$$;

-- The source's operators, snapshot-eligible first, each group in weighted random order
-- (exponential clocks: the same distribution as successive sampling in src/pick.c).
CREATE FUNCTION crm_weighted_order(p_source bigint) RETURNS bigint[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(so.operator_id
                   ORDER BY NOT (o.is_active AND o.active_contacts < o.max_load_limit),
                            -ln(1.0 - random()) / so.weight), '{}')
              FROM source_operators so JOIN operators o ON o.id = so.operator_id
             WHERE so.source_id = p_source);
END
$$;

-- Takes one slot of the first operator of p_order that is configured for the source, active
-- and below its limit. With p_skip_locked, operators locked by others are passed over.
CREATE FUNCTION crm_take_operator(p_source bigint, p_order bigint[], p_skip_locked boolean,
                                  OUT o_operator bigint, OUT o_load integer, OUT o_limit integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_cand bigint;
BEGIN
    FOREACH v_cand IN ARRAY p_order LOOP
        IF p_skip_locked THEN
            PERFORM 1 FROM operators o WHERE o.id = v_cand FOR NO KEY UPDATE SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;
        END IF;
        UPDATE operators o
           SET active_contacts = o.active_contacts + 1
         WHERE o.id = v_cand
           AND o.is_active
           AND o.active_contacts < o.max_load_limit
           AND EXISTS (SELECT 1 FROM source_operators so
                        WHERE so.source_id = p_source AND so.operator_id = v_cand)
        RETURNING o.id, o.active_contacts - 1, o.max_load_limit INTO o_operator, o_load, o_limit;
        EXIT WHEN o_operator IS NOT NULL;
    END LOOP;
END
$$;

-- p_candidates: the operators the worker drew p_order from, with the weights and loads it read
-- a moment before (the same shape as crm_candidates_snapshot), recorded as the candidates
-- considered; reading them again here would double the reads of every intake.
DROP FUNCTION crm_intake(text, bigint, bigint[]);
CREATE FUNCTION crm_intake(p_email text, p_source bigint, p_order bigint[], p_candidates jsonb)
RETURNS TABLE (id bigint, lead_id bigint, source_id bigint, operator_id bigint, status text,
               created_at text)
LANGUAGE plpgsql AS $$
DECLARE
    v_lead    bigint;
    v_take    record;
    v_contact contacts;
BEGIN
    LOOP
        SELECT l.id INTO v_lead FROM leads l WHERE l.email = p_email;
        EXIT WHEN FOUND;
        INSERT INTO leads AS l (email) VALUES (p_email)
            ON CONFLICT (email) DO NOTHING
            RETURNING l.id INTO v_lead;
        EXIT WHEN FOUND;
    END LOOP;

    SELECT * INTO v_take FROM crm_take_operator(p_source, p_order, false);
    INSERT INTO contacts AS c (lead_id, source_id, operator_id)
        VALUES (v_lead, p_source, v_take.o_operator)
        RETURNING c.* INTO v_contact;
    INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, note, candidates)
        VALUES (v_contact.id, v_take.o_operator, 'intake', v_take.o_load, v_take.o_limit,
                CASE WHEN v_take.o_operator IS NULL THEN crm_no_choice_reason(p_candidates) END,
                p_candidates);

    RETURN QUERY SELECT v_contact.id, v_contact.lead_id, v_contact.source_id, v_contact.operator_id,
        v_contact.status,
        to_char(v_contact.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END
$$;

-- Assigns waiting contacts of one source, oldest first, until nobody is eligible or p_max
-- contacts were assigned. Returns how many were assigned.
-- The operator's slot is taken before the contact is locked: a waiting contact is only ever
-- locked by a transaction that is about to assign it, so a drain that finds no free operator
-- never holds back the oldest contact from another drain that has one.
CREATE FUNCTION crm_drain_source(p_source bigint, p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_done    integer := 0;
    v_contact bigint;
    v_take    record;
    v_cands   jsonb;
BEGIN
    WHILE v_done < p_max LOOP
        PERFORM 1 FROM contacts c
          WHERE c.source_id = p_source AND c.operator_id IS NULL AND c.status = 'active' LIMIT 1;
        EXIT WHEN NOT FOUND;  -- nobody waiting (the common case): no operator is touched
        v_cands := crm_candidates_snapshot(p_source);
        SELECT * INTO v_take FROM crm_take_operator(p_source, crm_weighted_order(p_source), true);
        EXIT WHEN v_take.o_operator IS NULL;
        SELECT c.id INTO v_contact FROM contacts c
         WHERE c.source_id = p_source AND c.operator_id IS NULL AND c.status = 'active'
         ORDER BY c.id LIMIT 1
         FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN  -- the waiting ones were taken meanwhile: give the slot back
            UPDATE operators o SET active_contacts = o.active_contacts - 1 WHERE o.id = v_take.o_operator;
            EXIT;
        END IF;
        UPDATE contacts SET operator_id = v_take.o_operator WHERE contacts.id = v_contact;
        INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, candidates)
            VALUES (v_contact, v_take.o_operator, 'backlog', v_take.o_load, v_take.o_limit, v_cands);
        v_done := v_done + 1;
    END LOOP;
    RETURN v_done;
END
$$;

-- Drains the given sources with a shared budget; wakes the drainer if the budget ran out.
CREATE FUNCTION crm_drain_sources(p_sources bigint[], p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_done   integer := 0;
    v_source bigint;
BEGIN
    FOREACH v_source IN ARRAY coalesce(p_sources, '{}') LOOP
        EXIT WHEN v_done >= p_max;
        v_done := v_done + crm_drain_source(v_source, p_max - v_done);
    END LOOP;
    IF v_done >= p_max THEN
        PERFORM pg_notify('crm_backlog', '');
    END IF;
    RETURN v_done;
END
$$;

CREATE FUNCTION crm_operator_sources(p_operator bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(so.source_id ORDER BY so.source_id), '{}')
              FROM source_operators so WHERE so.operator_id = p_operator);
END
$$;

-- The drainer's pass: every source with waiting contacts, p_max_per_source each.
CREATE FUNCTION crm_drain_all(p_max_per_source integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_done   integer := 0;
    v_source bigint;
BEGIN
    FOR v_source IN
        SELECT DISTINCT c.source_id FROM contacts c WHERE c.operator_id IS NULL AND c.status = 'active'
    LOOP
        v_done := v_done + crm_drain_source(v_source, p_max_per_source);
    END LOOP;
    RETURN v_done;
END
$$;

-- PATCH of an operator; capacity may appear, so its sources are drained in the same
-- transaction. NULL arguments leave a column unchanged. No row: the operator does not exist.
CREATE FUNCTION crm_operator_update(p_id bigint, p_name text, p_active boolean, p_limit integer,
                                    p_batch integer)
RETURNS SETOF operators
LANGUAGE plpgsql AS $$
DECLARE
    v_op operators;
BEGIN
    UPDATE operators o
       SET name = coalesce(p_name, o.name),
           is_active = coalesce(p_active, o.is_active),
           max_load_limit = coalesce(p_limit, o.max_load_limit)
     WHERE o.id = p_id
    RETURNING o.* INTO v_op;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_op.is_active AND v_op.active_contacts < v_op.max_load_limit THEN
        PERFORM crm_drain_sources(crm_operator_sources(p_id), p_batch);
        SELECT * INTO v_op FROM operators o WHERE o.id = p_id;
    END IF;
    RETURN NEXT v_op;
END
$$;

-- PATCH of a contact: status and/or operator. o_error is NULL on success, else one of
-- not_found, unknown_operator, not_configured, inactive, at_limit; nothing is written then.
-- A hand-picked operator must be configured for the source, active and below its limit, even
-- for a closed contact (which then takes no slot).
CREATE FUNCTION crm_contact_update(p_id bigint, p_status text, p_set_operator boolean,
                                   p_operator bigint, p_batch integer,
                                   OUT o_error text, OUT o_contact contacts)
LANGUAGE plpgsql AS $$
DECLARE
    v_old        contacts;
    v_status     text;
    v_op         bigint;
    v_moves      boolean;
    v_old_counts boolean;
    v_new_counts boolean;
    v_target     operators;
    v_cands      jsonb;
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

    -- both operators, in id order, so two updates cannot wait on each other
    PERFORM 1 FROM operators o WHERE o.id IN (v_old.operator_id, v_op) ORDER BY o.id FOR NO KEY UPDATE;
    IF v_moves THEN
        v_cands := crm_candidates_snapshot(v_old.source_id);  -- before anything changes
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
        IF NOT v_target.is_active THEN
            o_error := 'inactive';
            RETURN;
        END IF;
        IF v_target.active_contacts >= v_target.max_load_limit THEN
            o_error := 'at_limit';
            RETURN;
        END IF;
    END IF;

    IF v_new_counts AND NOT (v_old_counts AND v_op = v_old.operator_id) THEN
        UPDATE operators o SET active_contacts = o.active_contacts + 1
         WHERE o.id = v_op AND o.active_contacts < o.max_load_limit;
        IF NOT FOUND THEN  -- reopening a contact of a full operator
            o_error := 'at_limit';
            RETURN;
        END IF;
    END IF;
    IF v_old_counts AND NOT (v_new_counts AND v_op = v_old.operator_id) THEN
        UPDATE operators o SET active_contacts = o.active_contacts - 1 WHERE o.id = v_old.operator_id;
    END IF;

    UPDATE contacts c SET status = v_status, operator_id = v_op WHERE c.id = p_id;

    IF v_moves THEN
        INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, candidates)
        VALUES (p_id, v_op, CASE WHEN v_op IS NULL THEN 'unassigned' ELSE 'manual' END,
                v_target.active_contacts, v_target.max_load_limit, v_cands);
    END IF;

    -- capacity may have appeared, or the contact itself joined the queue
    IF v_old_counts AND NOT (v_new_counts AND v_op = v_old.operator_id) THEN
        PERFORM crm_drain_sources(crm_operator_sources(v_old.operator_id), p_batch);
    ELSIF v_status = 'active' AND v_op IS NULL THEN
        PERFORM crm_drain_sources(ARRAY[v_old.source_id], p_batch);
    END IF;
    SELECT * INTO o_contact FROM contacts c WHERE c.id = p_id;
END
$$;
