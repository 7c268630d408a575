-- 08_keys.sql -- API keys: crm_key_create, crm_key_lookup (and its last_used_at), crm_key_revoke,
-- crm_keys_list, and the table's checks on scopes, sources and names
BEGIN;
SELECT plan(27);

CREATE TEMP TABLE f AS SELECT tap.source() AS s1, tap.source() AS s2;
CREATE FUNCTION pg_temp.h(p text) RETURNS bytea LANGUAGE sql AS $$ SELECT sha256(convert_to(p, 'UTF8')) $$;

-- create -------------------------------------------------------------------------------------
CREATE TEMP TABLE k1 AS SELECT (r.o_key).*, r.o_missing FROM crm_key_create('00000000000000a1', pg_temp.h('s1'), 'reader',
                                                                ARRAY['read'], NULL) r;
SELECT is((SELECT o_missing FROM k1), NULL, 'create: nothing missing');
SELECT is((SELECT row(public_id, name, scopes, source_ids, revoked_at, last_used_at)::text FROM k1),
          row('00000000000000a1', 'reader', ARRAY['read'], NULL::bigint[], NULL::timestamptz, NULL::timestamptz)::text,
          'create: the row as given, never used, live');
SELECT is((SELECT secret_sha256 FROM api_keys WHERE public_id = '00000000000000a1'), pg_temp.h('s1'), 'create: the hash stored');
CREATE TEMP TABLE k2 AS SELECT (r.o_key).*, r.o_missing FROM f,
    LATERAL crm_key_create('00000000000000a2', pg_temp.h('s2'), 'form', ARRAY['intake'], ARRAY[f.s1, f.s2]) r;
SELECT is((SELECT source_ids FROM k2), (SELECT ARRAY[s1, s2] FROM f), 'create: an intake key limited to sources');
SELECT is((SELECT r.o_missing FROM f, LATERAL crm_key_create('00000000000000a3', pg_temp.h('s3'), 'x', ARRAY['intake'],
                                                            ARRAY[f.s1, -5, f.s2, -6]) r),
          ARRAY[1, 3], 'create: unknown sources -> their positions');
SELECT is((SELECT count(*) FROM api_keys WHERE public_id = '00000000000000a3'), 0::bigint, 'create: ... and nothing stored');
SELECT throws_ok($$SELECT crm_key_create('00000000000000a4', sha256('x'), 'x', ARRAY['root'], NULL)$$, '23514', NULL,
                 'check: an unknown scope');
SELECT throws_ok($$SELECT crm_key_create('00000000000000a4', sha256('x'), 'x', ARRAY[]::text[], NULL)$$, '23514', NULL,
                 'check: no scope');
SELECT throws_ok($$SELECT crm_key_create('00000000000000a4', sha256('x'), 'x', ARRAY['read', NULL], NULL)$$, '23514', NULL,
                 'check: a NULL scope');
SELECT throws_ok(format($$SELECT crm_key_create('00000000000000a4', sha256('x'), 'x', ARRAY['read'], ARRAY[%s])$$, s1),
                 '23514', NULL, 'check: sources without intake') FROM f;
SELECT throws_ok($$SELECT crm_key_create('00000000000000a4', sha256('x'), 'x', ARRAY['intake'], ARRAY[]::bigint[])$$,
                 '23514', NULL, 'check: an empty source list');
SELECT throws_ok($$SELECT crm_key_create('00000000000000a4', sha256('x'), '', ARRAY['read'], NULL)$$, '23514', NULL,
                 'check: an empty name');
SELECT throws_ok($$SELECT crm_key_create('00000000000000A4', sha256('x'), 'x', ARRAY['read'], NULL)$$, '23514', NULL,
                 'check: the public id is 16 lower-case hex digits');
SELECT throws_ok($$SELECT crm_key_create('00000000000000a4', '\x00'::bytea, 'x', ARRAY['read'], NULL)$$, '23514', NULL,
                 'check: the hash is 32 bytes');
SELECT throws_ok($$SELECT crm_key_create('00000000000000a1', sha256('x'), 'x', ARRAY['read'], NULL)$$, '23505', NULL,
                 'unique: the public id');

-- lookup -------------------------------------------------------------------------------------
SELECT is((SELECT row(o_id, o_hash, o_scopes, o_source_ids)::text FROM crm_key_lookup('00000000000000a2')),
          (SELECT row(id, pg_temp.h('s2'), ARRAY['intake'], source_ids)::text FROM k2), 'lookup: id, hash, scopes, sources');
SELECT isnt((SELECT last_used_at FROM api_keys WHERE public_id = '00000000000000a2'), NULL, 'lookup: writes last_used_at');
UPDATE api_keys SET last_used_at = now() - interval '30 seconds' WHERE public_id = '00000000000000a2';
SELECT 1 FROM crm_key_lookup('00000000000000a2');
SELECT is((SELECT last_used_at FROM api_keys WHERE public_id = '00000000000000a2'), now() - interval '30 seconds',
          'lookup: not again within a minute');
UPDATE api_keys SET last_used_at = now() - interval '61 seconds' WHERE public_id = '00000000000000a2';
SELECT 1 FROM crm_key_lookup('00000000000000a2');
SELECT is((SELECT last_used_at FROM api_keys WHERE public_id = '00000000000000a2'), now(), 'lookup: again after a minute');
SELECT is((SELECT count(*) FROM crm_key_lookup('ffffffffffffffff')), 0::bigint, 'lookup: an unknown id -> no row');

-- revoke -------------------------------------------------------------------------------------
SELECT is((SELECT revoked_at FROM crm_key_revoke((SELECT id FROM k1))), now(), 'revoke: revoked_at set');
SELECT is((SELECT count(*) FROM crm_key_lookup('00000000000000a1')), 0::bigint, 'lookup: a revoked key -> no row');
UPDATE api_keys SET revoked_at = now() - interval '1 hour' WHERE public_id = '00000000000000a1';
SELECT is((SELECT revoked_at FROM crm_key_revoke((SELECT id FROM k1))), now() - interval '1 hour',
          'revoke: again keeps the first revoked_at');
SELECT is((SELECT count(*) FROM crm_key_revoke(-1)), 0::bigint, 'revoke: no such key -> no row');

-- list ---------------------------------------------------------------------------------------
SELECT is((SELECT array_agg(public_id ORDER BY id) FROM crm_keys_list((SELECT id - 1 FROM k1), NULL)
            WHERE public_id LIKE '00000000000000a%'),
          ARRAY['00000000000000a1', '00000000000000a2'], 'list: by id after after_id');
SELECT is((SELECT count(*) FROM crm_keys_list((SELECT id - 1 FROM k1), 1)), 1::bigint, 'list: limit');
SELECT unalike(pg_get_function_result('crm_keys_list'::regproc), '%sha256%', 'list: never the hash');
SELECT * FROM finish();
ROLLBACK;
