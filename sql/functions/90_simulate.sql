-- 90_simulate.sql -- what the dry run (POST /api/sources/{id}/simulate) reads: one row per
-- operator of a configuration, as it stands now
--
-- Reads only (STABLE, no lock: the caller runs it in a READ ONLY transaction, so an intake
-- never waits for it and it never waits for an intake). The configuration is the source's
-- (p_operators NULL) or a preview given as parallel arrays of operator ids and weights, which is
-- not stored; preview ids that name no operator give no row (the caller reports them as 422
-- first). `eligible_now` is crm_eligible(o), the rule every distribution uses, so a condition
-- added to it later (an operator's shift) reaches the dry run without a change here; the free
-- slots are max_load_limit - load of the eligible ones (src/simulate.c).

CREATE OR REPLACE FUNCTION crm_simulate_inputs(p_source bigint, p_operators bigint[], p_weights integer[])
RETURNS TABLE (operator_id bigint, weight integer, load integer, max_load_limit integer, eligible_now boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.operator_id, c.weight, o.active_contacts, o.max_load_limit, crm_eligible(o)
      FROM (SELECT so.operator_id, so.weight
              FROM source_operators so
             WHERE p_operators IS NULL AND so.source_id = p_source
            UNION ALL
            SELECT t.operator_id, t.weight
              FROM unnest(p_operators, p_weights) AS t(operator_id, weight)
             WHERE p_operators IS NOT NULL) c
      JOIN operators o ON o.id = c.operator_id
     ORDER BY c.operator_id
$$;
