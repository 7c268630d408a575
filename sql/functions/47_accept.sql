-- 47_accept.sql -- accept or lose it: accepting a contact, and its timeout (README "Accept or lose it")
--
-- A contact assigned while its source has accept_timeout_seconds gets an accept_deadline
-- (trigger crm_contact_accept_state, sql/0013_accept_timeout.sql). The drainer sleeps until the
-- earliest one (one probe of contacts_accept_deadline_idx), or a wake-up, and calls
-- crm_accept_timeout_advance until nothing is due: each call is its own short transaction and
-- times out ONE contact.
--
-- An accept and a timeout of the same contact both lock the contact row first (FOR UPDATE) and
-- re-check under the lock: the accept needs accepted_at NULL and the operator it names (if any)
-- still assigned; the timeout needs accept_deadline still due, which an accept clears. Whichever
-- locks first wins; the other finds the row changed: exactly one of them, never both.

-- Accepts a contact: o_error NULL on success (o_contact), else not_found, closed, not_assigned,
-- other_operator (p_operator given and not the contact's operator) or already_accepted.
CREATE OR REPLACE FUNCTION crm_contact_accept(p_id bigint, p_operator bigint,
                                              OUT o_error crm_contact_update_error, OUT o_contact contacts)
LANGUAGE plpgsql AS $$
DECLARE
    v_c contacts;
BEGIN
    SELECT * INTO v_c FROM contacts c WHERE c.id = p_id FOR UPDATE;
    o_error := CASE WHEN NOT FOUND THEN 'not_found'::crm_contact_update_error
                    WHEN v_c.status <> 'active' THEN 'closed'
                    WHEN v_c.operator_id IS NULL THEN 'not_assigned'
                    WHEN p_operator IS NOT NULL AND v_c.operator_id <> p_operator THEN 'other_operator'
                    WHEN v_c.accepted_at IS NOT NULL THEN 'already_accepted' END;
    IF o_error IS NOT NULL THEN
        RETURN;
    END IF;
    UPDATE contacts c SET accepted_at = clock_timestamp() WHERE c.id = p_id RETURNING c.* INTO o_contact;
END
$$;

-- The operators a distribution of this contact may offer it to: the eligible ones of the
-- weighted order (20_candidates.sql), less those that let it lapse, in the same order; for a
-- least-loaded source (sources.mode) the eligible ones by load / weight, ties by the weighted draw.
CREATE OR REPLACE FUNCTION crm_order_without(p_source bigint, p_lapsed bigint[]) RETURNS bigint[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_cand  record;
    v_order bigint[];
BEGIN
    IF (SELECT s.mode FROM sources s WHERE s.id = p_source) = 'least_loaded' THEN  -- the latest version's
        v_order := crm_least_loaded_order(p_source, (SELECT max(v.version) FROM source_versions v
                                                      WHERE v.source_id = p_source), NULL);
    ELSE
        SELECT * INTO v_cand FROM crm_candidates(p_source) c;
        v_order := v_cand.o_order[1:v_cand.o_eligible];
    END IF;
    RETURN ARRAY(SELECT x.id FROM unnest(v_order) WITH ORDINALITY AS x(id, n)
                  WHERE x.id <> ALL (p_lapsed) ORDER BY x.n);
END
$$;

-- Times out one contact (locked by the caller, deadline due): its operator's slot frees at once,
-- the operator joins the contact's lapsed set, and the contact goes to another eligible
-- operator not in that set, by the source's rule, or waits in the queue. History: reason
-- timeout, the new operator (or none), note "operator N let it lapse". Then the freed slot
-- serves the old operator's queues.
CREATE OR REPLACE FUNCTION crm_contact_time_out(p_c contacts, p_batch integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_lapsed bigint[] := p_c.lapsed || p_c.operator_id;
    v_hist   record;
    v_take   record;
BEGIN
    PERFORM 1 FROM operators o WHERE o.id = p_c.operator_id FOR NO KEY UPDATE;
    SELECT * INTO v_hist FROM crm_history_now(p_c.source_id);
    UPDATE operators o SET active_contacts = o.active_contacts - 1 WHERE o.id = p_c.operator_id;
    SELECT * INTO v_take FROM crm_take_operator(p_c.source_id, crm_order_without(p_c.source_id, v_lapsed), true);
    UPDATE contacts c SET operator_id = v_take.o_operator, lapsed = v_lapsed WHERE c.id = p_c.id;
    INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, version, eligible, ineligible,
                             note)
    VALUES (p_c.id, v_take.o_operator, 'timeout', v_take.o_load, v_take.o_limit, v_hist.o_version,
            v_hist.o_eligible, v_hist.o_ineligible,
            format('operator %s let it lapse', p_c.operator_id)
            || CASE WHEN v_take.o_operator IS NULL THEN '; nobody else eligible: it waits' ELSE '' END);
    PERFORM crm_drain_sources(crm_operator_sources(p_c.operator_id), p_batch);
END
$$;

-- The drainer's timer: the earliest contact whose accept_deadline has come is timed out;
-- o_advanced says whether there was one; o_wait_ms is how long until the next deadline after
-- this call (NULL: none pending). A contact locked elsewhere (an accept under way) is skipped
-- and seen again at the next call.
CREATE OR REPLACE FUNCTION crm_accept_timeout_advance(p_batch integer, OUT o_advanced boolean, OUT o_wait_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_c contacts;
BEGIN
    SELECT * INTO v_c FROM contacts c
     WHERE c.accept_deadline IS NOT NULL AND c.accept_deadline <= now()
     ORDER BY c.accept_deadline LIMIT 1
       FOR UPDATE SKIP LOCKED;
    o_advanced := FOUND;
    IF o_advanced THEN
        PERFORM crm_contact_time_out(v_c, p_batch);
    END IF;
    SELECT crm_ms_until(min(c.accept_deadline)) INTO o_wait_ms FROM contacts c WHERE c.accept_deadline IS NOT NULL;
END
$$;

-- Waiting contacts of the source that some operator let lapse, oldest first, at most p_max
-- (locked SKIP LOCKED): each is offered by the source's rule to the eligible operators not in
-- its lapsed set, or keeps waiting. Returns how many were assigned. They are few (one index,
-- contacts_lapsed_waiting_idx); crm_drain_source serves them before the rest of the queue.
CREATE OR REPLACE FUNCTION crm_drain_source_lapsed(p_source bigint, p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_c    record;
    v_hist record;
    v_take record;
    v_done integer := 0;
BEGIN
    FOR v_c IN
        SELECT c.id, c.lapsed FROM contacts c
         WHERE c.source_id = p_source AND c.operator_id IS NULL AND c.status = 'active' AND c.lapsed <> '{}'
         ORDER BY c.id LIMIT p_max
           FOR UPDATE SKIP LOCKED
    LOOP
        SELECT * INTO v_hist FROM crm_history_now(p_source);
        SELECT * INTO v_take FROM crm_take_operator(p_source, crm_order_without(p_source, v_c.lapsed), true);
        CONTINUE WHEN v_take.o_operator IS NULL;
        UPDATE contacts c SET operator_id = v_take.o_operator WHERE c.id = v_c.id;
        INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, version, eligible,
                                 ineligible, note)
        VALUES (v_c.id, v_take.o_operator, 'backlog', v_take.o_load, v_take.o_limit, v_hist.o_version,
                v_hist.o_eligible, v_hist.o_ineligible,
                (SELECT 'least_loaded' FROM sources s WHERE s.id = p_source AND s.mode = 'least_loaded'));
        v_done := v_done + 1;
    END LOOP;
    RETURN v_done;
END
$$;
