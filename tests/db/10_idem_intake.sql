-- 10_idem_intake.sql -- crm_idem_intake: POST /api/contacts with an Idempotency-Key in one statement
--
-- The claim and crm_intake in one call: the outcomes of crm_idem_claim (busy, replay, mismatch)
-- before any work, 'new' with the key and fingerprint on the contact it made (migration 0011),
-- 'missing' (unknown source) with nothing stored or changed, an expired key moved to the new
-- contact, keys per client; the first attempt's way (p_probe false: no lookup of the contacts),
-- which the unique index undoes when a contact holds the key. 11_idem_contact_row.sql: replays of changed contacts, the sweep.
BEGIN;
SELECT plan(38);
SET LOCAL lock_timeout = '3s';
SELECT tap.connect('other');

CREATE TEMP TABLE src AS SELECT tap.source() AS s, tap.operator(true, 10) AS o;
SELECT tap.configure((SELECT s FROM src), (SELECT o FROM src));
CREATE TEMP TABLE a (k text PRIMARY KEY, outcome text, status integer, location text, body text);
CREATE FUNCTION pg_temp.go(p_tag text, p_client text, p_key text, p_email text, p_source bigint DEFAULT NULL,
                           p_ttl integer DEFAULT 86400)
RETURNS text LANGUAGE sql AS $$
    INSERT INTO a SELECT p_tag, o_outcome, o_status, o_location, o_body FROM crm_idem_intake(p_client, p_key,
        'POST /api/contacts 0 0' || E'\n' || p_email, p_ttl, p_email, coalesce(p_source, (SELECT s FROM src)))
    RETURNING outcome;
$$;
CREATE FUNCTION pg_temp.contacts(p_email text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM contacts c JOIN leads l ON l.id = c.lead_id WHERE l.email = p_email
$$;

-- first use: the work and its answer ----------------------------------------------------------
SELECT is(pg_temp.go('n1', 'c1', 'k1', 'one@tap.test'), 'new', 'new: a new key does the intake');
SELECT is(pg_temp.contacts('one@tap.test'), 1::bigint, 'new: ... one contact');
SELECT is((SELECT status FROM a WHERE k = 'n1'), 201, 'new: answers 201');
SELECT is((SELECT location FROM a WHERE k = 'n1'),
          (SELECT '/api/contacts/' || c.id FROM contacts c JOIN leads l ON l.id = c.lead_id WHERE l.email = 'one@tap.test'),
          'new: Location names the contact');
SELECT is((SELECT body::jsonb FROM a WHERE k = 'n1'),
          (SELECT jsonb_build_object('id', c.id, 'lead_id', c.lead_id, 'source_id', c.source_id,
                                     'operator_id', c.operator_id, 'status', c.status, 'created_at', crm_rfc3339(c.created_at),
                                     'accepted_at', NULL)
             FROM contacts c JOIN leads l ON l.id = c.lead_id WHERE l.email = 'one@tap.test'),
          'new: the body is the contact object');
SELECT matches((SELECT body FROM a WHERE k = 'n1'),
               '^\{"id":\d+,"lead_id":\d+,"source_id":\d+,"operator_id":\d+,"status":"active","created_at":"[^"]+","accepted_at":null\}$',
               'new: ... members in the order of crm_h_write_contact, no white space');
SELECT is((SELECT row('/api/contacts/' || c.id, c.idem_fp)::text FROM contacts c WHERE c.idem_hash = crm_idem_contact_key('c1', 'k1')),
          (SELECT row(location, sha256(convert_to('POST /api/contacts 0 0' || E'\n' || 'one@tap.test', 'UTF8')))::text
             FROM a WHERE k = 'n1'),
          'new: the contact holds the client''s key and the request''s fingerprint');
SELECT is((SELECT count(*) FROM idempotency_keys WHERE key = 'k1'), 0::bigint, 'new: no row in idempotency_keys');
SELECT is((SELECT count(*) FROM assignment_history s JOIN contacts c ON c.id = s.contact_id JOIN leads l ON l.id = c.lead_id
            WHERE l.email = 'one@tap.test'), 1::bigint, 'new: one history entry');

-- again: replay, mismatch, per client ---------------------------------------------------------
SELECT is(pg_temp.go('r1', 'c1', 'k1', 'one@tap.test'), 'replay', 'replay: same key, same request');
SELECT is((SELECT row(status, location, body)::text FROM a WHERE k = 'r1'),
          (SELECT row(status, location, body)::text FROM a WHERE k = 'n1'), 'replay: the first answer, byte for byte');
SELECT is(pg_temp.contacts('one@tap.test'), 1::bigint, 'replay: no second contact');
SELECT is(pg_temp.go('m1', 'c1', 'k1', 'two@tap.test'), 'mismatch', 'mismatch: same key, another request');
SELECT is(pg_temp.contacts('two@tap.test'), 0::bigint, 'mismatch: no work done');
SELECT is(pg_temp.go('o1', 'c2', 'k1', 'two@tap.test'), 'new', 'per client: another client''s same key is its own');
SELECT is((SELECT count(*) FROM contacts WHERE idem_hash IN (crm_idem_contact_key('c1', 'k1'), crm_idem_contact_key('c2', 'k1'))), 2::bigint, 'per client: one contact each');

-- an unknown source: nothing stored, nothing changed ------------------------------------------
SELECT is(pg_temp.go('s1', 'c1', 'k-miss', 'miss@tap.test', -1), 'missing', 'missing: an unknown source');
SELECT is((SELECT count(*) FROM contacts WHERE idem_hash = crm_idem_contact_key('c1', 'k-miss')), 0::bigint, 'missing: no key stored');

-- time to live: an expired key moves to the new contact, and stays until then ------------------
SELECT is(pg_temp.go('e0', 'c1', 'k-old', 'old@tap.test'), 'new', 'ttl: (a contact with k-old)');
UPDATE contacts SET created_at = now() - interval '25 hours' WHERE idem_hash = crm_idem_contact_key('c1', 'k-old');
CREATE TEMP TABLE old AS SELECT id, idem_fp FROM contacts WHERE idem_hash = crm_idem_contact_key('c1', 'k-old');
SELECT is(pg_temp.go('e1', 'c1', 'k-old', 'miss-old@tap.test', -1), 'missing', 'ttl: a refusal with an expired key');
SELECT is((SELECT row(c.idem_hash, c.idem_fp)::text FROM contacts c, old o WHERE c.id = o.id),
          (SELECT row(crm_idem_contact_key('c1', 'k-old'), o.idem_fp)::text FROM old o), 'ttl: ... leaves the old contact its key');
SELECT is(pg_temp.go('e2', 'c1', 'k-old', 'new-old@tap.test'), 'new', 'ttl: a key past the ttl is new again (any request)');
SELECT is((SELECT row(c.idem_hash, c.idem_fp)::text FROM contacts c, old o WHERE c.id = o.id), row(NULL, NULL)::text,
          'ttl: ... the old contact''s key is cleared');
SELECT is((SELECT '/api/contacts/' || id FROM contacts WHERE idem_hash = crm_idem_contact_key('c1', 'k-old')), (SELECT location FROM a WHERE k = 'e2'),
          'ttl: ... and the new contact holds it');

-- the first attempt (p_probe false): the key assumed new ------------------------------------------
CREATE FUNCTION pg_temp.first(p_tag text, p_key text, p_email text) RETURNS text LANGUAGE sql AS $$
    INSERT INTO a SELECT p_tag, o_outcome, o_status, o_location, o_body FROM crm_idem_intake('c1', p_key, 'POST /api/contacts 0 0' || E'\n' || p_email,
                                                       86400, p_email, (SELECT s FROM src), false)
    RETURNING outcome;
$$;
SELECT is(pg_temp.first('f1', 'k-first', 'first@tap.test'), 'new', 'first attempt: a new key does the intake');
SELECT is((SELECT count(*) FROM contacts WHERE idem_hash = crm_idem_contact_key('c1', 'k-first')), 1::bigint, 'first attempt: ... the key on its contact');
CREATE TEMP TABLE before_retry AS SELECT (SELECT active_contacts FROM operators, src WHERE id = o) AS load,
    (SELECT count(*) FROM contacts) AS n;
SELECT throws_ok($$SELECT pg_temp.first('f2', 'k-first', 'first@tap.test')$$, '23505', NULL,
                 'first attempt, the key on a contact: its unique index refuses it (the careful way must answer)');
SELECT is((SELECT active_contacts FROM operators, src WHERE id = o), (SELECT load FROM before_retry),
          'first attempt, refused: the operator''s slot is given back');
SELECT is((SELECT count(*) FROM contacts), (SELECT n FROM before_retry), 'first attempt, refused: no contact stored');
SELECT throws_ok($$SELECT pg_temp.first('f3', 'k-first', 'other@tap.test')$$, '23505', NULL,
                 'first attempt, the key on a contact, another body: refused too');
SELECT is(pg_temp.go('f4', 'c1', 'k-first', 'first@tap.test'), 'replay', 'the careful way then replays the same request');
SELECT is((SELECT location FROM a WHERE k = 'f4'), (SELECT location FROM a WHERE k = 'f1'),
          '... with the first answer''s Location');

SELECT is((SELECT row(o_outcome, o_operator, o_sticky)::text FROM crm_idem_intake('c9', 'k-op', 'r', 86400, 'op9@tap.test',
                                                                          (SELECT s FROM src), false)),
          row('new', (SELECT o FROM src), false)::text, 'new: o_operator and o_sticky say what the intake decided');
SELECT is((SELECT row(o_outcome, o_operator)::text FROM crm_idem_intake('c9', 'k-op', 'r', 86400, 'op9@tap.test',
                                                                 (SELECT s FROM src))),
          row('replay', NULL)::text, 'replay: no decision to report (the metrics count none)');

-- in progress: another session holds the key --------------------------------------------------
SELECT dblink_exec('other', 'BEGIN');
SELECT is((SELECT o FROM dblink('other', $$SELECT o_outcome FROM crm_idem_claim('c1', 'k-busy', 'rb', 86400)$$) AS t(o text)),
          'new', 'two sessions: the other session claims k-busy');
SELECT is(pg_temp.go('b1', 'c1', 'k-busy', 'busy@tap.test'), 'busy', 'two sessions: this one is told busy, without waiting');
SELECT is(pg_temp.contacts('busy@tap.test'), 0::bigint, 'two sessions: ... and does no work');
SELECT dblink_exec('other', 'ROLLBACK');
SELECT dblink_disconnect('other');

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');

SELECT * FROM finish();
ROLLBACK;
