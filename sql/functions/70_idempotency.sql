-- 70_idempotency.sql -- Idempotency-Key: claim a key, store the response, expire old keys
--
-- A request with a key runs in one transaction: crm_idem_claim, the request's own work, then
-- crm_idem_store, then COMMIT. "In progress" is a transaction-scoped advisory lock on the key,
-- taken without waiting: a second request with the same key while the first runs gets 'busy'
-- (409) at once and never blocks a worker; a worker that dies mid-request loses its connection,
-- and with it the lock and everything uncommitted, so nothing stale is left to expire. When the
-- first commits, its lock is released after its row became visible, so the next claim sees the
-- row (READ COMMITTED: each statement reads what was committed before it started).
--
-- The fingerprint is sha256 of the canonical request text the worker sends: method, route
-- pattern, path parameters and the body bytes (see crm_h_idempotent in src/handlers_common.c).
--
-- POST /api/contacts (crm_idem_intake) keeps no row here: its key and fingerprint are columns of
-- the contact it created (migration 0011) and its answer is rebuilt from the contact and its
-- intake entry. Keys are one namespace per client across routes, so each lookup reads both.

-- The advisory lock of a key (64 bits; two keys sharing a hash only make each other 'busy').
CREATE OR REPLACE FUNCTION crm_idem_lock_id(p_client text, p_key text)
RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('crm_idempotency' || chr(1) || p_client || chr(1) || p_key, 0)
$$;

-- contacts.idem_hash of a key (0016): the first 16 bytes of sha256 of the client, a space and
-- the key (neither holds a space). (It was the text itself, 0011.) STABLE like convert_to, so
-- that it is inlined into its caller: declared IMMUTABLE it ran as a function call, 4 us more.
DROP FUNCTION IF EXISTS crm_idem_contact_key(text, text);
CREATE FUNCTION crm_idem_contact_key(p_client text, p_key text)
RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT substring(sha256(convert_to(p_client || ' ' || p_key, 'UTF8')) FROM 1 FOR 16)
$$;

-- The answer body of POST /api/contacts: the contact object of crm_h_write_contact
-- (src/handlers_contacts.c) with the same members in the same order and no white space
-- (tests/api/test_idempotency_one_trip.py compares the two byte for byte). STABLE as to_json
-- is, so that it is inlined into the caller's plan instead of parsed at every call.
CREATE OR REPLACE FUNCTION crm_idem_contact_json(p_id bigint, p_lead bigint, p_source bigint, p_operator bigint,
                                                 p_status text, p_created_at text)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT '{"id":' || p_id || ',"lead_id":' || p_lead || ',"source_id":' || p_source
        || ',"operator_id":' || coalesce(p_operator::text, 'null')
        || ',"status":' || to_json(p_status)::text || ',"created_at":' || to_json(p_created_at)::text
        || ',"accepted_at":null}' -- a new contact is not accepted yet (0013)
$$;

-- The first answer of the keyed POST that created contact p_id, rebuilt from what the intake
-- left: the row's id, lead, source and created_at never change; a new contact is 'active'; the
-- operator it got (or none) is its intake decision, kept on the row and append-only (migration
-- 0010: intake_operator_id), whatever was done to it since. Every contact with a key was made
-- after 0010 (keys on contacts came with 0011), so the decision is always there.
CREATE OR REPLACE FUNCTION crm_idem_contact_body(p_id bigint)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT crm_idem_contact_json(c.id, c.lead_id, c.source_id, c.intake_operator_id,
                                 'active', crm_rfc3339(c.created_at))
      FROM contacts c WHERE c.id = p_id
$$;

-- o_outcome: 'new' (do the work, then crm_idem_store in this transaction), 'replay' (the stored
-- response), 'mismatch' (the key was used for another request) or 'busy' (a request with this
-- key is running). A row older than p_ttl seconds is deleted here and counts as absent. A key
-- that created a contact (POST /api/contacts, kept on the contact row: crm_idem_intake) is
-- used too: its request is replayed with the contact's first answer, any other is 'mismatch'.
CREATE OR REPLACE FUNCTION crm_idem_claim(p_client text, p_key text, p_request text, p_ttl integer)
RETURNS TABLE (o_outcome text, o_status integer, o_location text, o_body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_row idempotency_keys;
    v_c   record;
BEGIN
    IF NOT pg_try_advisory_xact_lock(crm_idem_lock_id(p_client, p_key)) THEN
        RETURN QUERY SELECT 'busy'::text, NULL::integer, NULL::text, NULL::text;
        RETURN;
    END IF;
    SELECT c.id, c.idem_fp INTO v_c FROM contacts c
     WHERE c.idem_hash = crm_idem_contact_key(p_client, p_key) AND c.created_at > now() - make_interval(secs => p_ttl);
    IF FOUND THEN
        IF v_c.idem_fp <> sha256(convert_to(p_request, 'UTF8')) THEN
            RETURN QUERY SELECT 'mismatch'::text, NULL::integer, NULL::text, NULL::text;
        ELSE
            RETURN QUERY SELECT 'replay'::text, 201, '/api/contacts/' || v_c.id, crm_idem_contact_body(v_c.id);
        END IF;
        RETURN;
    END IF;
    SELECT * INTO v_row FROM idempotency_keys k WHERE k.client = p_client AND k.key = p_key;
    IF FOUND AND v_row.created_at <= now() - make_interval(secs => p_ttl) THEN
        DELETE FROM idempotency_keys k WHERE k.client = p_client AND k.key = p_key;
    ELSIF FOUND THEN
        IF v_row.fingerprint <> sha256(convert_to(p_request, 'UTF8')) THEN
            RETURN QUERY SELECT 'mismatch'::text, NULL::integer, NULL::text, NULL::text;
        ELSE
            RETURN QUERY SELECT 'replay'::text, v_row.status, v_row.location, v_row.body;
        END IF;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'new'::text, NULL::integer, NULL::text, NULL::text;
END
$$;

-- The response of the request that claimed the key ('new') in this transaction, with the
-- fingerprint of the same request text. The row is written only now, with its answer, so a
-- claim costs one index lookup; under the claim's lock no other request can have answered the
-- key meanwhile (if a caller stored without claiming, the primary key refuses a second answer
-- and the transaction, work included, fails).
CREATE OR REPLACE FUNCTION crm_idem_store(p_client text, p_key text, p_request text, p_status integer,
                                          p_location text, p_body text)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO idempotency_keys (client, key, fingerprint, status, location, body)
    VALUES (p_client, p_key, sha256(convert_to(p_request, 'UTF8')), p_status, p_location, p_body);
$$;

-- crm_intake for a key whose earlier contact (p_old) expired: that contact's key cleared, then
-- the intake with the key, in a subtransaction so that a refusal (no row: an unknown source)
-- leaves the old contact as it was. Only this rare case pays for the subtransaction.
-- (its result is crm_intake's, with "sticky"; CREATE OR REPLACE cannot change a result)
DROP FUNCTION IF EXISTS crm_idem_intake_replacing(bigint, text, bytea, text, bigint);
DROP FUNCTION IF EXISTS crm_idem_intake_replacing(bigint, bytea, bytea, text, bigint);
CREATE FUNCTION crm_idem_intake_replacing(p_old bigint, p_key bytea, p_fp bytea, p_email text, p_source bigint)
RETURNS TABLE (id bigint, lead_id bigint, source_id bigint, operator_id bigint, status text, created_at text,
               sticky boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_c record;
BEGIN
    BEGIN
        UPDATE contacts c SET idem_hash = NULL, idem_fp = NULL WHERE c.id = p_old;
        SELECT * INTO v_c FROM crm_intake(p_email, p_source, p_key, p_fp);
        IF v_c.id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'CRMNS', MESSAGE = 'no source: undo the key''s release';
        END IF;
    EXCEPTION WHEN SQLSTATE 'CRMNS' THEN
        RETURN; -- rolled back: the old contact keeps its (expired) key
    END;
    RETURN QUERY SELECT v_c.id, v_c.lead_id, v_c.source_id, v_c.operator_id, v_c.status, v_c.created_at, v_c.sticky;
END
$$;

-- POST /api/contacts with a key in one statement (one round trip, one transaction): the claim
-- and crm_intake, whose contact row carries the key (0011), or the claim's outcome alone. The
-- separate claim / work / store above costs three round trips and a row of idempotency_keys.
-- The same rules: the advisory lock is "in progress" ('busy'); a contact made with the key, or a
-- stored answer, of the same request is 'replay', of another request 'mismatch'. An expired key
-- counts as absent: its contact's key is cleared before the new contact takes it (undone if the
-- intake refuses). o_outcome 'new' carries the answer (status 201, Location, body), which the
-- worker sends as it is, so the first answer and its replays are the same bytes
-- (crm_idem_contact_json); 'missing' (an unknown source: crm_intake gives no row) stores and
-- changes nothing.
--
-- Two ways, chosen by the worker (crm_service_idem_contact_create):
--   p_probe false, a request's first attempt: most keys are new, so the contacts are not
--     searched for the key; the INSERT of crm_intake meets a contact holding it on the unique
--     index contacts_idem_hash_key, which fails the statement and undoes it, the operator's slot
--     included. Only idempotency_keys (keys of the other POSTs, one namespace per client) is
--     looked up. The lock, that lookup and the intake: the keyed POST's cost.
--   p_probe true, after that failure (or any retry): the contact holding the key is looked up
--     first and answered from ('replay', 'mismatch', or cleared when expired), as before.
-- o_operator and o_sticky describe the contact made ('new'), for the worker's metrics.
-- (the six-argument form came before p_probe; DEFAULT true keeps its callers on the careful way;
-- CREATE OR REPLACE cannot add the two results)
DROP FUNCTION IF EXISTS crm_idem_intake(text, text, text, integer, text, bigint);
DROP FUNCTION IF EXISTS crm_idem_intake(text, text, text, integer, text, bigint, boolean);
CREATE OR REPLACE FUNCTION crm_idem_intake(p_client text, p_key text, p_request text, p_ttl integer,
                                           p_email text, p_source bigint, p_probe boolean DEFAULT true,
                                           OUT o_outcome text, OUT o_status integer, OUT o_location text,
                                           OUT o_body text, OUT o_operator bigint, OUT o_sticky boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_fp  bytea := sha256(convert_to(p_request, 'UTF8'));
    v_key bytea := crm_idem_contact_key(p_client, p_key);
    v_old bigint;   -- the contact holding the key (p_probe)
    v_ofp bytea;    -- its fingerprint
    v_young boolean;
    v_row idempotency_keys;
    v_c   record;
BEGIN
    IF NOT pg_try_advisory_xact_lock(crm_idem_lock_id(p_client, p_key)) THEN
        o_outcome := 'busy';
        RETURN;
    END IF;
    IF p_probe THEN
        SELECT c.id, c.idem_fp, c.created_at > now() - make_interval(secs => p_ttl) INTO v_old, v_ofp, v_young
          FROM contacts c WHERE c.idem_hash = v_key;
    END IF;
    IF v_young THEN
        IF v_ofp <> v_fp THEN
            o_outcome := 'mismatch';
        ELSE
            o_outcome := 'replay';
            o_status := 201;
            o_location := '/api/contacts/' || v_old;
            o_body := crm_idem_contact_body(v_old);
        END IF;
        RETURN;
    END IF;
    -- the key used by another POST (or stored by an older release)
    SELECT * INTO v_row FROM idempotency_keys k
     WHERE k.client = p_client AND k.key = p_key AND k.created_at > now() - make_interval(secs => p_ttl);
    IF FOUND THEN
        IF v_row.fingerprint <> v_fp THEN
            o_outcome := 'mismatch';
        ELSE
            o_outcome := 'replay';
            o_status := v_row.status;
            o_location := v_row.location;
            o_body := v_row.body;
        END IF;
        RETURN;
    END IF;

    IF v_old IS NULL THEN
        SELECT * INTO v_c FROM crm_intake(p_email, p_source, v_key, v_fp);
    ELSE
        SELECT * INTO v_c FROM crm_idem_intake_replacing(v_old, v_key, v_fp, p_email, p_source);
    END IF;
    IF v_c.id IS NULL THEN
        o_outcome := 'missing';
        RETURN;
    END IF;
    o_outcome := 'new';
    o_status := 201;
    o_location := '/api/contacts/' || v_c.id;
    o_operator := v_c.operator_id;
    o_sticky := v_c.sticky;
    o_body := crm_idem_contact_json(v_c.id, v_c.lead_id, v_c.source_id, v_c.operator_id, v_c.status, v_c.created_at);
END
$$;

-- The drainer's sweep: deletes at most p_limit keys older than p_ttl seconds; returns how many.
-- A row a claim is deleting (expired, found first by the claim) is skipped, never waited for.
CREATE OR REPLACE FUNCTION crm_idem_expire(p_ttl integer, p_limit integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM idempotency_keys k
     WHERE (k.client, k.key) IN (
        SELECT e.client, e.key FROM idempotency_keys e
         WHERE e.created_at <= now() - make_interval(secs => p_ttl)
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

-- The drainer's sweep of contact keys (0011): walks at most p_limit contacts in id order from
-- idempotency_sweep.contact_id, up to the first one younger than p_ttl seconds, and clears the
-- keys among them. o_walked is how many contacts it went past (p_limit: call again), o_cleared
-- how many keys it cleared. One sweep at a time (the watermark's row lock); a contact being
-- changed meanwhile is waited for (one row's update; the sweep is the drainer's, not a request's).
CREATE OR REPLACE FUNCTION crm_idem_expire_contacts(p_ttl integer, p_limit integer,
                                                    OUT o_walked integer, OUT o_cleared integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_from bigint;
    v_to   bigint;
BEGIN
    SELECT w.contact_id INTO v_from FROM idempotency_sweep w FOR UPDATE;
    WITH next AS (
        SELECT c.id, c.created_at FROM contacts c WHERE c.id > v_from ORDER BY c.id LIMIT p_limit
    ), young AS (
        SELECT min(n.id) AS id FROM next n WHERE n.created_at > now() - make_interval(secs => p_ttl)
    )
    SELECT count(*), max(n.id) INTO o_walked, v_to FROM next n, young y WHERE y.id IS NULL OR n.id < y.id;
    o_cleared := 0;
    IF v_to IS NULL THEN
        RETURN;
    END IF;
    UPDATE contacts c SET idem_hash = NULL, idem_fp = NULL
     WHERE c.id > v_from AND c.id <= v_to AND c.idem_hash IS NOT NULL;
    GET DIAGNOSTICS o_cleared = ROW_COUNT;
    UPDATE idempotency_sweep SET contact_id = v_to;
END
$$;
