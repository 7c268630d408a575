-- 0004_repeatable_functions.sql -- functions leave the numbered migrations
--
-- From here on the numbered files hold tables, indexes, types and trigger bindings only, and
-- are never edited once released. Every function lives in sql/functions/*.sql, which
-- `crm migrate` re-applies (in name order, after the numbered files, in the same transaction)
-- whenever a file's checksum differs from the one recorded in crm_schema_repeatable.
--
-- A database made by an older binary ran the old 0002/0003, which created the functions. This
-- migration drops those whose signature or result type the new files change (CREATE OR
-- REPLACE cannot change them); the files then create the rest over the old definitions. On a
-- fresh database 0002/0003 create no functions, so the drops find nothing. Either way the
-- result is the same schema (tests/db/upgrade-check compares them).

-- the closed set of refusals of crm_contact_update (src/pg_queries.c maps each to an error)
CREATE TYPE crm_contact_update_error AS ENUM
    ('not_found', 'unknown_operator', 'not_configured', 'inactive', 'at_limit');

DROP FUNCTION IF EXISTS crm_intake(text, bigint, bigint[]);
DROP FUNCTION IF EXISTS crm_intake(text, bigint, bigint[], jsonb);
DROP FUNCTION IF EXISTS crm_contact_update(bigint, text, boolean, bigint, integer);
