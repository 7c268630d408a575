-- 0005_source_name_folded.sql -- source names are unique regardless of case and Unicode form
--
-- `Web` and `web`, or `é` as one code point (NFC) and as `e` + U+0301 (NFD), name the same
-- source: the unique index below compares names by their folded key normalize(lower(name), NFC)
-- (lower first, then NFC, so the key is itself in NFC whatever form the name came in). Both
-- functions are IMMUTABLE in PostgreSQL 15 (normalize needs a UTF8 database, which `crm` uses);
-- lower() follows the database's collation (C.UTF-8 here), so changing that collation means
-- REINDEX, as for any expression index on lower(). A violation is 409 (src/pg.c maps the
-- index name sources_name_folded_key). The stored name keeps the form it was given.
--
-- The old UNIQUE (name) is implied by the new index (equal names have equal keys) and is
-- dropped, so a source insert maintains one unique index instead of two.
--
-- An existing database may already hold names that collide under the new rule (`Web` and
-- `web` were two sources until now). The index cannot be built then; instead of PostgreSQL's
-- "could not create unique index", this migration stops with the list of colliding sources,
-- and nothing is changed (the whole migration is one transaction). Rename one source of each
-- group (UPDATE sources SET name = ... WHERE id = ...) and run `crm migrate` again.

DO $$
DECLARE
    v_groups text;
BEGIN
    SELECT string_agg(format('%s (ids %s)', g.names, g.ids), '; ')
      INTO v_groups
      FROM (SELECT string_agg(quote_literal(s.name), ', ' ORDER BY s.id) AS names,
                   string_agg(s.id::text, ', ' ORDER BY s.id) AS ids
              FROM sources s
             GROUP BY normalize(lower(s.name), NFC)
            HAVING count(*) > 1) g;
    IF v_groups IS NOT NULL THEN
        RAISE EXCEPTION 'migration 0005: source names that differ only in case or Unicode form must be made distinct first: %', v_groups
            USING HINT = 'rename one source of each group (UPDATE sources SET name = ... WHERE id = ...), then run crm migrate again';
    END IF;
END
$$;

CREATE UNIQUE INDEX sources_name_folded_key ON sources ((normalize(lower(name), NFC)));
ALTER TABLE sources DROP CONSTRAINT sources_name_key;
