-- 70_idempotency.sql -- Idempotency-Key: claim a key, store the response, expire old keys
--
-- A request with a key runs in one transaction: crm_idem_claim, the request's own work, then
-- crm_idem_store, then COMMIT. "In progress" is a transaction-scoped advisory lock on the key,
-- taken without waiting: a second request with the same key while the first runs gets 'busy'
-- (409) at once and never blocks a worker; a worker that dies mid-request loses its connection,
-- and with it the lock and the uncommitted row, so nothing stale is left to expire. Once the
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

-- o_outcome: 'new' (the row is inserted, not yet answered: do the work, then crm_idem_store),
-- 'replay' (the stored response), 'mismatch' (the key was used for another request) or 'busy'
-- (a request with this key is running). A row older than p_ttl seconds counts as absent.
CREATE OR REPLACE FUNCTION crm_idem_claim(p_client text, p_key text, p_request text, p_ttl integer)
RETURNS TABLE (o_outcome text, o_status integer, o_location text, o_body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_fp  bytea := sha256(convert_to(p_request, 'UTF8'));
    v_row idempotency_keys;
BEGIN
    IF NOT pg_try_advisory_xact_lock(crm_idem_lock_id(p_client, p_key)) THEN
        RETURN QUERY SELECT 'busy'::text, NULL::integer, NULL::text, NULL::text;
        RETURN;
    END IF;
    DELETE FROM idempotency_keys k
     WHERE k.client = p_client AND k.key = p_key
       AND k.created_at <= now() - make_interval(secs => p_ttl);
    SELECT * INTO v_row FROM idempotency_keys k WHERE k.client = p_client AND k.key = p_key;
    IF NOT FOUND THEN
        INSERT INTO idempotency_keys (client, key, fingerprint) VALUES (p_client, p_key, v_fp);
        RETURN QUERY SELECT 'new'::text, NULL::integer, NULL::text, NULL::text;
    ELSIF v_row.fingerprint <> v_fp THEN
        RETURN QUERY SELECT 'mismatch'::text, NULL::integer, NULL::text, NULL::text;
    ELSE
        RETURN QUERY SELECT 'replay'::text, v_row.status, v_row.location, v_row.body;
    END IF;
END
$$;

-- The response of the request that claimed the key in this transaction ('new'). Raises when
-- the key has no unanswered claim (a caller's bug), so that the transaction cannot commit the
-- work without its answer. An unanswered row is only ever visible to the transaction that
-- inserted it, so no other request's claim can be completed here.
CREATE OR REPLACE FUNCTION crm_idem_store(p_client text, p_key text, p_status integer, p_location text,
                                          p_body text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE idempotency_keys k
       SET status = p_status, location = p_location, body = p_body
     WHERE k.client = p_client AND k.key = p_key AND k.status IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Idempotency-Key % of client "%" has no unanswered claim in this transaction', p_key, p_client;
    END IF;
END
$$;

-- The drainer's sweep: deletes at most p_limit keys older than p_ttl seconds; returns how many.
-- Keys being claimed or replayed right now are skipped (SKIP LOCKED), never waited for.
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
         ORDER BY e.created_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;
