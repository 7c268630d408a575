-- 07_idempotency.sql -- Idempotency-Key: crm_idem_claim, crm_idem_store, crm_idem_expire
--
-- The second session (dblink "other") shows what "in progress" is: the claim's advisory lock,
-- which a concurrent claim does not wait for ('busy' at once), and which ends with the claiming
-- transaction, committed (replay) or rolled back (the key is new again).
BEGIN;
SELECT plan(29);
SET LOCAL lock_timeout = '3s';
SELECT tap.connect('other');

CREATE TEMP TABLE c (k text PRIMARY KEY, outcome text, status integer, location text, body text);
CREATE FUNCTION pg_temp.claim(p_tag text, p_client text, p_key text, p_request text, p_ttl integer DEFAULT 86400)
RETURNS text LANGUAGE sql AS $$
    INSERT INTO c SELECT p_tag, * FROM crm_idem_claim(p_client, p_key, p_request, p_ttl) RETURNING outcome;
$$;
CREATE FUNCTION pg_temp.r(p_body text, p_route text DEFAULT 'POST /api/contacts') RETURNS text
LANGUAGE sql AS $$ SELECT p_route || ' 0 0' || E'\n' || p_body $$;

-- first use, store, replay --------------------------------------------------------------------
SELECT is(pg_temp.claim('a1', '', 'key-a', pg_temp.r('{"x":1}')), 'new', 'claim: a new key is new');
SELECT is((SELECT row(status, location, body)::text FROM c WHERE k = 'a1'), row(NULL::int, NULL::text, NULL::text)::text,
          'claim: new -> no stored response');
SELECT is((SELECT count(*) FROM idempotency_keys WHERE key = 'key-a'), 0::bigint, 'claim: writes no row (the lock is the claim)');
SELECT lives_ok($$SELECT crm_idem_store('', 'key-a', pg_temp.r('{"x":1}'), 201, '/api/contacts/7', '{"id":7}')$$,
                'store: the claimed key takes its response');
SELECT is((SELECT row(fingerprint, status, location, body)::text FROM idempotency_keys WHERE client = '' AND key = 'key-a'),
          row(sha256(convert_to(pg_temp.r('{"x":1}'), 'UTF8')), 201, '/api/contacts/7', '{"id":7}')::text,
          'store: the sha256 of the request, status, Location and body');
SELECT throws_ok($$SELECT crm_idem_store('', 'key-a', pg_temp.r('{"x":1}'), 200, NULL, '{}')$$, '23505', NULL,
                 'store: an answered key is never answered again');
SELECT is((SELECT status FROM idempotency_keys WHERE key = 'key-a'), 201, 'store: ... the first answer stays');
SELECT throws_ok($$SELECT crm_idem_store('', 'key-x', 'r', 500, NULL, '{}')$$, '23514', NULL,
                 'store: only a 2xx answer is stored');
SELECT is(pg_temp.claim('a2', '', 'key-a', pg_temp.r('{"x":1}')), 'replay', 'claim: same key, same request -> replay');
SELECT is((SELECT row(status, location, body)::text FROM c WHERE k = 'a2'), row(201, '/api/contacts/7', '{"id":7}')::text,
          'claim: replay -> the stored response');
SELECT is(pg_temp.claim('a3', '', 'key-a', pg_temp.r('{"x":2}')), 'mismatch', 'claim: same key, another body -> mismatch');
SELECT is(pg_temp.claim('a4', '', 'key-a', pg_temp.r('{"x":1}', 'POST /api/operators')), 'mismatch',
          'claim: same key, another route -> mismatch');
SELECT is((SELECT row(status, location, body)::text FROM c WHERE k = 'a3'), row(NULL::int, NULL::text, NULL::text)::text,
          'claim: mismatch -> nothing of the stored response');
SELECT is(pg_temp.claim('a5', 'client-2', 'key-a', pg_temp.r('{"x":2}')), 'new',
          'claim: keys are per client (another client, same key -> new)');
SELECT lives_ok($$SELECT crm_idem_store('client-2', 'key-a', pg_temp.r('{"x":2}'), 200, NULL, '[]')$$,
                'store: ... and its answer is its own');
SELECT is((SELECT count(*) FROM idempotency_keys WHERE key = 'key-a'), 2::bigint, 'claim: one row per client and key');

-- the key's form ------------------------------------------------------------------------------
SELECT throws_ok($$SELECT crm_idem_store('', 'a b', 'r', 201, NULL, '{}')$$, '23514', NULL, 'table: a key with a space is refused');
SELECT throws_ok(format($$SELECT crm_idem_store('', %L, 'r', 201, NULL, '{}')$$, repeat('k', 256)), '23514', NULL,
                 'table: a key of 256 characters is refused');
SELECT lives_ok(format($$SELECT crm_idem_store('', %L, 'r', 201, NULL, '{}')$$, repeat('~', 255)),
                'table: 255 visible characters are a key');

-- time to live --------------------------------------------------------------------------------
SELECT crm_idem_store('', 'key-old', 'r1', 201, NULL, '{"old":1}');
UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'key-old';
SELECT is(pg_temp.claim('t1', '', 'key-old', 'r2', 86400), 'new', 'ttl: a key older than the ttl is new again (any request)');
SELECT is((SELECT count(*) FROM idempotency_keys WHERE key = 'key-old'), 0::bigint, 'ttl: ... its old response is gone');
INSERT INTO idempotency_keys (key, fingerprint, status, body, created_at)
SELECT 'exp-' || g, sha256(''), 201, '{}', now() - interval '2 days' - g * interval '1 second' FROM generate_series(1, 5) g;
SELECT is(crm_idem_expire(86400, 3), 3, 'expire: at most the limit per call');
SELECT is(crm_idem_expire(86400, 100), 2, 'expire: then the rest');
SELECT is((SELECT count(*) FROM idempotency_keys WHERE key LIKE 'exp-%'), 0::bigint, 'expire: every expired key gone');
SELECT is((SELECT count(*) FROM idempotency_keys WHERE key = 'key-a'), 2::bigint, 'expire: young keys kept');

-- in progress: another session ----------------------------------------------------------------
SELECT dblink_exec('other', 'BEGIN');
SELECT is((SELECT o FROM dblink('other', $$SELECT o_outcome FROM crm_idem_claim('', 'key-b', 'rb', 86400)$$) AS t(o text)),
          'new', 'two sessions: the other session claims key-b');
SELECT is(pg_temp.claim('b1', '', 'key-b', 'rb'), 'busy', 'two sessions: this one is told busy, without waiting');
SELECT * FROM dblink('other', $$SELECT crm_idem_store('', 'key-b', 'rb', 201, '/api/x/1', '{"b":1}')$$) AS t(v text);
SELECT dblink_exec('other', 'COMMIT');
SELECT is(pg_temp.claim('b2', '', 'key-b', 'rb'), 'replay', 'two sessions: once it committed -> replay of its answer');
SELECT dblink_exec('other', 'BEGIN');
SELECT * FROM dblink('other', $$SELECT o_outcome FROM crm_idem_claim('', 'key-c', 'rc', 86400)$$) AS t(o text);
SELECT dblink_exec('other', 'ROLLBACK');
SELECT is(pg_temp.claim('c1', '', 'key-c', 'rc2'), 'new', 'two sessions: a claim rolled back leaves nothing (new, any request)');
SELECT dblink_exec('other', $$DELETE FROM idempotency_keys WHERE key = 'key-b'$$);
SELECT dblink_disconnect('other');

SELECT * FROM finish();
ROLLBACK;
