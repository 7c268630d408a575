-- 0011_idempotency_on_contacts.sql -- the Idempotency-Key of POST /api/contacts on the contact row
--
-- A keyed POST /api/contacts no longer writes a row of idempotency_keys (0006): the key and the
-- fingerprint of the request live on the contact it created, written by the same INSERT, so the
-- answer is stored "in the same transaction as the contact" by construction and costs one index
-- entry instead of a second row (heap, primary key, BRIN and their WAL). The answer is not
-- stored: it is rebuilt from what cannot change (id, lead, source, created_at), the status every
-- contact is created with ('active') and the intake entry of the history (the operator it got,
-- or none), so a contact closed or reassigned since still replays its first answer
-- (crm_idem_contact_body in sql/functions/70_idempotency.sql). Other POSTs keep 0006's table.
--
--   idem_key  the API key's public id, a space, the Idempotency-Key (neither holds a space);
--             NULL for a contact posted without a key, and after the key expired
--   idem_fp   sha256 of the canonical request (as idempotency_keys.fingerprint)
--
-- The values come from the column defaults, which read two transaction-local settings that
-- crm_idem_intake sets around its call of crm_intake and clears right after: crm_intake inserts
-- the contact unchanged, and a contact posted without a key gets NULL, NULL. Two columns, not
-- four: with eight columns the row's null bitmap still fits in the 24-byte tuple header, so an
-- unkeyed contact is not a byte larger than before. The unique index is partial: an unkeyed
-- insert does not touch it.
--
-- Expiry: a key is valid for CRM_IDEMPOTENCY_TTL after the contact's created_at (lookups ignore
-- older ones, and a new request with an expired key clears it first); the drainer's sweep then
-- clears expired keys in batches, walking contacts in id order from idempotency_sweep.contact_id
-- (every contact is visited once, a TTL after it was created; no index on the keys' age, which
-- each keyed insert would have to pay for).

-- COLLATE "C": keys are only ever compared for equality, byte-wise (no strcoll in the index)
ALTER TABLE contacts ADD COLUMN idem_key text COLLATE "C", ADD COLUMN idem_fp bytea;
ALTER TABLE contacts ALTER COLUMN idem_key SET DEFAULT nullif(current_setting('crm.idem_key', true), ''),
    ALTER COLUMN idem_fp SET DEFAULT decode(nullif(current_setting('crm.idem_fp', true), ''), 'hex');
ALTER TABLE contacts ADD CONSTRAINT contacts_idem_check
    CHECK ((idem_key IS NULL) = (idem_fp IS NULL) AND octet_length(idem_fp) = 32);
CREATE UNIQUE INDEX contacts_idem_key_key ON contacts (idem_key) WHERE idem_key IS NOT NULL;

-- one row: the highest contact id the sweep has gone past (contacts older than this migration
-- have no key)
CREATE TABLE idempotency_sweep (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    contact_id bigint NOT NULL
);
INSERT INTO idempotency_sweep (contact_id) SELECT coalesce(max(id), 0) FROM contacts;
