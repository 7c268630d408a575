-- 0013_accept_timeout.sql -- accept or lose it: a source's accept timeout, a contact's acceptance
--
--   sources.accept_timeout_seconds: NULL (off, the default) or 5..86400.
--   contacts.accepted_at: when the contact was accepted (PATCH {"accepted": true}); NULL until
--     then, and again after every change of its operator (trigger below).
--   contacts.accept_deadline: the moment its operator loses it, set by the trigger below when the
--     contact is assigned (or reopened while assigned) and its source has a timeout; NULL once
--     accepted, closed or unassigned. Timeouts apply to assignments made while the source has one.
--     The drainer sleeps until the earliest one (contacts_accept_deadline_idx), see
--     sql/functions/47_accept.sql.
--   contacts.lapsed: the operators that let THIS contact time out, in order; never offered it again
--     by a distribution (a hand-picked operator may still be one of them).
--   assignments.reason gains 'timeout' (note: "operator N let it lapse").

ALTER TABLE sources
    ADD COLUMN accept_timeout_seconds integer
        CONSTRAINT sources_accept_timeout CHECK (accept_timeout_seconds BETWEEN 5 AND 86400);

ALTER TABLE contacts
    ADD COLUMN accepted_at timestamptz,
    ADD COLUMN accept_deadline timestamptz,
    ADD COLUMN lapsed bigint[] NOT NULL DEFAULT '{}';

CREATE INDEX contacts_accept_deadline_idx ON contacts (accept_deadline) WHERE accept_deadline IS NOT NULL;

ALTER TABLE assignments DROP CONSTRAINT assignments_reason_check;
ALTER TABLE assignments ADD CONSTRAINT assignments_reason_check
    CHECK (reason IN ('intake', 'backlog', 'manual', 'unassigned', 'timeout'));

-- accepting a contact that cannot be accepted
ALTER TYPE crm_contact_update_error ADD VALUE 'not_assigned';
ALTER TYPE crm_contact_update_error ADD VALUE 'closed';
ALTER TYPE crm_contact_update_error ADD VALUE 'already_accepted';
ALTER TYPE crm_contact_update_error ADD VALUE 'other_operator';

-- the queue of contacts some operator let time out, drained one by one (crm_drain_source_lapsed)
CREATE INDEX contacts_lapsed_waiting_idx ON contacts (source_id, id)
    WHERE operator_id IS NULL AND status = 'active' AND lapsed <> '{}';

-- A contact written: accepted_at is reset by a change of operator; accept_deadline is set when
-- the contact is assigned (or reopened while assigned, not yet accepted) and its source has a
-- timeout, cleared when it is accepted, closed or unassigned, else kept. A deadline earlier than
-- every pending one wakes the drainer (delivered at commit), which plans its sleep anew.
CREATE FUNCTION crm_contact_accept_state() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_timeout integer;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.operator_id IS DISTINCT FROM OLD.operator_id THEN
        NEW.accepted_at := NULL;
    END IF;
    IF NEW.status <> 'active' OR NEW.operator_id IS NULL OR NEW.accepted_at IS NOT NULL THEN
        NEW.accept_deadline := NULL;
    ELSIF TG_OP = 'INSERT' OR NEW.operator_id IS DISTINCT FROM OLD.operator_id OR OLD.status <> 'active' THEN
        SELECT s.accept_timeout_seconds INTO v_timeout FROM sources s WHERE s.id = NEW.source_id;
        NEW.accept_deadline := clock_timestamp() + make_interval(secs => v_timeout);
        IF NEW.accept_deadline < coalesce((SELECT min(c.accept_deadline) FROM contacts c
                                            WHERE c.accept_deadline IS NOT NULL), 'infinity') THEN
            PERFORM pg_notify('crm_backlog', '');
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER contacts_accept BEFORE INSERT OR UPDATE OF operator_id, status, accepted_at ON contacts
    FOR EACH ROW EXECUTE FUNCTION crm_contact_accept_state();
