-- 0007_api_keys.sql -- API keys: who may call /api/, with which scopes
--
-- A key is `crm_<public_id>_<secret>` (src/secret.c). The public id is stored as it is and is
-- the key's name in logs and in the cache of each worker; the secret, 256 random bits, is
-- stored only as its SHA-256 (random secrets need no slow KDF: nothing can be guessed from the
-- hash). Scopes are a non-empty subset of admin, intake, agent, read; source_ids restricts an
-- intake key to those sources (NULL: any source) and is only allowed with the intake scope.
-- last_used_at is written at most once a minute per key (crm_key_lookup); a revoked key keeps
-- its row (revoked_at) so the list shows what was revoked and when.
-- Functions: sql/functions/80_keys.sql.

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id     text NOT NULL CONSTRAINT api_keys_public_id_key UNIQUE
                  CONSTRAINT api_keys_public_id_check CHECK (public_id ~ '^[0-9a-f]{16}$'),
    secret_sha256 bytea NOT NULL CONSTRAINT api_keys_secret_sha256_check CHECK (octet_length(secret_sha256) = 32),
    name          text NOT NULL CONSTRAINT api_keys_name_check CHECK (char_length(name) BETWEEN 1 AND 200),
    scopes        text[] NOT NULL CONSTRAINT api_keys_scopes_check
                  CHECK (cardinality(scopes) BETWEEN 1 AND 4 AND array_position(scopes, NULL) IS NULL
                         AND scopes <@ ARRAY['admin', 'intake', 'agent', 'read']),
    source_ids    bigint[] CONSTRAINT api_keys_source_ids_check
                  CHECK (source_ids IS NULL OR ('intake' = ANY (scopes) AND cardinality(source_ids) >= 1
                                                AND array_position(source_ids, NULL) IS NULL)),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
