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
-- `status` is NULL while the first request runs (the row is inserted when the key is claimed and
-- completed before commit); a committed row always has its response. A request that fails is
-- rolled back with its row, so a retry is processed anew. Rows older than the configured time
-- to live (CRM_IDEMPOTENCY_TTL, 24 h) are deleted by the drainer's sweep.

CREATE TABLE idempotency_keys (
    client      text NOT NULL DEFAULT '',
    key         text NOT NULL CHECK (key ~ '^[!-~]{1,255}$'),
    fingerprint bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
    status      integer CHECK (status BETWEEN 200 AND 399),
    location    text,
    body        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client, key)
);

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
