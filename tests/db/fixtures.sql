-- fixtures.sql -- helpers of the database suite (schema tap), loaded into the template by tests/db/run
--
-- They write rows directly, not through the functions under test, so a test states its starting
-- point in one line: tap.operator(active, limit), tap.source(), tap.configure(source, operator,
-- weight), tap.contact(source, operator, status) (an assigned active contact also counts in its
-- operator's active_contacts, whatever the limit: a fixture may start an operator full).
-- tap.counts_exact() is the invariant every file checks last: each operator's active_contacts is
-- the number of its active contacts. tap.connect(name) opens a dblink session to this database.

CREATE SCHEMA tap;
CREATE SEQUENCE tap.seq;

CREATE FUNCTION tap.source() RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO sources (name) VALUES ('tap source ' || nextval('tap.seq')) RETURNING id;
$$;

CREATE FUNCTION tap.operator(p_active boolean DEFAULT true, p_limit integer DEFAULT 10) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO operators (name, is_active, max_load_limit)
    VALUES ('tap operator ' || nextval('tap.seq'), p_active, p_limit) RETURNING id;
$$;

CREATE FUNCTION tap.configure(p_source bigint, p_operator bigint, p_weight integer DEFAULT 1) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO source_operators (source_id, operator_id, weight) VALUES (p_source, p_operator, p_weight);
$$;

CREATE FUNCTION tap.lead() RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO leads (email) VALUES ('lead' || nextval('tap.seq') || '@tap.test') RETURNING id;
$$;

CREATE FUNCTION tap.contact(p_source bigint, p_operator bigint DEFAULT NULL, p_status text DEFAULT 'active')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO contacts (lead_id, source_id, operator_id, status)
    VALUES (tap.lead(), p_source, p_operator, p_status) RETURNING id INTO v_id;
    IF p_operator IS NOT NULL AND p_status = 'active' THEN
        UPDATE operators SET active_contacts = active_contacts + 1 WHERE id = p_operator;
    END IF;
    RETURN v_id;
END
$$;

-- n waiting contacts (active, unassigned) of a source, oldest first
CREATE FUNCTION tap.waiting(p_source bigint, p_n integer) RETURNS bigint[]
LANGUAGE sql AS $$
    SELECT array_agg(tap.contact(p_source) ORDER BY g) FROM generate_series(1, p_n) g;
$$;

-- n active contacts assigned to an operator (its load grows by n)
CREATE FUNCTION tap.fill(p_source bigint, p_operator bigint, p_n integer) RETURNS bigint[]
LANGUAGE sql AS $$
    SELECT array_agg(tap.contact(p_source, p_operator) ORDER BY g) FROM generate_series(1, p_n) g;
$$;

CREATE FUNCTION tap.load(p_operator bigint) RETURNS integer
LANGUAGE sql AS $$
    SELECT active_contacts FROM operators WHERE id = p_operator;
$$;

CREATE FUNCTION tap.operator_of(p_contact bigint) RETURNS bigint
LANGUAGE sql AS $$
    SELECT operator_id FROM contacts WHERE id = p_contact;
$$;

CREATE FUNCTION tap.status_of(p_contact bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT status FROM contacts WHERE id = p_contact;
$$;

-- (the history: the intake's decision kept with the contact, and the rows of assignments)
CREATE FUNCTION tap.history_count(p_contact bigint) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM assignment_history WHERE contact_id = p_contact;
$$;

-- the newest history entry of a contact
CREATE FUNCTION tap.last_assignment(p_contact bigint) RETURNS assignment_history
LANGUAGE sql AS $$
    SELECT * FROM assignment_history WHERE contact_id = p_contact ORDER BY id DESC LIMIT 1;
$$;

-- the candidates of the newest history entry as the API shows them
CREATE FUNCTION tap.last_candidates(p_contact bigint) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT h.candidates::jsonb FROM crm_history(p_contact) h ORDER BY h.id DESC LIMIT 1;
$$;

CREATE FUNCTION tap.counts_exact() RETURNS boolean
LANGUAGE sql AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM operators o
         WHERE o.active_contacts <> (SELECT count(*) FROM contacts c
                                      WHERE c.operator_id = o.id AND c.status = 'active'));
$$;

-- the operators' loads as one comparable value, e.g. '{3,0}'
CREATE FUNCTION tap.loads(p_operators bigint[]) RETURNS integer[]
LANGUAGE sql AS $$
    SELECT array_agg(o.active_contacts ORDER BY x.n)
      FROM unnest(p_operators) WITH ORDINALITY x(id, n) JOIN operators o ON o.id = x.id;
$$;

CREATE FUNCTION tap.connect(p_name text) RETURNS text
LANGUAGE sql AS $$
    -- over the unix socket: the server's OS user postgres is role postgres by peer authentication
    -- (TCP would need a password, which the server's own libpq has no file for)
    SELECT dblink_connect(p_name, format('host=%s port=%s dbname=%s user=postgres',
                                         split_part(current_setting('unix_socket_directories'), ',', 1),
                                         current_setting('port'), current_database()));
$$;

-- crm_contact_update's answer as one text: the error code, or 'ok'
CREATE FUNCTION tap.upd(p_id bigint, p_status text, p_set boolean, p_operator bigint, p_batch integer DEFAULT 32)
RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(r.o_error::text, 'ok') FROM crm_contact_update(p_id, p_status, p_set, p_operator, p_batch) r;
$$;

-- a contact, its operator and its history as one comparable value: nothing written when refused
CREATE FUNCTION tap.state(p_contact bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT row(c.status, c.operator_id, tap.history_count(c.id),
               (SELECT array_agg(o.active_contacts ORDER BY o.id) FROM operators o))::text
      FROM contacts c WHERE c.id = p_contact;
$$;

-- two sessions: one value from another session (dblink connection p_conn), committed at once
-- unless that session is inside BEGIN
CREATE FUNCTION tap.remote(p_conn text, p_sql text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT v FROM dblink(p_conn, p_sql) AS t(v bigint);
$$;

CREATE FUNCTION tap.remote_ids(p_conn text, p_sql text) RETURNS bigint[]
LANGUAGE sql AS $$
    SELECT v FROM dblink(p_conn, p_sql) AS t(v bigint[]);
$$;

-- true once backend p_pid waits on p_type ('Lock': a row lock; 'Timeout': pg_sleep), at most 10 s
CREATE FUNCTION tap.waits(p_pid integer, p_type text DEFAULT 'Lock') RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 1000 LOOP
        PERFORM pg_stat_clear_snapshot();
        IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = p_pid AND wait_event_type = p_type) THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN false;
END
$$;

CREATE FUNCTION tap.pid(p_conn text) RETURNS integer
LANGUAGE sql AS $$
    SELECT tap.remote(p_conn, 'SELECT pg_backend_pid()')::integer;
$$;

-- the crm_backlog notifications session p_conn (which LISTENs) received: waits until at least
-- p_min arrived (at most 5 s), then returns how many
CREATE FUNCTION tap.notifications(p_conn text, p_min integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := 0;
BEGIN
    FOR i IN 1 .. 500 LOOP
        v_n := v_n + (SELECT count(*) FROM dblink_get_notify(p_conn) WHERE notify_name = 'crm_backlog');
        EXIT WHEN v_n >= p_min AND i > 1;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN v_n;
END
$$;

-- runs a query in another session and discards its rows; returns how many there were
CREATE FUNCTION tap.run(p_conn text, p_sql text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT tap.remote(p_conn, 'SELECT count(*) FROM (' || p_sql || ') q');
$$;
