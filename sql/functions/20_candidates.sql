-- 20_candidates.sql -- a source's candidates: the weighted random order, the history's snapshot,
-- and taking one operator's slot
--
-- DESIGN: the weighted order lives here, in SQL, and nowhere else. The backlog is drained
-- inside the SQL of other transactions (a contact closed or unassigned, an operator activated,
-- a source configured) and by the drainer, so only SQL can serve them and the intake alike;
-- and drawing the order inside crm_intake makes a distribution one round trip, not two.
--
-- The rule: the operators eligible when read come first; within each group they are ordered
-- by exponential clocks -ln(1 - U) / weight. The smallest clock belongs to operator i with
-- probability weight_i / sum of the group's weights, and the whole order is successive
-- sampling without replacement. The distributions hand crm_take_operator only the first group
-- (o_order[1:o_eligible], the operators eligible when read), and it takes the first of them
-- that is still eligible under its row lock, so the operator chosen is drawn with probability
-- weight / sum of the weights of the operators eligible at that moment. An operator that was
-- ineligible when read is never tried: when nobody is eligible no operator row is touched (no
-- N failed conditional UPDATEs), and one that gained room since is served by the transaction
-- that gave it room (it drains the queues, 40_backlog.sql) or by the drainer.
--
-- The candidates are read once per decision: the same rows give the order and the snapshot the
-- history records (operator_id, weight, load, max_load_limit, is_active; by operator id).

-- o_eligible was added to the result (the same argument list): CREATE OR REPLACE cannot change
-- a result type, so the old definition goes first (nothing stores a reference to it).
DROP FUNCTION IF EXISTS crm_candidates(bigint);

CREATE OR REPLACE FUNCTION crm_candidates(p_source bigint, OUT o_order bigint[], OUT o_snapshot jsonb,
                                          OUT o_eligible integer, OUT o_active integer)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT coalesce(array_agg(so.operator_id
                    ORDER BY NOT crm_eligible(o), -ln(1.0 - random()) / so.weight), '{}'),
           count(*) FILTER (WHERE crm_eligible(o)), count(*) FILTER (WHERE o.is_active),
           coalesce(jsonb_agg(jsonb_build_object(
                    'operator_id', o.id, 'weight', so.weight, 'load', o.active_contacts,
                    'max_load_limit', o.max_load_limit, 'is_active', o.is_active) ORDER BY o.id), '[]')
      INTO o_order, o_eligible, o_active, o_snapshot
      FROM source_operators so JOIN operators o ON o.id = so.operator_id
     WHERE so.source_id = p_source;
END
$$;

-- The weighted random order alone (see above).
CREATE OR REPLACE FUNCTION crm_weighted_order(p_source bigint) RETURNS bigint[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (SELECT c.o_order FROM crm_candidates(p_source) c);
END
$$;

-- The snapshot alone: every operator configured for the source, as seen now. (VOLATILE only
-- because crm_candidates also draws the order; the snapshot itself is deterministic.)
CREATE OR REPLACE FUNCTION crm_candidates_snapshot(p_source bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (SELECT c.o_snapshot FROM crm_candidates(p_source) c);
END
$$;

-- Why nobody was chosen, from the counts of the candidates read (crm_candidates: how many are
-- configured, how many of them active), so that a contact nobody could take costs no pass over
-- the snapshot. (It took the snapshot before; the old signature goes.)
DROP FUNCTION IF EXISTS crm_no_choice_reason(jsonb);
CREATE OR REPLACE FUNCTION crm_no_choice_reason(p_configured integer, p_active integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_configured = 0 THEN 'no operators configured'
        WHEN p_active = 0 THEN 'all inactive'
        ELSE 'all at limit'
    END
$$;

-- Takes one slot of the first operator of p_order that is still configured for the source and
-- eligible, with a conditional UPDATE of its counter: the UPDATE holds the row lock until
-- commit, and PostgreSQL re-checks its WHERE clause on the newest row version after waiting
-- for a concurrent writer, so no two transactions can both take an operator's last slot. With
-- p_skip_locked, operators locked by others are passed over (drains never wait): the row is
-- locked SKIP LOCKED by the UPDATE's own subquery (an initplan, run only when that branch of the
-- CASE is taken), so a candidate costs one statement either way.
CREATE OR REPLACE FUNCTION crm_take_operator(p_source bigint, p_order bigint[], p_skip_locked boolean,
                                             OUT o_operator bigint, OUT o_load integer, OUT o_limit integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_cand bigint;
BEGIN
    FOREACH v_cand IN ARRAY p_order LOOP
        UPDATE operators o
           SET active_contacts = o.active_contacts + 1
         WHERE o.id = CASE WHEN p_skip_locked
                           THEN (SELECT x.id FROM operators x WHERE x.id = v_cand FOR NO KEY UPDATE SKIP LOCKED)
                           ELSE v_cand END
           AND crm_eligible(o)
           AND EXISTS (SELECT 1 FROM source_operators so
                        WHERE so.source_id = p_source AND so.operator_id = v_cand)
        RETURNING o.id, o.active_contacts - 1, o.max_load_limit INTO o_operator, o_load, o_limit;
        EXIT WHEN o_operator IS NOT NULL;
    END LOOP;
END
$$;

-- The active operators of a source's configuration version (cum_weight not NULL) that are not
-- in p_except, by id: what an intake that read the whole eligible order (p_except) of the
-- version records as ineligible (30_intake.sql, the exact way of either mode; the drain's
-- set-based batch, 40_backlog.sql).
CREATE OR REPLACE FUNCTION crm_version_active_except(p_source bigint, p_version integer, p_except bigint[])
RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(SELECT vo.operator_id FROM source_version_operators vo
                  WHERE vo.source_id = p_source AND vo.version = p_version AND vo.cum_weight IS NOT NULL
                    AND vo.operator_id <> ALL (p_except)
                  ORDER BY vo.operator_id)
$$;

-- The least-loaded rule (sources.mode = 'least_loaded', sql/0015_source_mode.sql): the eligible
-- operator with the smallest load / weight first, ties broken by the weighted draw.
--
-- The key is active_contacts / weight as float8: IEEE division is correctly rounded, so equal
-- ratios give equal keys (2/4 and 1/2 tie, as they must), and two different ratios of loads and
-- weights up to 10^6 differ by a relative 1/(load x weight) >= 10^-12, far above float8's 10^-16,
-- so they never collide. (numeric division picks its scale from the operands' digits, so equal
-- ratios are not guaranteed equal keys.) Within a tie the exponential clocks of the weighted order
-- above decide: the first is drawn with probability weight / the tied weights, and the rest follow
-- by successive sampling, which is what a run of arrivals does to a tie (the dry run relies on it:
-- src/simulate.c, least loaded).
CREATE OR REPLACE FUNCTION crm_load_key(p_load integer, p_weight integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT p_load::double precision / p_weight $$;

-- The eligible operators of a source's configuration version (its active ones: cum_weight not
-- NULL, crm_eligible now) in the least-loaded order, at most p_limit of them (NULL: all): one pass
-- over the version's active operators, a top-p_limit sort. O(N) in them: the least-loaded intake
-- reads every one (README "Least loaded": what that costs).
-- Its plan is the generic one, always: each operator fetched by its key (LATERAL ... OFFSET 0 keeps
-- the nested loop), which the planner prices above a custom plan (it expects a source's worth of
-- rows for any parameters) and would therefore replan at every call: measured 0.44 ms a call
-- against 0.13 ms with the generic plan (10 operators, loaded 2-core machine).
CREATE OR REPLACE FUNCTION crm_least_loaded_order(p_source bigint, p_version integer, p_limit integer)
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN ARRAY(SELECT o.id FROM source_version_operators vo
                  CROSS JOIN LATERAL (SELECT o.id, o.active_contacts FROM operators o
                                       WHERE o.id = vo.operator_id AND crm_eligible(o) OFFSET 0) o
                  WHERE vo.source_id = p_source AND vo.version = p_version AND vo.cum_weight IS NOT NULL
                  ORDER BY crm_load_key(o.active_contacts, vo.weight), -ln(1.0 - random()) / vo.weight
                  LIMIT p_limit);
END
$$;
