-- 0006_idempotency.sql -- the responses of POSTs sent with an Idempotency-Key
--
-- One row per (client, key): the fingerprint of the request that used the key first and the
-- response it got (status, Location, body), written in the same transaction as the work the
-- request did, so a retry after a crash between commit and reply finds the answer instead of
-- doing the work twice (sql/functions/70_idempotency.sql, src/handlers_common.c).
--
-- `client` scopes keys per client. There is no access control yet: it is '' for every request
-- today and will hold the API key's id once keys exist (issue 9), so two clients can never see
-- each other's answers through a shared key.
--
-- A row exists only for an answered request: it is inserted with its response just before the
-- commit. "In progress" is not a row state but the claim's transaction-scoped advisory lock
-- (see the functions): an uncommitted row would make a concurrent request wait on the unique
-- index, and a committed "running" row would outlive a worker killed mid-request. A request
-- that fails is rolled back, so a retry is processed anew. Rows older than the configured time
-- to live (CRM_IDEMPOTENCY_TTL, 24 h) are deleted by the drainer's sweep; created_at only grows
-- with insertion order, so a BRIN index finds them at almost no cost per insert.

CREATE TABLE idempotency_keys (
    client      text NOT NULL DEFAULT '',
    key         text NOT NULL CHECK (key ~ '^[!-~]{1,255}$'),
    fingerprint bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
    status      integer NOT NULL CHECK (status BETWEEN 200 AND 299),
    location    text,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client, key)
);

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys USING brin (created_at);
