-- min_intake.sql -- the physical limit of a distribution (issue 11): the minimal transaction,
-- one plpgsql function created in the benchmark's database only (never in the application's
-- schema): upsert the lead, take an operator of the source with one conditional counter UPDATE
-- (a random configured one, eligible under its row lock), insert the contact; one commit.
-- tests/bench/cost replays it with pgbench (min_intake.pgbench.sql) as the ceiling of POST.
CREATE OR REPLACE FUNCTION bench_min_intake(p_email text, p_source bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_lead bigint;
    v_op   bigint;
    v_id   bigint;
BEGIN
    INSERT INTO leads AS l (email) VALUES (p_email)
        ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING l.id INTO v_lead;
    UPDATE operators o SET active_contacts = o.active_contacts + 1
     WHERE o.id = (SELECT so.operator_id FROM source_operators so WHERE so.source_id = p_source
                    ORDER BY so.operator_id OFFSET floor(random() * 10) LIMIT 1)
       AND o.is_active AND o.active_contacts < o.max_load_limit
    RETURNING o.id INTO v_op;
    INSERT INTO contacts (lead_id, source_id, operator_id) VALUES (v_lead, p_source, v_op) RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
