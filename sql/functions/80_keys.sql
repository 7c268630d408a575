-- 80_keys.sql -- API keys: create, list, revoke, and the lookup of a presented key
--
-- The worker verifies the secret itself (SHA-256 and a constant-time compare, src/secret.c)
-- against the hash crm_key_lookup returns, and caches the result for CRM_KEY_CACHE_MS.

-- A new key. Unknown sources are reported, not raised: o_missing lists the 0-based positions
-- in p_source_ids that name no source, and then nothing is inserted (no row in the answer's
-- key columns). The table's checks refuse bad scopes, names and source_ids without intake.
CREATE OR REPLACE FUNCTION crm_key_create(p_public_id text, p_hash bytea, p_name text, p_scopes text[],
                                          p_source_ids bigint[])
RETURNS TABLE (o_missing integer[], o_key api_keys)
LANGUAGE plpgsql AS $$
DECLARE
    v_missing integer[];
    v_key api_keys;
BEGIN
    SELECT array_agg(t.i - 1 ORDER BY t.i) INTO v_missing
      FROM unnest(p_source_ids) WITH ORDINALITY AS t(x, i)
     WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = t.x);
    IF v_missing IS NOT NULL THEN
        RETURN QUERY SELECT v_missing, NULL::api_keys;
        RETURN;
    END IF;
    INSERT INTO api_keys (public_id, secret_sha256, name, scopes, source_ids)
    VALUES (p_public_id, p_hash, p_name, p_scopes, p_source_ids)
    RETURNING * INTO v_key;
    RETURN QUERY SELECT NULL::integer[], v_key;
END
$$;

-- The key a request presents, by its public id: its hash, scopes and sources, unless revoked
-- (no row: unknown or revoked). Writes last_used_at when it is older than a minute, so a key
-- in use costs at most one write a minute however many workers refresh it.
CREATE OR REPLACE FUNCTION crm_key_lookup(p_public_id text)
RETURNS TABLE (o_id bigint, o_hash bytea, o_scopes text[], o_source_ids bigint[])
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_keys k SET last_used_at = now()
     WHERE k.public_id = p_public_id AND k.revoked_at IS NULL
       AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute');
    RETURN QUERY SELECT k.id, k.secret_sha256, k.scopes, k.source_ids
                   FROM api_keys k WHERE k.public_id = p_public_id AND k.revoked_at IS NULL;
END
$$;

-- Revokes a key (idempotent: a revoked key keeps its first revoked_at). No row: no such key.
CREATE OR REPLACE FUNCTION crm_key_revoke(p_id bigint)
RETURNS SETOF api_keys
LANGUAGE sql AS $$
    UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now()) WHERE k.id = p_id RETURNING k.*;
$$;

-- Keys by id after p_after, at most p_limit of them (NULL: all); never the hash.
CREATE OR REPLACE FUNCTION crm_keys_list(p_after bigint, p_limit integer)
RETURNS TABLE (id bigint, public_id text, name text, scopes text[], source_ids bigint[], created_at timestamptz,
               last_used_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT k.id, k.public_id, k.name, k.scopes, k.source_ids, k.created_at, k.last_used_at, k.revoked_at
      FROM api_keys k WHERE k.id > coalesce(p_after, 0) ORDER BY k.id LIMIT p_limit;
$$;
