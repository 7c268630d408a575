-- 25_history.sql -- the assignment history: what a decision records, and reading it back
--
-- A decision records the source's configuration version (0010_config_versions.sql) and only
-- what differs from "every active operator of the version was eligible": either the eligible
-- ones or the ineligible ones, whichever list is shorter (both NULL: all of them were), or a
-- note when nobody was (then none was). GET /api/contacts/{id}/assignments rebuilds the
-- candidates from the version: each configured operator with its weight, max_load_limit,
-- is_active and whether it was eligible; the chosen operator's load is the entry's
-- load_before. (The other candidates' loads are no longer kept; rows written before 0010 keep
-- their stored snapshot, loads included.)

-- The source's latest version and which of its active operators are eligible now, as the
-- shorter list. O(N): for the decisions made by hand (PATCH of a contact), not the intake.
CREATE OR REPLACE FUNCTION crm_history_now(p_source bigint, OUT o_version integer, OUT o_eligible bigint[],
                                           OUT o_ineligible bigint[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_yes bigint[];
    v_no  bigint[];
BEGIN
    SELECT coalesce(max(v.version), 0) INTO o_version FROM source_versions v WHERE v.source_id = p_source;
    SELECT coalesce(array_agg(o.id ORDER BY o.id) FILTER (WHERE crm_eligible(o)), '{}'),
           coalesce(array_agg(o.id ORDER BY o.id) FILTER (WHERE NOT crm_eligible(o)), '{}')
      INTO v_yes, v_no
      FROM source_version_operators vo JOIN operators o ON o.id = vo.operator_id
     WHERE vo.source_id = p_source AND vo.version = o_version AND vo.cum_weight IS NOT NULL;
    IF cardinality(v_no) = 0 THEN
        RETURN;
    ELSIF cardinality(v_no) <= cardinality(v_yes) THEN
        o_ineligible := v_no;
    ELSE
        o_eligible := v_yes;
    END IF;
END
$$;

-- The candidates of a decision, as the API shows them: every operator of the version, by id;
-- one that was off shift (sql/0012_working_hours.sql) with "on_shift": false.
CREATE OR REPLACE FUNCTION crm_history_candidates(p_source bigint, p_version integer, p_note text,
                                                  p_eligible bigint[], p_ineligible bigint[])
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'operator_id', vo.operator_id, 'weight', vo.weight, 'max_load_limit', vo.max_load_limit,
               'is_active', vo.is_active,
               'eligible', p_note IS NULL AND vo.cum_weight IS NOT NULL
                           AND (p_eligible IS NULL OR vo.operator_id = ANY (p_eligible))
                           AND NOT (vo.operator_id = ANY (coalesce(p_ineligible, '{}'))))
               || CASE WHEN vo.on_shift THEN '{}' ELSE '{"on_shift": false}' END::jsonb
               ORDER BY vo.operator_id), '[]')
      FROM source_version_operators vo
     WHERE vo.source_id = p_source AND vo.version = p_version
$$;

-- A contact's history, oldest first (its intake's decision first): the rows of
-- GET /api/contacts/{id}/assignments. sticky_contact_id: the earlier contact a 'sticky' intake
-- followed (0014_sticky.sql), NULL for every other entry. (The result gained that column: the
-- old definition goes first.)
DROP FUNCTION IF EXISTS crm_history(bigint);
CREATE OR REPLACE FUNCTION crm_history(p_contact bigint)
RETURNS TABLE (id bigint, contact_id bigint, operator_id bigint, reason text, note text, load_before integer,
               load_limit integer, config_version integer, candidates text, created_at text,
               sticky_contact_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT h.id, h.contact_id, h.operator_id, h.reason, h.note, h.load_before, h.load_limit, h.version,
           coalesce(h.candidates, crm_history_candidates(h.source_id, h.version,
                                                   -- with an operator chosen a note is not "nobody"
                                                   -- (a timeout's; 'least_loaded', the mode's)
                                                   CASE WHEN h.operator_id IS NOT NULL THEN NULL ELSE h.note END,
                                                   h.eligible, h.ineligible),
                    '[]')::text,
           crm_rfc3339(h.created_at), h.sticky_contact_id
      FROM assignment_history h
     WHERE h.contact_id = p_contact
     ORDER BY h.id
$$;
