-- 0010_config_versions.sql -- numbered configuration versions; the intake's decision kept with
-- its contact; history rows that store only what differs from "every operator was eligible"
--
-- Every history row used to carry a JSON snapshot of every operator configured for the source
-- (1.2 KB at 10 operators, about 7 KB compressed at 1,000), and every intake wrote one. Now:
--   source_versions / source_version_operators: an immutable, numbered version of a source's
--     configuration: each configured operator with its weight, is_active and max_load_limit, and
--     the running sum of the active operators' weights (cum_weight, NULL for an inactive one),
--     which lets an intake draw an operator by weight with one index probe. A new version is
--     written, in the same transaction, whenever what a decision depends on changes and is not
--     per decision: the source's operators or weights (any statement on source_operators), an
--     operator's is_active or max_load_limit. Version numbers count per source from 1; a source
--     without a version has no operators configured ("version 0"). An identical configuration
--     writes no version. Versions are serialised per source by its row lock (FOR NO KEY UPDATE:
--     intakes hold only FOR KEY SHARE on it, so they never wait for it).
--   source_operator_full: (source, operator) for every configured operator at or over its limit,
--     kept by triggers in the transaction that changes a load or a limit, so an intake learns the
--     operators that are not eligible although active in O(their number), without reading the
--     source's N operators. It only feeds the history: the take itself is the conditional UPDATE.
--   contacts.intake_*: the intake's decision, with the contact (no history row of its own):
--     intake_id (a number of the history's sequence, so entries keep one order), the version,
--     the chosen operator, its load just before and its limit, the note when nobody was chosen,
--     and the active operators of the version that were not eligible (NULL: none).
--   assignments: version, eligible / ineligible (at most one of them set: the shorter way to
--     say which active operators of the version were eligible; both NULL: all of them); the
--     candidates JSON only in rows written before this migration.
-- The view assignment_history puts both together (what GET /api/contacts/{id}/assignments reads,
-- through crm_history in sql/functions/90_history.sql).

CREATE TABLE source_versions (
    source_id     bigint NOT NULL REFERENCES sources (id),
    version       integer NOT NULL CHECK (version > 0),
    configured    integer NOT NULL,  -- operators configured
    active        integer NOT NULL,  -- of them active
    active_weight bigint NOT NULL,   -- sum of the active ones' weights
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, version)
);

CREATE TABLE source_version_operators (
    source_id      bigint NOT NULL,
    version        integer NOT NULL,
    operator_id    bigint NOT NULL,
    weight         integer NOT NULL,
    max_load_limit integer NOT NULL,
    is_active      boolean NOT NULL,
    cum_weight     bigint,  -- active: sum of the weights of the active operators up to this one (id order)
    PRIMARY KEY (source_id, version, operator_id),
    FOREIGN KEY (source_id, version) REFERENCES source_versions (source_id, version)
);
CREATE INDEX source_version_operators_draw_idx ON source_version_operators (source_id, version, cum_weight)
    WHERE cum_weight IS NOT NULL;

CREATE TABLE source_operator_full (
    source_id   bigint NOT NULL,
    operator_id bigint NOT NULL,
    PRIMARY KEY (source_id, operator_id)
);
CREATE INDEX source_operator_full_operator_idx ON source_operator_full (operator_id);

CREATE FUNCTION crm_versions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'configuration versions are immutable';
END
$$;
CREATE TRIGGER source_versions_immutable BEFORE UPDATE OR DELETE ON source_versions
    FOR EACH ROW EXECUTE FUNCTION crm_versions_append_only();
CREATE TRIGGER source_version_operators_immutable BEFORE UPDATE OR DELETE ON source_version_operators
    FOR EACH ROW EXECUTE FUNCTION crm_versions_append_only();

-- Writes a new version of the source's configuration as it is now, unless it equals the latest
-- one. Returns the latest version number after the call (0: never configured).
CREATE FUNCTION crm_source_version_write(p_source bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_last integer;
    v_now  text;
    v_was  text;
BEGIN
    PERFORM 1 FROM sources s WHERE s.id = p_source FOR NO KEY UPDATE;
    SELECT coalesce(max(v.version), 0) INTO v_last FROM source_versions v WHERE v.source_id = p_source;
    SELECT coalesce(string_agg(concat_ws(':', o.id, so.weight, o.max_load_limit, o.is_active), ',' ORDER BY o.id), '')
      INTO v_now
      FROM source_operators so JOIN operators o ON o.id = so.operator_id WHERE so.source_id = p_source;
    SELECT coalesce(string_agg(concat_ws(':', vo.operator_id, vo.weight, vo.max_load_limit, vo.is_active), ','
                               ORDER BY vo.operator_id), '')
      INTO v_was
      FROM source_version_operators vo WHERE vo.source_id = p_source AND vo.version = v_last;
    IF v_now = v_was THEN
        RETURN v_last;
    END IF;
    INSERT INTO source_versions (source_id, version, configured, active, active_weight)
    SELECT p_source, v_last + 1, count(*), count(*) FILTER (WHERE o.is_active),
           coalesce(sum(so.weight) FILTER (WHERE o.is_active), 0)
      FROM source_operators so JOIN operators o ON o.id = so.operator_id WHERE so.source_id = p_source;
    INSERT INTO source_version_operators (source_id, version, operator_id, weight, max_load_limit, is_active, cum_weight)
    SELECT p_source, v_last + 1, o.id, so.weight, o.max_load_limit, o.is_active,
           CASE WHEN o.is_active
                THEN sum(CASE WHEN o.is_active THEN so.weight ELSE 0 END) OVER (ORDER BY o.id) END
      FROM source_operators so JOIN operators o ON o.id = so.operator_id WHERE so.source_id = p_source;
    RETURN v_last + 1;
END
$$;

-- source_operators changed (a statement): a version of each source touched, in id order, and
-- the at-limit set of the pairs added or removed.
CREATE FUNCTION crm_source_operators_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_source bigint;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM source_operator_full f USING o
         WHERE f.source_id = o.source_id AND f.operator_id = o.operator_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO source_operator_full (source_id, operator_id)
        SELECT n.source_id, n.operator_id FROM n JOIN operators op ON op.id = n.operator_id
         WHERE op.active_contacts >= op.max_load_limit
        ON CONFLICT DO NOTHING;
    END IF;
    -- (one statement per case: a statement naming a transition table the trigger lacks cannot run)
    IF TG_OP = 'INSERT' THEN
        FOR v_source IN SELECT DISTINCT n.source_id FROM n ORDER BY 1 LOOP
            PERFORM crm_source_version_write(v_source);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR v_source IN SELECT DISTINCT o.source_id FROM o ORDER BY 1 LOOP
            PERFORM crm_source_version_write(v_source);
        END LOOP;
    ELSE
        FOR v_source IN SELECT n.source_id FROM n UNION SELECT o.source_id FROM o ORDER BY 1 LOOP
            PERFORM crm_source_version_write(v_source);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

-- An operator's is_active or max_load_limit changed: a version of each of its sources.
CREATE FUNCTION crm_operator_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_source bigint;
BEGIN
    FOR v_source IN
        SELECT so.source_id FROM source_operators so WHERE so.operator_id = NEW.id ORDER BY so.source_id
    LOOP
        PERFORM crm_source_version_write(v_source);
    END LOOP;
    RETURN NULL;
END
$$;

-- An operator reached its limit or went below it (load or limit changed): its at-limit pairs.
-- The one writer of an operator's pairs holds that operator's row lock (the UPDATE).
CREATE FUNCTION crm_operator_fullness_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.active_contacts >= NEW.max_load_limit THEN
        INSERT INTO source_operator_full (source_id, operator_id)
        SELECT so.source_id, NEW.id FROM source_operators so WHERE so.operator_id = NEW.id
        ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM source_operator_full f WHERE f.operator_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

-- what exists now: a first version of every configured source, the at-limit pairs
LOCK TABLE source_operators IN SHARE ROW EXCLUSIVE MODE;
LOCK TABLE operators IN SHARE ROW EXCLUSIVE MODE;
SELECT crm_source_version_write(s.source_id) FROM (SELECT DISTINCT source_id FROM source_operators ORDER BY 1) s;
INSERT INTO source_operator_full (source_id, operator_id)
SELECT so.source_id, so.operator_id FROM source_operators so JOIN operators o ON o.id = so.operator_id
 WHERE o.active_contacts >= o.max_load_limit;

CREATE TRIGGER source_operators_version_insert AFTER INSERT ON source_operators
    REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION crm_source_operators_changed();
CREATE TRIGGER source_operators_version_update AFTER UPDATE ON source_operators
    REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION crm_source_operators_changed();
CREATE TRIGGER source_operators_version_delete AFTER DELETE ON source_operators
    REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION crm_source_operators_changed();
CREATE TRIGGER operators_version AFTER UPDATE OF is_active, max_load_limit ON operators
    FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active OR OLD.max_load_limit IS DISTINCT FROM NEW.max_load_limit)
    EXECUTE FUNCTION crm_operator_config_changed();
CREATE TRIGGER operators_fullness AFTER UPDATE OF active_contacts, max_load_limit ON operators
    FOR EACH ROW WHEN ((OLD.active_contacts >= OLD.max_load_limit) IS DISTINCT FROM (NEW.active_contacts >= NEW.max_load_limit))
    EXECUTE FUNCTION crm_operator_fullness_changed();

ALTER TABLE contacts
    ADD COLUMN intake_id bigint,            -- the intake decision's number in the history's sequence
    ADD COLUMN intake_version integer,      -- the configuration version it was made on (0: none)
    ADD COLUMN intake_operator_id bigint,   -- the operator chosen, or NULL (see intake_note)
    ADD COLUMN intake_load integer,         -- its active contacts just before, under its row lock
    ADD COLUMN intake_limit integer,        -- its max_load_limit then
    ADD COLUMN intake_note text,            -- why nobody was chosen
    ADD COLUMN intake_ineligible bigint[];  -- active operators of the version not eligible (NULL: none)

-- the intake's decision is history: append-only like assignments (no cost to other updates:
-- the trigger fires only for an UPDATE that names one of these columns)
CREATE TRIGGER contacts_intake_append_only BEFORE UPDATE OF intake_id, intake_version, intake_operator_id,
    intake_load, intake_limit, intake_note, intake_ineligible ON contacts
    FOR EACH ROW EXECUTE FUNCTION crm_assignments_append_only();

ALTER TABLE assignments
    ALTER COLUMN candidates DROP NOT NULL,
    ALTER COLUMN candidates DROP DEFAULT,
    ADD COLUMN version integer,
    ADD COLUMN eligible bigint[],
    ADD COLUMN ineligible bigint[];

-- Every history entry of every contact: the intake's (from the contact, for contacts taken in
-- since this migration) and the rows of assignments (all of them: intakes before it, and every
-- later decision). candidates is the stored snapshot of the rows written before this migration.
CREATE VIEW assignment_history AS
SELECT c.intake_id AS id, c.id AS contact_id, c.source_id, c.intake_operator_id AS operator_id,
       'intake'::text AS reason, c.intake_load AS load_before, c.intake_limit AS load_limit,
       c.intake_note AS note, c.intake_version AS version, NULL::bigint[] AS eligible,
       c.intake_ineligible AS ineligible, NULL::jsonb AS candidates, c.created_at
  FROM contacts c
 WHERE c.intake_id IS NOT NULL
UNION ALL
SELECT a.id, a.contact_id, c.source_id, a.operator_id, a.reason, a.load_before, a.load_limit, a.note,
       a.version, a.eligible, a.ineligible, a.candidates, a.created_at
  FROM assignments a JOIN contacts c ON c.id = a.contact_id;
