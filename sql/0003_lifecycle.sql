-- 0003_lifecycle.sql -- the assignment history (its functions are in sql/functions/)
--
-- Every assignment decision is appended to `assignments`: the contact, the operator chosen (or
-- none and why), the reason (intake, backlog, manual, unassigned), the chosen operator's load
-- read under its row lock just before the decision, and a snapshot of every configured
-- candidate (weight, load, limit, active) read just before the decision.
--
-- This migration also created the lifecycle and backlog functions; they now live in
-- sql/functions/ (re-applied when they change, see 0004). The trigger function stays here with
-- the triggers that need it when this migration runs.

CREATE TABLE assignments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES contacts (id),
    operator_id bigint REFERENCES operators (id),
    reason      text NOT NULL CHECK (reason IN ('intake', 'backlog', 'manual', 'unassigned')),
    load_before integer,  -- chosen operator's active contacts just before, read under its row lock
    load_limit  integer,  -- its max_load_limit at that moment
    note        text,     -- why nobody was chosen
    candidates  jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX assignments_contact_idx ON assignments (contact_id, id);

CREATE FUNCTION crm_assignments_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'assignments are append-only';
END
$$;
CREATE TRIGGER assignments_append_only BEFORE UPDATE OR DELETE ON assignments
    FOR EACH ROW EXECUTE FUNCTION crm_assignments_append_only();
CREATE TRIGGER assignments_no_truncate BEFORE TRUNCATE ON assignments
    FOR EACH STATEMENT EXECUTE FUNCTION crm_assignments_append_only();
