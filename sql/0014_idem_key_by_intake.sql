-- 0014_idem_key_by_intake.sql -- the key of a keyed POST /api/contacts is an argument of crm_intake
--
-- 0011 gave contacts.idem_key and idem_fp defaults that read two transaction-local settings, set
-- by crm_idem_intake around its call of crm_intake. Every INSERT of a contact, keyed or not,
-- evaluated them, and the keyed one paid two more statements to set and clear the settings.
-- crm_intake now takes the key and the fingerprint as arguments (sql/functions/30_intake.sql)
-- and writes them itself; the defaults go. A contact inserted without them gets NULL, NULL as
-- before.
ALTER TABLE contacts ALTER COLUMN idem_key DROP DEFAULT, ALTER COLUMN idem_fp DROP DEFAULT;
