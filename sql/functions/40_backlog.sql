-- 40_backlog.sql -- assigning the contacts that wait for an operator
--
-- Whenever capacity may appear (a contact closed or unassigned, an operator activated or its
-- limit raised, a source's weights configured) the transaction that made it drains the
-- affected sources' queues, oldest first, up to a bounded batch. If the batch was used up it
-- sends NOTIFY crm_backlog, delivered at commit, and the drainer process finishes the queue.
--
-- Locks: a drain never waits. Waiting contacts are taken with FOR UPDATE SKIP LOCKED and
-- operators with FOR NO KEY UPDATE SKIP LOCKED: an operator locked by another transaction is
-- being changed there, and that transaction drains for it itself. Only the intake (which holds
-- one operator at a time) and a contact update (which locks its operators in id order) wait
-- for operator rows, so no cycle of waits can form.

-- Assigns waiting contacts of one source, oldest first, until nobody is eligible or p_max
-- contacts were assigned. Returns how many were assigned.
-- The operator's slot is taken before the contact is locked: a waiting contact is only ever
-- locked by a transaction that is about to assign it, so a drain that finds no free operator
-- never holds back the oldest contact from another drain that has one.
CREATE OR REPLACE FUNCTION crm_drain_source(p_source bigint, p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_done    integer := 0;
    v_contact bigint;
    v_cands   record;
    v_take    record;
BEGIN
    WHILE v_done < p_max LOOP
        PERFORM 1 FROM contacts c
          WHERE c.source_id = p_source AND c.operator_id IS NULL AND c.status = 'active' LIMIT 1;
        EXIT WHEN NOT FOUND;  -- nobody waiting (the common case): no operator is touched
        SELECT * INTO v_cands FROM crm_candidates(p_source);
        SELECT * INTO v_take FROM crm_take_operator(p_source, v_cands.o_order, true);
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
            VALUES (v_contact, v_take.o_operator, 'backlog', v_take.o_load, v_take.o_limit, v_cands.o_snapshot);
        v_done := v_done + 1;
    END LOOP;
    RETURN v_done;
END
$$;

-- Drains the given sources with a shared budget; wakes the drainer if the budget ran out.
CREATE OR REPLACE FUNCTION crm_drain_sources(p_sources bigint[], p_max integer) RETURNS integer
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

CREATE OR REPLACE FUNCTION crm_operator_sources(p_operator bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(so.source_id ORDER BY so.source_id), '{}')
              FROM source_operators so WHERE so.operator_id = p_operator);
END
$$;

-- The drainer's pass: every source with waiting contacts, p_max_per_source each.
CREATE OR REPLACE FUNCTION crm_drain_all(p_max_per_source integer) RETURNS integer
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

-- The drainer's step: the first source after p_after (in id order) with waiting contacts,
-- drained of at most p_max of them; returns that source and how many were assigned, or a NULL
-- source when no source after p_after has anyone waiting. The drainer calls it in autocommit
-- and walks the sources with it (p_after = the source it returned), so every step is one short
-- transaction: the operator rows a batch took are unlocked at its commit, and an intake waits
-- for one batch at most, never for a pass over the whole backlog. crm_drain_all (one
-- transaction for the whole pass) stays for drainers of the previous release.
CREATE OR REPLACE FUNCTION crm_drain_next(p_after bigint, p_max integer, OUT o_source bigint, OUT o_assigned integer)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.source_id INTO o_source FROM contacts c
     WHERE c.source_id > p_after AND c.operator_id IS NULL AND c.status = 'active'
     ORDER BY c.source_id LIMIT 1;
    o_assigned := 0;
    IF o_source IS NOT NULL THEN
        o_assigned := crm_drain_source(o_source, p_max);
    END IF;
END
$$;
