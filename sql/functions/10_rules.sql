-- 10_rules.sql -- the rules the other functions are written in: room, eligibility, time format
--
-- Repeatable (like every file of sql/functions/): `crm migrate` re-applies it whenever its
-- text changes, so it must stay idempotent: CREATE OR REPLACE, and DROP FUNCTION IF EXISTS of
-- the old signature when one changes.
--
-- These are single SQL expressions declared IMMUTABLE or STABLE: PostgreSQL inlines them into
-- the calling statement (a whole-row argument becomes plain column references), so naming a
-- rule costs nothing, also in the conditional UPDATE whose WHERE clause PostgreSQL re-checks
-- on the newest row version after waiting for a concurrent writer.

-- The operator's load is below its limit: one more active contact is allowed.
CREATE OR REPLACE FUNCTION crm_below_limit(o operators) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT o.active_contacts < o.max_load_limit $$;

-- The operator may receive a contact: active, on shift (its working hours, as last recomputed:
-- sql/0012_working_hours.sql) and below its limit.
CREATE OR REPLACE FUNCTION crm_eligible(o operators) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT o.is_active AND o.on_shift AND crm_below_limit(o) $$;

-- Timestamps of the API: RFC 3339 in UTC with microseconds, "2026-11-25T15:42:07.123456Z".
-- (STABLE, not IMMUTABLE, because to_char is: an IMMUTABLE wrapper would not be inlined.)
CREATE OR REPLACE FUNCTION crm_rfc3339(p_at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- How long until p_at in whole milliseconds, rounded up, 0 once it has come; NULL for NULL (no
-- timer pending: the drainer then sleeps until a wake-up or its sweep; greatest(NULL, 0) would
-- be 0, a busy loop). The drainer's timers (45_shifts.sql, 47_accept.sql) answer with it.
CREATE OR REPLACE FUNCTION crm_ms_until(p_at timestamptz) RETURNS bigint
LANGUAGE sql VOLATILE
AS $$ SELECT CASE WHEN p_at IS NOT NULL
                  THEN greatest(ceil(extract(epoch FROM (p_at - clock_timestamp())) * 1000), 0)::bigint END $$;
