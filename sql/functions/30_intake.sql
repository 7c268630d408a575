-- 30_intake.sql -- one distribution as one statement (one round trip, one transaction)
--
-- crm_intake(email, source) finds or creates the lead, draws an operator of the source's latest
-- configuration version (0010_config_versions.sql) by weight and takes one slot of it with a
-- conditional counter UPDATE, and stores the contact (unassigned when nobody could be taken)
-- with the decision in its intake_* columns: no history row of its own. An unknown source
-- gives no row.
--
-- DESIGN (cost independent of the source's N operators in the common case):
-- 1. the version's header row gives the active operators' total weight W (those on shift:
--    0012_working_hours.sql); W = 0 (none configured, all inactive, all off shift) decides
--    "nobody" without touching any operator;
-- 2. an integer r uniform in [0, W) picks the active operator whose running weight sum first
--    exceeds r: one probe of source_version_operators_draw_idx, O(log N); crm_take_operator's
--    conditional UPDATE (active, below the limit, still configured) takes the slot, or the draw is rejected
--    and repeated, at most c_draws (8) times. Accepting draws by weight among the active
--    ones until one is eligible gives each eligible operator exactly weight / sum of the eligible
--    weights, the rule of 20_candidates.sql;
-- 3. after that many rejections (most of the source at its limit) the exact way: the active
--    operators eligible when read, in the weighted random order of 20_candidates.sql, to
--    crm_take_operator: O(N log N), and only when most of the source is full;
-- 4. the history's "which were eligible": the active operators of the version minus those at
--    their limit (source_operator_full, read in O(their number)) and those a draw rejected.
-- 5. a least-loaded source (sources.mode, 0015_source_mode.sql, read with the source row: a
--    weighted-random source pays one column) skips the draws: one pass over the version's active
--    operators (crm_least_loaded_order, 20_candidates.sql) gives the first c_least eligible ones
--    by load / weight, ties by the weighted draw, and crm_take_operator takes the first still
--    eligible under its row lock (the same take, so the same promise), passing over an operator
--    another transaction holds: concurrent intakes of a source would otherwise all queue on the
--    one least-loaded row and then all take it (the order is approximate under concurrency, the
--    limit never). If every one of them is held or full, the whole order is read again and taken
--    waiting, like the weighted way (a row this intake locked and found full is no longer in it, so
--    it waits only for rows others are taking). O(N) in the active operators, by design: the
--    smallest load / weight is a property of all of them. The history: the version, the chosen
--    operator's load and limit, as ineligible the version's active operators at their limit
--    (source_operator_full, as step 4) and those the take passed over (full, or held by another
--    intake at that moment), and the note 'least_loaded'.
--
-- STICKY (0014_sticky.sql): a source with sticky_window_seconds first offers the contact to the
-- operator of the lead's most recent contact (from any source: one backward probe of
-- contacts_lead_idx), if the latest history entry of that contact naming its current operator
-- (the intake decision, or the latest assignments row: every change of operator writes one) is
-- at most the window old at this transaction's time, through the same crm_take_operator with
-- that one operator (configured for this source and eligible now, under its row lock). Taken:
-- the decision records the earlier contact (intake_sticky_of: reason 'sticky' in the history).
-- Not taken, or no such operator: the usual draw below, as if the source had no window. A
-- source without a window pays one more column read.
--
-- Locks: the lead, then one operator row at a time (the take), then the source row FOR KEY
-- SHARE by the contact's foreign key (sources are never deleted, and nothing an intake waits
-- for locks a source more strongly than FOR NO KEY UPDATE, which KEY SHARE does not conflict
-- with; holding it from the start only lengthened the MultiXacts 64 concurrent intakes of one
-- source build on its row). Intakes take operator rows one at a time, so two cannot deadlock.

-- The Idempotency-Key of the request that posts the contact (p_idem_hash: crm_idem_contact_key,
-- p_idem_fp: the request's fingerprint) is written with it (0016: contacts.idem_hash, idem_fp);
-- both NULL without a key. With a key, a contact already holding it (the request retried, or an
-- expired key not swept yet) fails the INSERT on contacts_idem_hash_key, and the statement, its
-- take included, is undone: the keyed POST's first attempt assumes a new key and pays no lookup
-- for it (the unique index looks while it inserts); the worker then retries the careful way
-- (crm_idem_intake with p_probe, 70_idempotency.sql). A POST without a key pays nothing for this.
-- (the two-argument form came before the key arguments, and briefly one with a text key; the
-- result gained "sticky" (0014): CREATE OR REPLACE cannot change a result type)
DROP FUNCTION IF EXISTS crm_intake(text, bigint);
DROP FUNCTION IF EXISTS crm_intake(text, bigint, text, bytea);
DROP FUNCTION IF EXISTS crm_intake(text, bigint, bytea, bytea);
CREATE OR REPLACE FUNCTION crm_intake(p_email text, p_source bigint, p_idem_hash bytea DEFAULT NULL,
                                      p_idem_fp bytea DEFAULT NULL)
RETURNS TABLE (id bigint, lead_id bigint, source_id bigint, operator_id bigint, status text,
               created_at text, sticky boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c_draws    CONSTANT integer := 8;  -- draws before the exact way (step 3)
    c_least    CONSTANT integer := 16; -- least-loaded candidates tried without waiting (step 5)
    v_ver      source_versions;
    v_lead     bigint;
    v_pick     bigint;
    v_r        bigint;   -- uniform in [0, active weight)
    v_op       bigint;
    v_load     integer;
    v_limit    integer;
    v_rejected bigint[] := '{}';
    v_inel     bigint[];
    v_full     bigint[];  -- the version's active operators at their limit
    v_note     text;
    v_take     record;
    v_order    bigint[];
    v_mode     text;      -- sources.mode
    v_window   integer;  -- sources.sticky_window_seconds (NULL: not sticky)
    v_sticky   bigint;   -- the earlier contact a sticky decision follows
BEGIN
    -- (few statements: each one costs an executor start; this is the hot path)
    -- the source, its latest version and the version's active operators at their limit, read
    -- before the take (the operator row lock is then held only for the insert and the commit)
    SELECT s.mode, s.sticky_window_seconds, v.version, v.configured, v.active, v.active_weight, v.off_shift,
           ARRAY(SELECT f.operator_id FROM source_operator_full f
                   JOIN source_version_operators vo
                     ON vo.source_id = f.source_id AND vo.version = v.version AND vo.operator_id = f.operator_id
                  WHERE f.source_id = p_source AND vo.cum_weight IS NOT NULL)
      INTO v_mode, v_window, v_ver.version, v_ver.configured, v_ver.active, v_ver.active_weight, v_ver.off_shift, v_full
      FROM sources s
      LEFT JOIN LATERAL (SELECT * FROM source_versions v WHERE v.source_id = s.id
                          ORDER BY v.version DESC LIMIT 1) v ON true
     WHERE s.id = p_source;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    LOOP  -- a new lead in one statement, a known one in two
        INSERT INTO leads AS l (email) VALUES (p_email)
            ON CONFLICT (email) DO NOTHING
            RETURNING l.id INTO v_lead;
        EXIT WHEN FOUND;
        SELECT l.id INTO v_lead FROM leads l WHERE l.email = p_email;
        EXIT WHEN FOUND;
    END LOOP;

    IF v_window IS NOT NULL THEN  -- STICKY above: the earlier contact's operator, if it can take it
        SELECT e.id, t.o_operator, t.o_load, t.o_limit INTO v_sticky, v_op, v_load, v_limit
          FROM crm_sticky_earlier(v_lead, v_window) e,
               LATERAL crm_take_operator(p_source, ARRAY[e.operator_id], false) t;
        IF v_op IS NULL THEN
            v_sticky := NULL;
        ELSE
            v_inel := nullif(array_remove(v_full, v_op), '{}');
        END IF;
    END IF;

    IF v_op IS NULL AND coalesce(v_ver.active_weight, 0) > 0 AND v_mode = 'least_loaded' THEN  -- step 5
        v_order := crm_least_loaded_order(p_source, v_ver.version, c_least);
        SELECT * INTO v_take FROM crm_take_operator(p_source, v_order, true);
        IF v_take.o_operator IS NULL AND cardinality(v_order) > 0 THEN  -- all held or full: wait
            v_order := crm_least_loaded_order(p_source, v_ver.version, NULL);
            SELECT * INTO v_take FROM crm_take_operator(p_source, v_order, false);
            v_full := crm_version_active_except(p_source, v_ver.version, v_order);
        END IF;
        v_op := v_take.o_operator;
        v_load := v_take.o_load;
        v_limit := v_take.o_limit;
        IF v_op IS NOT NULL THEN
            v_note := 'least_loaded';
            v_order := v_order[1:array_position(v_order, v_op) - 1];  -- those passed over
            IF cardinality(v_full) + cardinality(v_order) > 0 THEN
                v_inel := ARRAY(SELECT DISTINCT x FROM unnest(v_full || v_order) x ORDER BY x);
            END IF;
        END IF;
    ELSIF v_op IS NULL AND coalesce(v_ver.active_weight, 0) > 0 THEN
        FOR i IN 1 .. c_draws LOOP
            v_r := floor(random() * v_ver.active_weight)::bigint;  -- once: random() in the WHERE would be per row
            -- the pick, and its take by crm_take_operator's conditional UPDATE (one place for
            -- it: the broken-variant proof replaces exactly that function)
            SELECT p.pick, t.o_operator, t.o_load, t.o_limit INTO v_pick, v_op, v_load, v_limit
              FROM (SELECT vo.operator_id AS pick FROM source_version_operators vo
                     WHERE vo.source_id = p_source AND vo.version = v_ver.version AND vo.cum_weight > v_r
                     ORDER BY vo.cum_weight LIMIT 1) p,
                   LATERAL crm_take_operator(p_source, ARRAY[p.pick], false) t;
            EXIT WHEN v_op IS NOT NULL;
            v_rejected := v_rejected || v_pick;
        END LOOP;
        IF v_op IS NULL THEN  -- most of the source is full: the exact way
            SELECT array_agg(o.id ORDER BY -ln(1.0 - random()) / vo.weight) INTO v_order
              FROM source_version_operators vo JOIN operators o ON o.id = vo.operator_id
             WHERE vo.source_id = p_source AND vo.version = v_ver.version AND vo.cum_weight IS NOT NULL
               AND crm_eligible(o);
            SELECT * INTO v_take FROM crm_take_operator(p_source, coalesce(v_order, '{}'), false);
            v_op := v_take.o_operator;
            v_load := v_take.o_load;
            v_limit := v_take.o_limit;
            IF v_op IS NOT NULL THEN
                v_inel := nullif(crm_version_active_except(p_source, v_ver.version, v_order), '{}');
            END IF;
        ELSE
            IF cardinality(v_full) + cardinality(v_rejected) > 0 THEN
                SELECT array_agg(DISTINCT x ORDER BY x) INTO v_inel
                  FROM unnest(v_full || v_rejected) x WHERE x <> v_op;
            END IF;
        END IF;
    END IF;
    IF v_op IS NULL THEN
        v_note := CASE WHEN coalesce(v_ver.configured, 0) = 0 THEN 'no operators configured'
                       WHEN v_ver.active = 0 THEN 'all inactive'
                       WHEN v_ver.off_shift = v_ver.active THEN 'all off shift'
                       ELSE 'all at limit' END;
        v_inel := NULL;
    END IF;

    RETURN QUERY
    INSERT INTO contacts AS c (lead_id, source_id, operator_id, intake_id, intake_version, intake_operator_id,
                               intake_load, intake_limit, intake_note, intake_ineligible, intake_sticky_of,
                               idem_hash, idem_fp)
        VALUES (v_lead, p_source, v_op, nextval('assignments_id_seq'),
                coalesce(v_ver.version, 0), v_op, v_load, v_limit, v_note, v_inel, v_sticky, p_idem_hash, p_idem_fp)
        RETURNING c.id, c.lead_id, c.source_id, c.operator_id, c.status, crm_rfc3339(c.created_at),
                  c.intake_sticky_of IS NOT NULL;
END
$$;
