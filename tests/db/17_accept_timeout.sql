-- 17_accept_timeout.sql -- accept or lose it (0013, 47_accept.sql): the deadline kept by the
-- trigger, the acceptance and its refusals, the timer's step (exclusion of lapsed operators,
-- waiting when none is left, counters), the drain without lapsed operators
BEGIN;
SELECT plan(29);

CREATE TEMP TABLE f AS SELECT tap.source() AS s, tap.operator(true, 5) AS a, tap.operator(true, 5) AS b;
SELECT tap.configure(f.s, f.a, 1), tap.configure(f.s, f.b, 1) FROM f;

-- the field --------------------------------------------------------------------------------------
SELECT throws_ok($$UPDATE sources SET accept_timeout_seconds = 4 WHERE id = (SELECT s FROM f)$$, '23514', NULL,
                 'timeout: below 5 -> the check constraint');
SELECT throws_ok($$UPDATE sources SET accept_timeout_seconds = 86401 WHERE id = (SELECT s FROM f)$$, '23514', NULL,
                 'timeout: above 86400 -> the check constraint');

-- no timeout: no deadline
CREATE TEMP TABLE c0 AS SELECT tap.contact(f.s, f.a) AS id FROM f;
SELECT is((SELECT accept_deadline FROM contacts WHERE id = (SELECT id FROM c0)), NULL, 'deadline: none without a timeout');

UPDATE sources SET accept_timeout_seconds = 30 FROM f WHERE id = f.s;
CREATE TEMP TABLE c1 AS SELECT tap.contact(f.s, f.a) AS id FROM f;
SELECT ok((SELECT accept_deadline BETWEEN now() + interval '30 s' AND clock_timestamp() + interval '30 s'
             FROM contacts WHERE id = (SELECT id FROM c1)), 'deadline: assignment + the timeout');
SELECT is((SELECT accept_deadline FROM contacts WHERE id = (SELECT id FROM c0)), NULL,
          'deadline: an assignment made before the timeout was set keeps none');
CREATE TEMP TABLE w1 AS SELECT tap.contact(f.s) AS id FROM f;
SELECT is((SELECT accept_deadline FROM contacts WHERE id = (SELECT id FROM w1)), NULL, 'deadline: none while waiting');

-- acceptance -------------------------------------------------------------------------------------
SELECT is((SELECT o_error::text FROM crm_contact_accept((SELECT id FROM w1), NULL)), 'not_assigned', 'accept: unassigned');
SELECT is((SELECT o_error::text FROM crm_contact_accept((SELECT id FROM c1), (SELECT b FROM f))), 'other_operator',
          'accept: naming another operator');
SELECT is((SELECT o_error::text FROM crm_contact_accept(-1, NULL)), 'not_found', 'accept: unknown contact');
SELECT is((SELECT accepted_at FROM contacts WHERE id = (SELECT id FROM c1)), NULL, 'accept: a refusal changes nothing');
SELECT is((SELECT o_error::text FROM crm_contact_accept((SELECT id FROM c1), (SELECT a FROM f))), NULL, 'accept: ok');
SELECT is((SELECT row(accepted_at IS NOT NULL, accept_deadline IS NULL)::text FROM contacts WHERE id = (SELECT id FROM c1)),
          '(t,t)', 'accept: accepted_at set, the deadline gone');
SELECT is((SELECT o_error::text FROM crm_contact_accept((SELECT id FROM c1), NULL)), 'already_accepted', 'accept: twice');
SELECT is((SELECT o_error::text FROM crm_contact_update((SELECT id FROM c1), NULL, true, (SELECT b FROM f), 8)), NULL,
          'reassign by hand');
SELECT is((SELECT row(accepted_at IS NULL, accept_deadline IS NOT NULL)::text FROM contacts WHERE id = (SELECT id FROM c1)),
          '(t,t)', 'reassignment by hand: accepted_at reset, a new deadline');
SELECT is((SELECT o_error::text FROM crm_contact_update((SELECT id FROM c1), 'closed', false, NULL, 8)), NULL, 'close');
SELECT is((SELECT o_error::text FROM crm_contact_accept((SELECT id FROM c1), NULL)), 'closed', 'accept: closed');

-- the timer ----------------------------------------------------------------------------------------
CREATE TEMP TABLE c2 AS SELECT tap.contact(f.s, f.a) AS id FROM f;
UPDATE contacts SET accept_deadline = now() - interval '1 s' WHERE id = (SELECT id FROM c2);
SELECT is((SELECT o_advanced FROM crm_accept_timeout_advance(8)), true, 'timer: a due contact timed out');
SELECT is(tap.operator_of((SELECT id FROM c2)), (SELECT b FROM f), 'timer: to the operator that did not let it lapse');
SELECT is((SELECT row(reason, operator_id, note)::text FROM tap.last_assignment((SELECT id FROM c2))),
          (SELECT row('timeout', f.b, 'operator ' || f.a || ' let it lapse')::text FROM f), 'timer: the history row');
SELECT is((SELECT lapsed FROM contacts WHERE id = (SELECT id FROM c2)), (SELECT ARRAY[a] FROM f), 'timer: the lapsed set');
SELECT ok(tap.counts_exact(), 'timer: counters exact');
UPDATE contacts SET accept_deadline = now() - interval '1 s' WHERE id = (SELECT id FROM c2);
SELECT is((SELECT o_advanced FROM crm_accept_timeout_advance(8)), true, 'timer: the second lapse');
SELECT is((SELECT row(operator_id, accept_deadline)::text FROM contacts WHERE id = (SELECT id FROM c2)), '(,)',
          'timer: nobody left -> it waits, no deadline');
SELECT ok(tap.counts_exact(), 'timer: counters exact after the wait');
SELECT is((SELECT o_advanced FROM crm_accept_timeout_advance(8)), false, 'timer: nothing due');
-- the drain does not bring it back to a or b
SELECT isnt(tap.operator_of((SELECT id FROM w1)), NULL, 'drain: the plain waiting contact took a freed slot');
SELECT is(crm_drain_source((SELECT s FROM f), 8), 0, 'drain: the lapsed contact is offered to nobody left');
SELECT is(tap.operator_of((SELECT id FROM c2)), NULL, 'drain: the lapsed contact still waits');
SELECT * FROM finish();
ROLLBACK;
