-- 90_two_sessions.sql -- what a second session changes: SKIP LOCKED, row locks, NOTIFY
--
-- Other sessions are dblink connections to this database. They must see the fixtures, so the
-- fixtures are committed (by session "setup"); tests/db/run gives every run a fresh copy of the
-- template database, so nothing needs cleaning up. This session's own changes are rolled back.
-- lock_timeout turns a wait that must not happen (a drain waiting for a locked row) into a
-- failed lives_ok instead of a hang.
BEGIN;
SELECT plan(31);
SET LOCAL lock_timeout = '3s';
SELECT tap.connect('setup'), tap.connect('lock');

CREATE TEMP TABLE res (k text PRIMARY KEY, v integer);

-- a drain passes over a locked operator -------------------------------------------------------
CREATE TEMP TABLE a AS
SELECT tap.remote('setup', 'SELECT tap.source()') AS s,
       tap.remote('setup', 'SELECT tap.operator(true, 5)') AS heavy,
       tap.remote('setup', 'SELECT tap.operator(true, 5)') AS light;
SELECT tap.run('setup', format('SELECT tap.configure(%s, %s, 1000000), tap.configure(%s, %s, 1)', s, heavy, s, light)) FROM a;
ALTER TABLE a ADD COLUMN w bigint[];
UPDATE a SET w = tap.remote_ids('setup', format('SELECT tap.waiting(%s, 3)', s));

SELECT dblink_exec('lock', 'BEGIN');
SELECT tap.run('lock', format('SELECT 1 FROM operators WHERE id = %s FOR NO KEY UPDATE', heavy)) FROM a;
SELECT lives_ok(format('INSERT INTO res VALUES (''a1'', crm_drain_source(%s, 1))', a.s),
                'skip locked: a drain does not wait for a locked operator') FROM a;
SELECT is((SELECT v FROM res WHERE k = 'a1'), 1, 'skip locked: one contact assigned');
SELECT is(tap.operator_of(a.w[1]), a.light, 'skip locked: to the other operator (the locked one weighs 10^6 times more)') FROM a;
SELECT is(tap.load(a.heavy), 0, 'skip locked: the locked operator''s load untouched') FROM a;
SELECT dblink_exec('lock', 'ROLLBACK');
-- (this session now holds light's row: the next case uses operators of its own)
CREATE TEMP TABLE a2 AS
SELECT tap.remote('setup', 'SELECT tap.source()') AS s,
       tap.remote('setup', 'SELECT tap.operator(true, 5)') AS x, tap.remote('setup', 'SELECT tap.operator(true, 5)') AS y;
SELECT tap.run('setup', format('SELECT tap.configure(%s, %s), tap.configure(%s, %s)', s, x, s, y)) FROM a2;
ALTER TABLE a2 ADD COLUMN w bigint[];
UPDATE a2 SET w = tap.remote_ids('setup', format('SELECT tap.waiting(%s, 2)', s));
SELECT dblink_exec('lock', 'BEGIN');
SELECT tap.run('lock', format('SELECT 1 FROM operators WHERE id IN (%s, %s) FOR NO KEY UPDATE', x, y)) FROM a2;
SELECT lives_ok(format('INSERT INTO res VALUES (''a2'', crm_drain_source(%s, 5))', a2.s),
                'skip locked: every operator locked -> the drain returns at once') FROM a2;
SELECT is((SELECT v FROM res WHERE k = 'a2'), 0, 'skip locked: every operator locked -> nothing assigned');
SELECT is(ARRAY[tap.operator_of(a2.w[1]), tap.operator_of(a2.w[2])], ARRAY[NULL, NULL]::bigint[],
          'skip locked: the contacts keep waiting') FROM a2;
SELECT dblink_exec('lock', 'ROLLBACK');

-- a drain passes over a locked waiting contact ------------------------------------------------
CREATE TEMP TABLE b AS
SELECT tap.remote('setup', 'SELECT tap.source()') AS s, tap.remote('setup', 'SELECT tap.operator(true, 5)') AS x;
SELECT tap.run('setup', format('SELECT tap.configure(%s, %s)', s, x)) FROM b;
ALTER TABLE b ADD COLUMN w bigint[];
UPDATE b SET w = tap.remote_ids('setup', format('SELECT tap.waiting(%s, 2)', s));
SELECT dblink_exec('lock', 'BEGIN');
SELECT tap.run('lock', format('SELECT 1 FROM contacts WHERE id = %s FOR UPDATE', w[1])) FROM b;
SELECT lives_ok(format('INSERT INTO res VALUES (''b1'', crm_drain_source(%s, 5))', b.s),
                'skip locked: a drain does not wait for a locked waiting contact') FROM b;
SELECT is((SELECT v FROM res WHERE k = 'b1'), 1, 'skip locked: the next one assigned') FROM b;
SELECT is(ARRAY[tap.operator_of(b.w[1]), tap.operator_of(b.w[2])], ARRAY[NULL, b.x],
          'skip locked: the locked oldest one passed over, the next one taken') FROM b;
SELECT is(tap.load(b.x), 1, 'skip locked: one slot taken (no slot left taken for the passed-over one)') FROM b;
-- only the locked one waits: the slot taken for it is given back
SELECT lives_ok(format('INSERT INTO res VALUES (''b2'', crm_drain_source(%s, 5))', b.s),
                'give back: the only waiting contact locked -> the drain returns at once') FROM b;
SELECT is((SELECT v FROM res WHERE k = 'b2'), 0, 'give back: nothing assigned');
SELECT is(tap.load(b.x), 1, 'give back: the slot taken for it is given back') FROM b;
SELECT dblink_exec('lock', 'ROLLBACK');

-- the budget ran out: NOTIFY crm_backlog at commit --------------------------------------------
CREATE TEMP TABLE n AS
SELECT tap.remote('setup', 'SELECT tap.source()') AS s1, tap.remote('setup', 'SELECT tap.source()') AS s2,
       tap.remote('setup', 'SELECT tap.source()') AS s3, tap.remote('setup', 'SELECT tap.operator(true, 50)') AS x;
SELECT tap.run('setup', format('SELECT tap.configure(%s, %s), tap.configure(%s, %s), tap.configure(%s, %s)',
                                   s1, x, s2, x, s3, x)) FROM n;
SELECT tap.run('setup', format('SELECT tap.waiting(%s, 1), tap.waiting(%s, 2), tap.waiting(%s, 3)', s1, s2, s3)) FROM n;
SELECT tap.connect('listen'), tap.connect('work');
SELECT dblink_exec('listen', 'LISTEN crm_backlog');
-- s1: 1 waiting, budget 2 -> not used up, no notification; s2: 2 waiting, budget 2 -> used up
SELECT is(tap.remote('work', format('SELECT crm_drain_sources(ARRAY[%s]::bigint[], 2)', s1)), 1::bigint,
          'notify: budget 2, one waiting -> 1') FROM n;
SELECT is(tap.remote('work', format('SELECT crm_drain_sources(ARRAY[%s]::bigint[], 2)', s2)), 2::bigint,
          'notify: budget 2, two waiting -> 2') FROM n;
-- notifications arrive in commit order: once s2's is here, an s1 one would be too
SELECT is(tap.notifications('listen', 1), 1, 'notify: exactly one crm_backlog, for the budget used up (not when it was not)');
SELECT is(tap.remote('work', format('SELECT crm_drain_sources(ARRAY[%s]::bigint[], 2)', s3)), 2::bigint,
          'notify: budget 2, three waiting -> 2') FROM n;
SELECT is(tap.notifications('listen', 1), 1, 'notify: budget used up with contacts left -> crm_backlog');
-- the callers pass their batch: a contact closed, an operator changed
CREATE TEMP TABLE n2 AS
SELECT tap.remote('setup', 'SELECT tap.source()') AS s, tap.remote('setup', 'SELECT tap.operator(true, 1)') AS y;
SELECT tap.run('setup', format('SELECT tap.configure(%s, %s)', s, y)) FROM n2;
ALTER TABLE n2 ADD COLUMN held bigint;
UPDATE n2 SET held = tap.remote('setup', format('SELECT tap.contact(%s, %s)', s, y));
SELECT tap.run('setup', format('SELECT tap.waiting(%s, 3)', s)) FROM n2;
SELECT tap.run('work', format('SELECT crm_contact_update(%s, ''closed'', false, NULL, 1)', held)) FROM n2;
SELECT is(tap.notifications('listen', 1), 1, 'notify: a contact closed with batch 1 and a queue -> crm_backlog');
SELECT tap.run('work', format('SELECT crm_operator_update(%s, NULL, NULL, 10, 1)', y)) FROM n2;
SELECT is(tap.notifications('listen', 1), 1, 'notify: an operator''s limit raised with batch 1 and a queue -> crm_backlog');

-- a contact update waits for the contact's row and reads it again -----------------------------
-- session "lock" closes the contact and commits half a second later; closing it here meanwhile
-- must wait and then find it closed: the load is freed once
CREATE TEMP TABLE c AS
SELECT tap.remote('setup', 'SELECT tap.source()') AS s, tap.remote('setup', 'SELECT tap.operator(true, 5)') AS x;
SELECT tap.run('setup', format('SELECT tap.configure(%s, %s)', s, x)) FROM c;
ALTER TABLE c ADD COLUMN k1 bigint, ADD COLUMN k2 bigint;
UPDATE c SET k1 = tap.remote('setup', format('SELECT tap.contact(%s, %s)', s, x)),
             k2 = tap.remote('setup', format('SELECT tap.contact(%s, %s)', s, x));
ALTER TABLE c ADD COLUMN pid integer;
UPDATE c SET pid = tap.pid('lock');
SELECT dblink_send_query('lock', format(
    'BEGIN; SELECT crm_contact_update(%s, ''closed'', false, NULL, 0); SELECT pg_sleep(0.5); COMMIT', k1)) FROM c;
SELECT ok(tap.waits(c.pid, 'Timeout'), 'race: the other session holds its update open') FROM c;
SELECT is(tap.upd(c.k1, 'closed', false, NULL, 0), 'ok', 'race: closing the same contact here: ok') FROM c;
SELECT is(tap.load(c.x), 1, 'race: the load freed once, not twice') FROM c;

-- a hand-pick reads the new operator's load under its row lock ----------------------------------
-- session "lock" gives q one more contact and commits half a second later; moving a contact to q
-- meanwhile waits, and the history records the load q really had
SELECT dblink_disconnect('lock'), tap.connect('lock');
CREATE TEMP TABLE m AS
SELECT tap.remote('setup', 'SELECT tap.source()') AS s, tap.remote('setup', 'SELECT tap.operator(true, 5)') AS p,
       tap.remote('setup', 'SELECT tap.operator(true, 5)') AS q;
SELECT tap.run('setup', format('SELECT tap.configure(%s, %s), tap.configure(%s, %s)', s, p, s, q)) FROM m;
ALTER TABLE m ADD COLUMN k bigint, ADD COLUMN pid integer;
UPDATE m SET k = tap.remote('setup', format('SELECT tap.contact(%s, %s)', s, p)), pid = tap.pid('lock');
SELECT dblink_send_query('lock', format(
    'BEGIN; SELECT tap.contact(%s, %s); SELECT pg_sleep(0.5); COMMIT', s, q)) FROM m;
SELECT ok(tap.waits(m.pid, 'Timeout'), 'locked read: the other session holds its new contact open') FROM m;
SELECT is(tap.upd(m.k, NULL, true, m.q, 0), 'ok', 'locked read: hand-pick q: ok') FROM m;
SELECT is((SELECT load_before FROM tap.last_assignment(m.k)), 1,
          'locked read: load_before is q''s load after the other session committed') FROM m;
SELECT is(tap.load(m.q), 2, 'locked read: q has both') FROM m;

-- the intake waits for a locked operator (it does not pass it over like a drain) ----------------
SELECT dblink_disconnect('lock'), tap.connect('lock');
CREATE TEMP TABLE i AS
SELECT tap.remote('setup', 'SELECT tap.source()') AS s, tap.remote('setup', 'SELECT tap.operator(true, 5)') AS x;
SELECT tap.run('setup', format('SELECT tap.configure(%s, %s)', s, x)) FROM i;
ALTER TABLE i ADD COLUMN pid integer;
UPDATE i SET pid = tap.pid('lock');
SELECT dblink_send_query('lock', format(
    'BEGIN; SELECT 1 FROM operators WHERE id = %s FOR NO KEY UPDATE; SELECT pg_sleep(0.5); COMMIT', x)) FROM i;
SELECT ok(tap.waits(i.pid, 'Timeout'), 'intake wait: the other session holds the operator''s row') FROM i;
SELECT is((SELECT operator_id FROM crm_intake('waiter@tap.test', i.s)), i.x,
          'intake wait: the intake waits for the only operator and gets it') FROM i;

SELECT ok(tap.counts_exact(), 'every operator''s active_contacts equals its active contacts');
SELECT * FROM finish();
ROLLBACK;
