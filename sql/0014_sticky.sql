-- 0014_sticky.sql -- sticky returning leads: a contact of a known lead goes back to the operator
-- who had the lead's most recent contact, when that was recent (crm_intake, 30_intake.sql)
--
--   sources.sticky_window_seconds: NULL (off, the default) or 1..31536000 (one year). When set,
--     an intake (POST /api/contacts, with or without an Idempotency-Key) first looks at the
--     lead's most recent contact from any source (contacts_lead_idx, backwards: one probe). If
--     that contact has an operator, and the latest entry of its history naming that operator
--     (the intake decision, or the latest assignments row) is at most the window old at the
--     intake's transaction time, that operator is taken if it is configured for this source
--     and eligible now (crm_take_operator, under its row lock); otherwise the usual rule decides.
--     The drain of waiting contacts keeps the usual rule.
--   contacts.intake_sticky_of: the earlier contact a sticky intake followed; NULL for every other
--     intake. Part of the intake decision, so append-only like the other intake_* columns.
--   assignment_history: reason 'sticky' for an intake with intake_sticky_of, and the column
--     sticky_contact_id (the earlier contact) at the end; the other columns as in 0010.

ALTER TABLE sources
    ADD COLUMN sticky_window_seconds integer
        CONSTRAINT sources_sticky_window CHECK (sticky_window_seconds BETWEEN 1 AND 31536000);

ALTER TABLE contacts
    ADD COLUMN intake_sticky_of bigint;

CREATE TRIGGER contacts_intake_sticky_append_only BEFORE UPDATE OF intake_sticky_of ON contacts
    FOR EACH ROW EXECUTE FUNCTION crm_assignments_append_only();

CREATE OR REPLACE VIEW assignment_history AS
SELECT c.intake_id AS id, c.id AS contact_id, c.source_id, c.intake_operator_id AS operator_id,
       CASE WHEN c.intake_sticky_of IS NULL THEN 'intake' ELSE 'sticky' END::text AS reason,
       c.intake_load AS load_before, c.intake_limit AS load_limit,
       c.intake_note AS note, c.intake_version AS version, NULL::bigint[] AS eligible,
       c.intake_ineligible AS ineligible, NULL::jsonb AS candidates, c.created_at,
       c.intake_sticky_of AS sticky_contact_id
  FROM contacts c
 WHERE c.intake_id IS NOT NULL
UNION ALL
SELECT a.id, a.contact_id, c.source_id, a.operator_id, a.reason, a.load_before, a.load_limit, a.note,
       a.version, a.eligible, a.ineligible, a.candidates, a.created_at, NULL::bigint
  FROM assignments a JOIN contacts c ON c.id = a.contact_id;
