-- 40_backlog.sql -- assigning the contacts that wait for an operator
--
-- Whenever capacity may appear (a contact closed or unassigned, an operator activated or its
-- limit raised, a source's weights configured) the transaction that made it drains the
-- affected sources' queues, oldest first, up to a bounded batch. If the batch was used up it
-- sends NOTIFY crm_backlog, delivered at commit, and the drainer process finishes the queue.
--
-- Locks: a drain never waits. Waiting contacts are taken with FOR UPDATE SKIP LOCKED and
-- operators with FOR NO KEY UPDATE SKIP LOCKED: an operator locked by another transaction is
-- being changed there, and that transaction drains for it itself. Only the intake (which holds
-- one operator at a time) and a contact update (which locks its operators in id order) wait
-- for operator rows, so no cycle of waits can form.

-- Assigns waiting contacts of one source, oldest first, until nobody is eligible or p_max
-- contacts were assigned. Returns how many were assigned.
--
-- Two ways, the same rule. A source with many active operators (more than 4 x p_max) is drained
-- by weighted draws like the intake's (crm_drain_source_draws): O(p_max log N), no operator
-- row locked but those that take a contact; the set-based way (crm_drain_source_set) locks every
-- eligible operator of the source, O(N) per batch, and finishes what the draws leave (most of
-- the source full or busy elsewhere). Waiting contacts with a lapsed set (an operator let them
-- time out) are left to crm_drain_source_lapsed, which goes first.
-- A least-loaded source (sources.mode, 0015_source_mode.sql) never takes the draws (they are the
-- weighted rule): its batch is the set-based one, whose arrivals are then the slots in
-- least-loaded order (crm_drain_source_set).
CREATE OR REPLACE FUNCTION crm_drain_source(p_source bigint, p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_done integer := 0;
BEGIN
    IF p_max <= 0 THEN
        RETURN 0;
    END IF;
    -- contacts some operator let time out first, each without those operators (47_accept.sql)
    v_done := crm_drain_source_lapsed(p_source, p_max);
    IF v_done = p_max THEN
        RETURN v_done;
    END IF;
    IF (SELECT v.active - v.off_shift FROM source_versions v WHERE v.source_id = p_source ORDER BY v.version DESC LIMIT 1)
       > 4 * p_max AND (SELECT s.mode FROM sources s WHERE s.id = p_source) = 'weighted_random' THEN
        v_done := v_done + crm_drain_source_draws(p_source, p_max - v_done);
        IF v_done = p_max THEN
            RETURN v_done;
        END IF;
    END IF;
    RETURN v_done + crm_drain_source_set(p_source, p_max - v_done);
END
$$;

-- The draws: for each of the oldest waiting contacts (at most p_max, locked SKIP LOCKED), an
-- active operator of the latest version drawn by weight (one index probe) and taken with
-- crm_take_operator's conditional UPDATE, skipping an operator another transaction holds (a
-- drain never waits); a rejected draw (full, inactive, held elsewhere) is repeated, at most 8
-- times, then the draws stop and the contacts left stay for the set-based way. Accepting draws
-- by weight until one is eligible gives each eligible operator weight / sum of the eligible
-- weights, the rule of 20_candidates.sql. History: as the intake's (30_intake.sql): the version,
-- and as ineligible the version's active operators at their limit (source_operator_full, plus
-- those this batch filled) and those a draw rejected.
CREATE OR REPLACE FUNCTION crm_drain_source_draws(p_source bigint, p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_ver      source_versions;
    v_full     bigint[];
    v_contact  bigint;
    v_pick     bigint;
    v_r        bigint;   -- uniform in [0, active weight)
    v_take     record;
    v_rejected bigint[];
    v_ids      bigint[] := '{}';
    v_ops      bigint[] := '{}';
BEGIN
    SELECT * INTO v_ver FROM source_versions v WHERE v.source_id = p_source ORDER BY v.version DESC LIMIT 1;
    IF coalesce(v_ver.active_weight, 0) = 0 THEN
        RETURN 0;
    END IF;
    v_full := ARRAY(SELECT f.operator_id FROM source_operator_full f
                      JOIN source_version_operators vo
                        ON vo.source_id = f.source_id AND vo.version = v_ver.version AND vo.operator_id = f.operator_id
                     WHERE f.source_id = p_source AND vo.cum_weight IS NOT NULL);
    FOR v_contact IN
        SELECT c.id FROM contacts c
         WHERE c.source_id = p_source AND c.operator_id IS NULL AND c.status = 'active' AND c.lapsed = '{}'
         ORDER BY c.id LIMIT p_max
           FOR UPDATE SKIP LOCKED
    LOOP
        v_rejected := '{}';
        FOR i IN 1 .. 8 LOOP
            v_r := floor(random() * v_ver.active_weight)::bigint;  -- once: random() in the WHERE would be per row
            SELECT vo.operator_id INTO v_pick FROM source_version_operators vo
             WHERE vo.source_id = p_source AND vo.version = v_ver.version
               AND vo.cum_weight > v_r
             ORDER BY vo.cum_weight LIMIT 1;
            SELECT * INTO v_take FROM crm_take_operator(p_source, ARRAY[v_pick], true);
            EXIT WHEN v_take.o_operator IS NOT NULL;
            v_rejected := v_rejected || v_pick;
        END LOOP;
        EXIT WHEN v_take.o_operator IS NULL;  -- most of the source full or busy: the set-based way
        INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, version, ineligible)
        SELECT v_contact, v_take.o_operator, 'backlog', v_take.o_load, v_take.o_limit, v_ver.version,
               nullif(ARRAY(SELECT DISTINCT x FROM unnest(v_full || v_rejected) x
                             WHERE x IS NOT NULL AND x <> v_take.o_operator ORDER BY x), '{}');
        IF v_take.o_load + 1 >= v_take.o_limit THEN
            v_full := v_full || v_take.o_operator;
        END IF;
        v_ids := v_ids || v_contact;
        v_ops := v_ops || v_take.o_operator;
    END LOOP;
    UPDATE contacts c SET operator_id = t.op FROM unnest(v_ids, v_ops) AS t(id, op) WHERE c.id = t.id;
    RETURN cardinality(v_ids);
END
$$;

-- The set-based way: every eligible operator of the source locked at once.
--
-- DESIGN (set-based batch, three statements whatever the batch size):
-- 1. the source's eligible operators are locked, skipping those another transaction holds
--    (SKIP LOCKED: a drain never waits); under the lock their loads cannot change until commit,
--    so their free slots (max_load_limit - load) are known exactly;
-- 2. the oldest waiting contacts, at most p_max and at most that many slots, are locked (SKIP
--    LOCKED); a waiting contact is only ever locked by a transaction that then assigns it, so
--    a drain with no free operator never holds back the oldest contact from one that has one;
-- 3. one statement draws an operator for each of them, in queue order, updates the counters
--    (one UPDATE per operator), the contacts and appends the history.
-- The operators and weights are those of the source's latest configuration version
-- (0010_config_versions.sql), which the history rows reference.
-- The draw is the sequential rule of 20_candidates.sql done at once: each operator i is a
-- Poisson process of rate weight_i, its j-th arrival at the sum of j exponential clocks
-- -ln(1 - U) / weight_i, and it has as many arrivals as free slots. The r-th earliest arrival
-- of all goes to the r-th oldest contact: by memorylessness that arrival belongs to operator i
-- with probability weight_i / the sum of the weights of the operators with a slot left, which
-- is the rule applied contact after contact. Each history row records what its own take saw:
-- the chosen operator's load just before (its load when locked + its earlier takes in the batch),
-- and which active operators of the version were not eligible then (not locked by this drain:
-- at their limit, or held by another transaction; or their free slots used by earlier takes of
-- the batch), as the shorter of the two lists (eligible / ineligible).
-- No step rescans the queue: the contacts are read once, with one index range scan.
-- A least-loaded source (sources.mode) has the same batch with other arrivals: operator i's j-th
-- free slot arrives at its key crm_load_key(load + j - 1, weight) (20_candidates.sql), ties in
-- the order of exponential clocks -ln(1 - U) / weight; the r-th oldest contact gets the r-th
-- slot, which is the least-loaded rule applied contact after contact (each operator has at most
-- one slot in a tie, so the clocks give the weighted draw among the tied). History rows note
-- 'least_loaded'.
CREATE OR REPLACE FUNCTION crm_drain_source_set(p_source bigint, p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_version  integer;
    v_ops      bigint[];   -- the eligible operators locked by this drain
    v_weights  integer[];
    v_free     integer[];  -- their free slots
    v_loads    integer[];  -- their loads (least loaded)
    v_least    boolean;    -- sources.mode = 'least_loaded'
    v_others   bigint[];   -- the version's active operators not locked by this drain
    v_contacts bigint[];   -- the waiting contacts locked by this drain, oldest first
    v_done     integer;
BEGIN
    PERFORM 1 FROM contacts c  -- (ORDER BY: the queue's index, whatever the estimates say)
      WHERE c.source_id = p_source AND c.operator_id IS NULL AND c.status = 'active' AND c.lapsed = '{}' ORDER BY c.id LIMIT 1;
    IF NOT FOUND OR p_max <= 0 THEN
        RETURN 0;  -- nobody waiting (the common case): no operator is touched
    END IF;
    SELECT max(v.version) INTO v_version FROM source_versions v WHERE v.source_id = p_source;
    IF v_version IS NULL THEN
        RETURN 0;  -- never configured
    END IF;
    SELECT s.mode = 'least_loaded' INTO v_least FROM sources s WHERE s.id = p_source;
    SELECT array_agg(e.id ORDER BY e.id), array_agg(e.weight ORDER BY e.id), array_agg(e.free ORDER BY e.id),
           array_agg(e.active_contacts ORDER BY e.id)
      INTO v_ops, v_weights, v_free, v_loads
      FROM (SELECT o.id, vo.weight, o.max_load_limit - o.active_contacts AS free, o.active_contacts
              FROM source_version_operators vo JOIN operators o ON o.id = vo.operator_id
             WHERE vo.source_id = p_source AND vo.version = v_version AND vo.cum_weight IS NOT NULL
               AND crm_eligible(o)
               FOR NO KEY UPDATE OF o SKIP LOCKED) e;
    IF v_ops IS NULL THEN
        RETURN 0;  -- nobody eligible (or every eligible one busy elsewhere)
    END IF;
    v_others := crm_version_active_except(p_source, v_version, v_ops);
    v_contacts := ARRAY(
        SELECT c.id FROM contacts c
         WHERE c.source_id = p_source AND c.operator_id IS NULL AND c.status = 'active' AND c.lapsed = '{}'
         ORDER BY c.id
         LIMIT least(p_max, (SELECT sum(f) FROM unnest(v_free) f))
           FOR UPDATE SKIP LOCKED);
    WITH ops AS (
        SELECT t.id, t.weight, t.free, t.load FROM unnest(v_ops, v_weights, v_free, v_loads) AS t(id, weight, free, load)
    ), arrivals AS (
        SELECT ops.id,
               CASE WHEN v_least THEN crm_load_key(ops.load + j - 1, ops.weight)
                    ELSE sum(-ln(1.0 - random()) / ops.weight) OVER (PARTITION BY ops.id ORDER BY j) END AS at,
               CASE WHEN v_least THEN -ln(1.0 - random()) / ops.weight END AS tie
          FROM ops, generate_series(1, least(ops.free, cardinality(v_contacts))) j
    ), takes AS MATERIALIZED (  -- the r-th oldest contact gets the r-th arrival
        SELECT w.contact, w.r, a.id AS operator_id
          FROM (SELECT a.id, row_number() OVER (ORDER BY a.at, a.tie) AS r FROM arrivals a) a
          JOIN unnest(v_contacts) WITH ORDINALITY AS w(contact, r) ON w.r = a.r
    ), counted AS (
        UPDATE operators o SET active_contacts = o.active_contacts + n.n
          FROM (SELECT t.operator_id, count(*) AS n FROM takes t GROUP BY t.operator_id) n
         WHERE o.id = n.operator_id
    ), assigned AS (
        UPDATE contacts c SET operator_id = t.operator_id FROM takes t WHERE c.id = t.contact
    ), numbered AS (  -- each take's place among its operator's takes
        SELECT t.*, row_number() OVER (PARTITION BY t.operator_id ORDER BY t.r) AS k FROM takes t
    ), used_up AS (  -- the operators whose last free slot a take used, and at which take
        SELECT n.operator_id, n.r FROM numbered n JOIN ops ON ops.id = n.operator_id WHERE n.k = ops.free
    ), taken AS (
        SELECT n.r, n.contact, n.operator_id, n.k, ops.weight, ops.free,
               ARRAY(SELECT u.operator_id FROM used_up u WHERE u.r < n.r ORDER BY u.operator_id) AS gone
          FROM numbered n JOIN ops ON ops.id = n.operator_id
    )
    INSERT INTO assignments (contact_id, operator_id, reason, load_before, load_limit, version, eligible, ineligible,
                             note)
    SELECT r.contact, r.operator_id, 'backlog', o.active_contacts + r.k - 1, o.max_load_limit,
           v_version,
           CASE WHEN cardinality(v_others) + cardinality(r.gone) > cardinality(v_ops) - cardinality(r.gone)
                THEN ARRAY(SELECT x FROM unnest(v_ops) x WHERE x <> ALL (r.gone) ORDER BY x) END,
           CASE WHEN cardinality(v_others) + cardinality(r.gone) BETWEEN 1 AND cardinality(v_ops) - cardinality(r.gone)
                THEN ARRAY(SELECT x FROM unnest(v_others || r.gone) x ORDER BY x) END,
           CASE WHEN v_least THEN 'least_loaded' END
      FROM taken r JOIN operators o ON o.id = r.operator_id
     ORDER BY r.r;
    GET DIAGNOSTICS v_done = ROW_COUNT;
    RETURN v_done;
END
$$;

-- Drains the given sources with a shared budget; wakes the drainer if the budget ran out. What
-- it assigned is told to the drainer too (NOTIFY crm_drained, delivered only if the transaction
-- commits), which counts it in /metrics: the requests that drain (a close, a raised limit...) do
-- not know it, their statements return the row they changed.
CREATE OR REPLACE FUNCTION crm_drain_sources(p_sources bigint[], p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_done   integer := 0;
    v_source bigint;
BEGIN
    FOREACH v_source IN ARRAY coalesce(p_sources, '{}') LOOP
        EXIT WHEN v_done >= p_max;
        v_done := v_done + crm_drain_source(v_source, p_max - v_done);
    END LOOP;
    IF v_done >= p_max THEN
        PERFORM pg_notify('crm_backlog', '');
    END IF;
    IF v_done > 0 THEN -- counted by the drainer in crm_assignments_total{reason="backlog"}, at commit only
        PERFORM pg_notify('crm_drained', v_done::text);
    END IF;
    RETURN v_done;
END
$$;

CREATE OR REPLACE FUNCTION crm_operator_sources(p_operator bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(so.source_id ORDER BY so.source_id), '{}')
              FROM source_operators so WHERE so.operator_id = p_operator);
END
$$;

-- The drainer's pass: every source with waiting contacts, p_max_per_source each.
CREATE OR REPLACE FUNCTION crm_drain_all(p_max_per_source integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_done   integer := 0;
    v_source bigint;
BEGIN
    FOR v_source IN
        SELECT DISTINCT c.source_id FROM contacts c WHERE c.operator_id IS NULL AND c.status = 'active'
    LOOP
        v_done := v_done + crm_drain_source(v_source, p_max_per_source);
    END LOOP;
    RETURN v_done;
END
$$;

-- The drainer's step: the first source after p_after (in id order) with waiting contacts,
-- drained of at most p_max of them; returns that source and how many were assigned, or a NULL
-- source when no source after p_after has anyone waiting. The drainer calls it in autocommit
-- and walks the sources with it (p_after = the source it returned), so every step is one short
-- transaction: the operator rows a batch took are unlocked at its commit, and an intake waits
-- for one batch at most, never for a pass over the whole backlog. crm_drain_all (one
-- transaction for the whole pass) stays for drainers of the previous release.
CREATE OR REPLACE FUNCTION crm_drain_next(p_after bigint, p_max integer, OUT o_source bigint, OUT o_assigned integer)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.source_id INTO o_source FROM contacts c
     WHERE c.source_id > p_after AND c.operator_id IS NULL AND c.status = 'active'
     ORDER BY c.source_id LIMIT 1;
    o_assigned := 0;
    IF o_source IS NOT NULL THEN
        o_assigned := crm_drain_source(o_source, p_max);
    END IF;
END
$$;
