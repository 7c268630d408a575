-- 0015_source_mode.sql -- a source's decision rule: weighted random (the default) or least loaded
--
--   sources.mode: 'weighted_random' (today's rule: an eligible operator drawn with probability
--     weight / sum of the eligible weights) or 'least_loaded' (the eligible operator with the
--     smallest active_contacts / weight, ties broken by the weighted draw). Set by
--     PATCH /api/sources/{id}; the constraint sources_mode is answered as 422 naming `mode`
--     (src/pg.c). Text with a named CHECK rather than an enum type: a later mode is one ALTER of
--     the constraint, and the API reads the value as it is stored.
--   Every distribution reads the mode with the source row it reads anyway (crm_intake's first
--   statement, crm_drain_source, crm_order_without): sql/functions/30_intake.sql, 40_backlog.sql,
--   47_accept.sql.

ALTER TABLE sources
    ADD COLUMN mode text NOT NULL DEFAULT 'weighted_random'
        CONSTRAINT sources_mode CHECK (mode IN ('weighted_random', 'least_loaded'));
