-- 0008_source_counts.sql -- the counts of GET /api/sources/{id}/stats, kept as contacts change
--
-- The stats of a source counted its contacts (linear in them: 32 ms at 56 k contacts). Two
-- counter tables now hold what it reads, changed by statement triggers on contacts in the same
-- transaction as the contacts they count, so they are exact under any concurrency (a counter
-- row is updated under its row lock, like operators.active_contacts), and the stats cost
-- O(operators of the source):
--   source_operator_counts: per (source, operator), the source's contacts that have this
--     operator, whatever their status (the stats' "assigned"; their sum is "assigned_total");
--   source_waiting: per source, its active contacts without an operator (the queue's length),
--     in 16 shards by contact id (the stats add them up): when nobody can take a source's
--     contacts, every intake of it changes this count, and one row would make those intakes
--     wait for each other's commits; a contact's row versions always meet the same shard.
-- (No CHECK (>= 0): an upsert checks the row it proposes before it meets the conflict, and a
-- decrement proposes a negative row.) One statement changes each counter row once (its rows' deltas are summed first), in key
-- order, so two transactions meet the counter rows in the same order. A transaction that
-- changes a contact's operator already holds that operator's row lock (the intake's and the
-- drain's take, a contact update's locks in id order), so the (source, operator) counter rows
-- add no new wait between them; source_waiting rows are shared by contacts nobody could take
-- (16 per source), and they are the last rows such a transaction locks.
-- No foreign keys: sources and operators are never deleted, and a key check per counter row
-- would cost every intake. Counts start from the contacts already stored (the table is locked
-- against writers meanwhile).

CREATE TABLE source_operator_counts (
    source_id   bigint NOT NULL,
    operator_id bigint NOT NULL,
    assigned    bigint NOT NULL,
    PRIMARY KEY (source_id, operator_id)
);

CREATE TABLE source_waiting (
    source_id bigint NOT NULL,
    shard     smallint NOT NULL,  -- contact id % 16: see above
    waiting   bigint NOT NULL,
    PRIMARY KEY (source_id, shard)
);

-- The statement's changes as (source, operator, waiting, delta) rows: +1 for every new row
-- version, -1 for every old one, summed per counter row. The transition tables are "n" (new
-- rows) and "o" (old rows); an INSERT has only n, a DELETE only o, an UPDATE both, hence one
-- statement per case (a statement naming a transition table the trigger lacks cannot run).
CREATE FUNCTION crm_contacts_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
    WITH d AS (
        SELECT n.source_id, n.operator_id, n.operator_id IS NULL AND n.status = 'active' AS waiting,
               (n.id % 16)::smallint AS shard, 1 AS d FROM n
    ), a AS (
        INSERT INTO source_operator_counts AS k (source_id, operator_id, assigned)
        SELECT d.source_id, d.operator_id, sum(d.d) FROM d
         WHERE d.operator_id IS NOT NULL
         GROUP BY d.source_id, d.operator_id HAVING sum(d.d) <> 0
         ORDER BY d.source_id, d.operator_id
        ON CONFLICT (source_id, operator_id) DO UPDATE SET assigned = k.assigned + EXCLUDED.assigned
    )
    INSERT INTO source_waiting AS k (source_id, shard, waiting)
    SELECT d.source_id, d.shard, sum(d.d) FROM d
     WHERE d.waiting
     GROUP BY d.source_id, d.shard HAVING sum(d.d) <> 0
     ORDER BY d.source_id, d.shard
    ON CONFLICT (source_id, shard) DO UPDATE SET waiting = k.waiting + EXCLUDED.waiting;
    ELSIF TG_OP = 'UPDATE' THEN
    WITH d AS (
        SELECT n.source_id, n.operator_id, n.operator_id IS NULL AND n.status = 'active' AS waiting,
               (n.id % 16)::smallint AS shard, 1 AS d FROM n
        UNION ALL
        SELECT o.source_id, o.operator_id, o.operator_id IS NULL AND o.status = 'active', (o.id % 16)::smallint, -1 FROM o
    ), a AS (
        INSERT INTO source_operator_counts AS k (source_id, operator_id, assigned)
        SELECT d.source_id, d.operator_id, sum(d.d) FROM d
         WHERE d.operator_id IS NOT NULL
         GROUP BY d.source_id, d.operator_id HAVING sum(d.d) <> 0
         ORDER BY d.source_id, d.operator_id
        ON CONFLICT (source_id, operator_id) DO UPDATE SET assigned = k.assigned + EXCLUDED.assigned
    )
    INSERT INTO source_waiting AS k (source_id, shard, waiting)
    SELECT d.source_id, d.shard, sum(d.d) FROM d
     WHERE d.waiting
     GROUP BY d.source_id, d.shard HAVING sum(d.d) <> 0
     ORDER BY d.source_id, d.shard
    ON CONFLICT (source_id, shard) DO UPDATE SET waiting = k.waiting + EXCLUDED.waiting;
    ELSE
    WITH d AS (
        SELECT o.source_id, o.operator_id, o.operator_id IS NULL AND o.status = 'active' AS waiting,
               (o.id % 16)::smallint AS shard, -1 AS d FROM o
    ), a AS (
        INSERT INTO source_operator_counts AS k (source_id, operator_id, assigned)
        SELECT d.source_id, d.operator_id, sum(d.d) FROM d
         WHERE d.operator_id IS NOT NULL
         GROUP BY d.source_id, d.operator_id HAVING sum(d.d) <> 0
         ORDER BY d.source_id, d.operator_id
        ON CONFLICT (source_id, operator_id) DO UPDATE SET assigned = k.assigned + EXCLUDED.assigned
    )
    INSERT INTO source_waiting AS k (source_id, shard, waiting)
    SELECT d.source_id, d.shard, sum(d.d) FROM d
     WHERE d.waiting
     GROUP BY d.source_id, d.shard HAVING sum(d.d) <> 0
     ORDER BY d.source_id, d.shard
    ON CONFLICT (source_id, shard) DO UPDATE SET waiting = k.waiting + EXCLUDED.waiting;
    END IF;
    RETURN NULL;
END
$$;

LOCK TABLE contacts IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO source_operator_counts (source_id, operator_id, assigned)
SELECT c.source_id, c.operator_id, count(*) FROM contacts c WHERE c.operator_id IS NOT NULL
 GROUP BY c.source_id, c.operator_id;
INSERT INTO source_waiting (source_id, shard, waiting)
SELECT c.source_id, c.id % 16, count(*) FROM contacts c WHERE c.operator_id IS NULL AND c.status = 'active'
 GROUP BY c.source_id, c.id % 16;

CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION crm_contacts_count();
CREATE TRIGGER contacts_count_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION crm_contacts_count();
CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION crm_contacts_count();
