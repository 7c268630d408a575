-- 0009_metrics_scope.sql -- the metrics scope: a key that may read GET /metrics and nothing else
--
-- A Prometheus server holds such a key (README "Metrics"); admin may read /metrics too. Only the
-- check on api_keys.scopes changes: one more name, and at most five of them.

ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (cardinality(scopes) BETWEEN 1 AND 5 AND array_position(scopes, NULL) IS NULL
           AND scopes <@ ARRAY['admin', 'intake', 'agent', 'read', 'metrics']);
