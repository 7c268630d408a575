-- 0016_idem_key_hashed.sql -- the Idempotency-Key of a contact as a 16-byte hash, written by crm_intake
--
-- 0011 kept the key of a keyed POST /api/contacts on its contact as text (the API key's public
-- id, a space, the client's key: about 40 bytes in the row and again in the unique index), with
-- column defaults that read two transaction-local settings set by crm_idem_intake around its
-- call of crm_intake: every INSERT of a contact evaluated them, and the keyed one paid two more
-- statements to set and clear them. Now:
--   idem_hash  the first 16 bytes of sha256(public id, a space, the key) (crm_idem_contact_key):
--              a fixed, short entry in the unique index, and the client's key itself (it may be
--              anything a client chose) is not stored; two different keys share a hash with
--              probability about 2^-128
--   idem_fp    unchanged (sha256 of the canonical request)
-- Both are arguments of crm_intake now (sql/functions/30_intake.sql), which writes them in its
-- INSERT; the defaults go. A contact without a key has NULL, NULL and leaves the index alone.
-- The keys of existing contacts are hashed the same way, so their retries still replay.
ALTER TABLE contacts ADD COLUMN idem_hash bytea;
UPDATE contacts SET idem_hash = substring(sha256(convert_to(idem_key, 'UTF8')) FROM 1 FOR 16)
 WHERE idem_key IS NOT NULL;
-- (its unique index and contacts_idem_check go with it)
ALTER TABLE contacts DROP COLUMN idem_key;
ALTER TABLE contacts ALTER COLUMN idem_fp DROP DEFAULT;
ALTER TABLE contacts ADD CONSTRAINT contacts_idem_check
    CHECK ((idem_hash IS NULL) = (idem_fp IS NULL) AND octet_length(idem_hash) = 16 AND octet_length(idem_fp) = 32);
CREATE UNIQUE INDEX contacts_idem_hash_key ON contacts (idem_hash) WHERE idem_hash IS NOT NULL;
