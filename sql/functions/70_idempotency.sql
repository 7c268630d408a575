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

-- The advisory lock of a key (64 bits; two keys sharing a hash only make each other 'busy').
CREATE OR REPLACE FUNCTION crm_idem_lock_id(p_client text, p_key text)
RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('crm_idempotency' || chr(1) || p_client || chr(1) || p_key, 0)
$$;

-- o_outcome: 'new' (do the work, then crm_idem_store in this transaction), 'replay' (the stored
-- response), 'mismatch' (the key was used for another request) or 'busy' (a request with this
-- key is running). A row older than p_ttl seconds is deleted here and counts as absent.
CREATE OR REPLACE FUNCTION crm_idem_claim(p_client text, p_key text, p_request text, p_ttl integer)
RETURNS TABLE (o_outcome text, o_status integer, o_location text, o_body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_row idempotency_keys;
BEGIN
    IF NOT pg_try_advisory_xact_lock(crm_idem_lock_id(p_client, p_key)) THEN
        RETURN QUERY SELECT 'busy'::text, NULL::integer, NULL::text, NULL::text;
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

-- POST /api/contacts with a key in one statement (one round trip, one transaction): the claim,
-- crm_intake, and the answer stored, or the claim's outcome alone. The separate claim / work /
-- store above costs three round trips (BEGIN + claim, the work, store + COMMIT); for the most
-- frequent POST this function does all three in the statement's own transaction, so a key
-- costs the intake one index lookup and one row, not two extra trips. The same rules: the
-- advisory lock is "in progress" ('busy'), a stored answer of the same request is 'replay',
-- of another request 'mismatch'; an expired row counts as absent and is replaced by the new
-- answer (deleted only after the work succeeded, so a refusal changes nothing).
-- o_outcome 'new' carries the answer just stored (status 201, Location, body), which the worker
-- sends as it is, so the first answer and its replays are the same bytes; 'missing' (an unknown
-- source: crm_intake gives no row) stores nothing. The body is the contact object of
-- crm_h_write_contact (src/handlers_contacts.c), written here with the same members in the
-- same order and no white space (tests/api/test_idempotency_one_trip.py compares the two).
CREATE OR REPLACE FUNCTION crm_idem_intake(p_client text, p_key text, p_request text, p_ttl integer,
                                           p_email text, p_source bigint,
                                           OUT o_outcome text, OUT o_status integer, OUT o_location text,
                                           OUT o_body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_row idempotency_keys;
    v_fp  bytea := sha256(convert_to(p_request, 'UTF8'));
    v_c   record;
BEGIN
    IF NOT pg_try_advisory_xact_lock(crm_idem_lock_id(p_client, p_key)) THEN
        o_outcome := 'busy';
        RETURN;
    END IF;
    SELECT * INTO v_row FROM idempotency_keys k WHERE k.client = p_client AND k.key = p_key;
    IF FOUND AND v_row.created_at > now() - make_interval(secs => p_ttl) THEN
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

    SELECT * INTO v_c FROM crm_intake(p_email, p_source);
    IF NOT FOUND THEN
        o_outcome := 'missing';
        RETURN;
    END IF;
    o_outcome := 'new';
    o_status := 201;
    o_location := '/api/contacts/' || v_c.id;
    o_body := '{"id":' || v_c.id || ',"lead_id":' || v_c.lead_id || ',"source_id":' || v_c.source_id
        || ',"operator_id":' || coalesce(v_c.operator_id::text, 'null')
        || ',"status":' || to_json(v_c.status)::text || ',"created_at":' || to_json(v_c.created_at)::text
        || ',"accepted_at":null}';
    IF v_row.key IS NOT NULL THEN
        -- the expired row found above: replaced only now that the work succeeded (under the lock)
        DELETE FROM idempotency_keys k WHERE k.client = p_client AND k.key = p_key;
    END IF;
    -- a plain insert (no ON CONFLICT on the hot path): a row stored without the lock (a caller
    -- that did not claim) makes it fail, work included, as crm_idem_store does
    INSERT INTO idempotency_keys (client, key, fingerprint, status, location, body)
        VALUES (p_client, p_key, v_fp, o_status, o_location, o_body);
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
