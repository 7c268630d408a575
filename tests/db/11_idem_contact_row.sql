-- 11_idem_contact_row.sql -- the Idempotency-Key of POST /api/contacts on the contact row (0011)
--
-- crm_idem_intake stores no answer: the key and fingerprint are columns of the contact, filled by
-- their defaults from two settings it holds only around crm_intake, and a replay is rebuilt by
-- crm_idem_contact_body from the contact and its intake entry. Here: contacts without a key get
-- none (also right after a keyed one in the same transaction), replays of a contact closed or
-- reassigned since are the first answer, crm_idem_claim (the other POSTs) and crm_idem_intake see
-- each other's keys, the columns' check, and the sweep crm_idem_expire_contacts.
BEGIN;
SELECT plan(27);

CREATE TEMP TABLE src AS SELECT tap.source() AS s, tap.operator(true, 10) AS o, tap.operator(true, 10) AS o2;
SELECT tap.configure((SELECT s FROM src), (SELECT o FROM src));
CREATE TEMP TABLE a (k text PRIMARY KEY, outcome text, status integer, location text, body text);
CREATE FUNCTION pg_temp.go(p_tag text, p_client text, p_key text, p_email text, p_route text DEFAULT 'POST /api/contacts 0 0')
RETURNS text LANGUAGE sql AS $$
    INSERT INTO a SELECT p_tag, o_outcome, o_status, o_location, o_body FROM crm_idem_intake(p_client, p_key, p_route || E'\n' || p_email, 86400, p_email,
                                                       (SELECT s FROM src))
    RETURNING outcome;
$$;
CREATE FUNCTION pg_temp.id(p_tag text) RETURNS bigint LANGUAGE sql AS $$
    SELECT substr(location, length('/api/contacts/') + 1)::bigint FROM a WHERE k = p_tag
$$;

-- no key, no key columns ------------------------------------------------------------------------
CREATE TEMP TABLE plain AS SELECT * FROM crm_intake('plain1@tap.test', (SELECT s FROM src));
SELECT is((SELECT row(idem_hash, idem_fp)::text FROM contacts WHERE id = (SELECT id FROM plain)), row(NULL, NULL)::text,
          'plain: a contact without a key has no key columns');
SELECT is(pg_temp.go('k1', 'c1', 'k1', 'keyed1@tap.test'), 'new', 'plain: (a keyed contact)');
SELECT is((SELECT count(*) FROM information_schema.columns
            WHERE table_name = 'contacts' AND column_name IN ('idem_hash', 'idem_fp') AND column_default IS NOT NULL),
          0::bigint, 'plain: ... the key columns have no defaults (crm_intake writes them, 0016)');
INSERT INTO plain SELECT * FROM crm_intake('plain2@tap.test', (SELECT s FROM src));
SELECT is((SELECT row(idem_hash, idem_fp)::text FROM contacts c JOIN leads l ON l.id = c.lead_id WHERE l.email = 'plain2@tap.test'),
          row(NULL, NULL)::text, 'plain: ... so the next plain intake of the transaction gets no key');
SELECT throws_ok($$UPDATE contacts SET idem_hash = crm_idem_contact_key('c1', 'x') WHERE id = (SELECT min(id) FROM plain)$$,
                 '23514', NULL, 'check: a key without a fingerprint is refused');
SELECT throws_ok($$UPDATE contacts SET idem_hash = '\x00', idem_fp = sha256('') WHERE id = (SELECT min(id) FROM plain)$$,
                 '23514', NULL, 'check: a key hash that is not 16 bytes is refused');
SELECT throws_ok($$INSERT INTO contacts (lead_id, source_id, idem_hash, idem_fp)
                   VALUES (tap.lead(), (SELECT s FROM src), crm_idem_contact_key('c1', 'k1'), sha256(''))$$, '23505', NULL,
                 'unique: a second contact with the same client and key is refused');

-- replays are the first answer, whatever happened to the contact since ----------------------------
SELECT tap.configure((SELECT s FROM src), (SELECT o2 FROM src));
SELECT is(tap.upd(pg_temp.id('k1'), NULL, true,
                  (SELECT CASE WHEN tap.operator_of(pg_temp.id('k1')) = o THEN o2 ELSE o END FROM src)), 'ok',
          'changed: (reassigned by hand)');
SELECT is(tap.upd(pg_temp.id('k1'), 'closed', false, NULL), 'ok', 'changed: (closed)');
SELECT is(pg_temp.go('k1r', 'c1', 'k1', 'keyed1@tap.test'), 'replay', 'changed: the same request replays');
SELECT is((SELECT row(status, location, body)::text FROM a WHERE k = 'k1r'),
          (SELECT row(status, location, body)::text FROM a WHERE k = 'k1'), 'changed: ... the first answer, byte for byte');
SELECT is(crm_idem_contact_body(pg_temp.id('k1')), (SELECT body FROM a WHERE k = 'k1'),
          'changed: crm_idem_contact_body rebuilds it');
-- a contact that waited at intake and was assigned since replays "operator_id": null
CREATE TEMP TABLE lonely AS SELECT tap.source() AS s;
INSERT INTO a SELECT 'w1', o_outcome, o_status, o_location, o_body FROM crm_idem_intake('c1', 'kw', 'w', 86400, 'wait1@tap.test', (SELECT s FROM lonely));
SELECT tap.configure((SELECT s FROM lonely), (SELECT o FROM src));
SELECT cmp_ok(crm_drain_source((SELECT s FROM lonely), 10), '>=', 1, 'waited: (drained to an operator since)');
SELECT is((SELECT body FROM a WHERE k = 'w1') ~ '"operator_id":null' AND crm_idem_contact_body(pg_temp.id('w1')) = (SELECT body FROM a WHERE k = 'w1'),
          true, 'waited: the replay still says unassigned');

-- one namespace per client across routes --------------------------------------------------------
SELECT is((SELECT row(o_outcome, o_status, o_location, o_body)::text
             FROM crm_idem_claim('c1', 'k1', 'POST /api/contacts 0 0' || E'\n' || 'keyed1@tap.test', 86400)),
          (SELECT row('replay', status, location, body)::text FROM a WHERE k = 'k1'),
          'routes: crm_idem_claim replays a contact''s key for the same request');
SELECT is((SELECT o_outcome FROM crm_idem_claim('c1', 'k1', 'POST /api/sources 0 0' || E'\n' || '{}', 86400)), 'mismatch',
          'routes: ... and any other request is a mismatch');
SELECT is((SELECT o_outcome FROM crm_idem_claim('c2', 'k1', 'POST /api/sources 0 0' || E'\n' || '{}', 86400)), 'new',
          'routes: ... of this client only');
SELECT crm_idem_store('c1', 'ks', 'POST /api/sources 0 0' || E'\n' || 'src@tap.test', 201, '/api/sources/1', '{"id":1}');
SELECT is(pg_temp.go('s1', 'c1', 'ks', 'src@tap.test'), 'mismatch', 'routes: crm_idem_intake sees a stored answer''s key');
SELECT is(pg_temp.go('s2', 'c1', 'ks', 'src@tap.test', 'POST /api/sources 0 0'), 'replay',
          'routes: ... and replays it for its request (an answer stored by an older release)');

-- the sweep --------------------------------------------------------------------------------------
-- contacts made from here on: old, old (keyed), young (keyed), old (keyed: after a young one)
UPDATE idempotency_sweep SET contact_id = (SELECT max(id) FROM contacts);
CREATE TEMP TABLE sw AS SELECT tap.contact((SELECT s FROM src)) AS id, 'old'::text AS age;
SELECT is(pg_temp.go('x1', 'c1', 'kx1', 'x1@tap.test'), 'new', 'sweep: (keyed contacts)');
SELECT pg_temp.go('x2', 'c1', 'kx2', 'x2@tap.test'), pg_temp.go('x3', 'c1', 'kx3', 'x3@tap.test');
INSERT INTO sw VALUES (pg_temp.id('x1'), 'old'), (pg_temp.id('x2'), 'young'), (pg_temp.id('x3'), 'old');
UPDATE contacts c SET created_at = now() - interval '25 hours' FROM sw WHERE sw.id = c.id AND sw.age = 'old';
SELECT is((SELECT row(o_walked, o_cleared)::text FROM crm_idem_expire_contacts(86400, 100)), row(2, 1)::text,
          'sweep: walks up to the first young contact and clears the expired keys on its way');
SELECT is((SELECT array_agg(idem_hash IS NULL ORDER BY id) FROM contacts WHERE id IN (pg_temp.id('x1'), pg_temp.id('x2'), pg_temp.id('x3'))),
          ARRAY[true, false, false], 'sweep: ... the young key and the one behind it stay for a later pass');
-- the young one grows old: the next pass goes on
UPDATE contacts SET created_at = now() - interval '25 hours' WHERE id = pg_temp.id('x2');
SELECT is((SELECT row(o_walked, o_cleared)::text FROM crm_idem_expire_contacts(86400, 1)), row(1, 1)::text,
          'sweep: a full batch (call again)');
SELECT is((SELECT row(o_walked, o_cleared)::text FROM crm_idem_expire_contacts(86400, 100)), row(1, 1)::text,
          'sweep: ... and the rest');
SELECT is((SELECT contact_id FROM idempotency_sweep), pg_temp.id('x3'), 'sweep: the watermark is the last contact gone past');
SELECT is(pg_temp.go('x1again', 'c1', 'kx1', 'x1b@tap.test'), 'new', 'sweep: a swept key is new again');

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');

SELECT * FROM finish();
ROLLBACK;
