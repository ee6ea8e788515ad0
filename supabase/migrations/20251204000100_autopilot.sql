-- The fleet autopilot (issue 13): persisted fleet telemetry, the `autopilot` policy key and the
-- autopilot's own database identity. Runs unchanged on Supabase and on plain PostgreSQL 15+.
--
-- 1. app_private.telemetry_minutes: per-minute aggregates per (minute, mode, config version),
--    origins as columns. Every control-plane replica batches reports in memory and upsert-adds
--    its buckets in one statement per flush (counts add; latency sums add; p99 takes the
--    maximum; the quota keeps the latest seen). app_private.telemetry_installs keeps the last
--    report of each install (latest wins across replicas). Written and read by `service_role`
--    only (the control plane switches to it); pruned by the control plane (retention setting).
-- 2. The `autopilot` key of public.app_config: an ordinary row (RLS, versions, history), off
--    while absent (not seeded), checked by app_private.validate_autopilot with the rules of the Rust
--    validator (control-plane/src/autopilot.rs, Policy::from_value), field names in COLUMN.
-- 3. Role `sourcegate_autopilot` (NOLOGIN): may read app_config and EXECUTE
--    public.autopilot_update_config, which writes `marketplace_source` (and nothing else)
--    through public.update_app_config as the identity `autopilot` (history changed_role
--    `autopilot`). No table privilege: every other write path is refused by the database.
-- 4. app_private.autopilot_decisions: what the autopilot decided (dry runs included), with its
--    evidence; written and read by `service_role`.

-- ---------------------------------------------------------------------------
-- 1. Persisted fleet telemetry
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS app_private.telemetry_minutes (
  minute           timestamptz NOT NULL,
  mode             text NOT NULL,
  config_version   bigint NOT NULL,
  git_requests     bigint NOT NULL DEFAULT 0,
  git_failures     bigint NOT NULL DEFAULT 0,
  git_rate_limited bigint NOT NULL DEFAULT 0,
  cdn_requests     bigint NOT NULL DEFAULT 0,
  cdn_failures     bigint NOT NULL DEFAULT 0,
  cdn_rate_limited bigint NOT NULL DEFAULT 0,
  fallbacks        bigint NOT NULL DEFAULT 0,
  errors           bigint NOT NULL DEFAULT 0,
  reports          bigint NOT NULL DEFAULT 0,
  installs         bigint NOT NULL DEFAULT 0,
  weight           bigint NOT NULL DEFAULT 0,
  p50_sum          float8 NOT NULL DEFAULT 0,
  mean_sum         float8 NOT NULL DEFAULT 0,
  p99_max          float8 NOT NULL DEFAULT 0,
  git_quota_remaining bigint,
  git_quota_limit     bigint,
  git_quota_reset     bigint,
  git_quota_seen_at   timestamptz,
  cdn_quota_remaining bigint,
  cdn_quota_limit     bigint,
  cdn_quota_reset     bigint,
  cdn_quota_seen_at   timestamptz,
  PRIMARY KEY (minute, mode, config_version)
);
COMMENT ON TABLE app_private.telemetry_minutes IS
  'Fleet telemetry per minute, mode and config version, summed over every control-plane replica (issue 13). Not exposed through the API.';
CREATE TABLE IF NOT EXISTS app_private.telemetry_installs (
  install_hash   text PRIMARY KEY,
  mode           text NOT NULL,
  config_version bigint NOT NULL,
  last_seen      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_installs_last_seen ON app_private.telemetry_installs (last_seen);
COMMENT ON TABLE app_private.telemetry_installs IS
  'Last telemetry report of each install (mode, config version, when), latest wins across replicas.';
REVOKE ALL ON app_private.telemetry_minutes, app_private.telemetry_installs
  FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON app_private.telemetry_minutes, app_private.telemetry_installs
  TO service_role;

-- ---------------------------------------------------------------------------
-- 2. The `autopilot` policy document
-- ---------------------------------------------------------------------------
-- The shape serde accepts for one field of the policy (autopilot.rs, `Policy`): absent is the
-- default; present, it must have the JSON type `p_type` (`null` only where the field is an
-- Option: `p_null_ok`); unsigned integers (`uint`, at most `p_max`) are written without a
-- fraction or exponent. Any mismatch is serde's refusal: field `value`.
CREATE OR REPLACE FUNCTION app_private.autopilot_shape(p_obj jsonb, p_key text, p_type text,
                                                      p_null_ok boolean, p_max numeric)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
  v jsonb;
  n numeric;
BEGIN
  IF p_obj IS NULL OR jsonb_typeof(p_obj) <> 'object' OR NOT (p_obj ? p_key) THEN
    RETURN true;
  END IF;
  v := p_obj -> p_key;
  IF jsonb_typeof(v) = 'null' THEN
    RETURN p_null_ok;
  END IF;
  IF p_type = 'uint' THEN
    n := app_private.json_integer(v);
    RETURN n IS NOT NULL AND n >= 0 AND n <= p_max;
  END IF;
  RETURN jsonb_typeof(v) = p_type;
END
$$;

-- A number field (already known to be a number when present), or its default.
CREATE OR REPLACE FUNCTION app_private.autopilot_num(p_obj jsonb, p_key text, p_default numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
  SELECT CASE WHEN p_obj IS NOT NULL AND jsonb_typeof(p_obj) = 'object' AND p_obj ? p_key
              THEN (p_obj ->> p_key)::numeric ELSE p_default END
$$;

-- The rules of autopilot::Policy::from_value (control-plane/src/autopilot.rs), in its order:
-- first the shape (serde: types, known target modes; field `value` on any mismatch), then the
-- ranges, naming the field as the Rust validator does. PT422 with COLUMN = field.
CREATE OR REPLACE FUNCTION app_private.validate_autopilot(p_value jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
  shape constant text := 'not an autopilot policy (see the field docs)';
  u32 constant numeric := 4294967295;
  u64 constant numeric := 18446744073709551615;
  g jsonb;
  e jsonb;
  t jsonb;
  ok boolean;
  x numeric;
BEGIN
  IF jsonb_typeof(p_value) <> 'object' THEN
    PERFORM app_private.raise_invalid('value', 'must be a JSON object');
  END IF;
  g := CASE WHEN p_value ? 'gitPressure' THEN p_value -> 'gitPressure' ELSE '{}'::jsonb END;
  e := CASE WHEN p_value ? 'errorRollback' THEN p_value -> 'errorRollback' ELSE '{}'::jsonb END;
  t := CASE WHEN jsonb_typeof(g) = 'object' AND g ? 'target' THEN g -> 'target' END;
  ok := app_private.autopilot_shape(p_value, 'enabled', 'boolean', false, 0)
    AND app_private.autopilot_shape(p_value, 'dryRun', 'boolean', false, 0)
    AND app_private.autopilot_shape(p_value, 'cooldownMinutes', 'uint', false, u32)
    AND app_private.autopilot_shape(p_value, 'minInstalls', 'uint', false, u64)
    AND app_private.autopilot_shape(p_value, 'gitPressure', 'object', true, 0)
    AND app_private.autopilot_shape(p_value, 'errorRollback', 'object', true, 0)
    AND app_private.autopilot_shape(g, 'thresholdPercent', 'number', false, 0)
    AND app_private.autopilot_shape(g, 'forMinutes', 'uint', false, u32)
    AND app_private.autopilot_shape(g, 'target', 'object', false, 0)
    AND app_private.autopilot_shape(e, 'watchMinutes', 'uint', false, u32)
    AND app_private.autopilot_shape(e, 'errorPercent', 'number', false, 0)
    AND app_private.autopilot_shape(e, 'forMinutes', 'uint', false, u32);
  IF ok AND t IS NOT NULL THEN
    ok := coalesce(jsonb_typeof(t -> 'mode') = 'string'
      AND (t ->> 'mode') IN ('hybrid-cdn-git', 'cdn', 'canary')
      AND ((t ->> 'mode') <> 'canary' OR jsonb_typeof(t -> 'percent') = 'number'), false);
  END IF;
  IF NOT ok THEN
    PERFORM app_private.raise_invalid('value', shape);
  END IF;
  IF app_private.autopilot_num(p_value, 'cooldownMinutes', 30) > 10080 THEN
    PERFORM app_private.raise_invalid('cooldownMinutes', 'at most 10080 (a week)');
  END IF;
  IF app_private.autopilot_num(p_value, 'minInstalls', 10) = 0 THEN
    PERFORM app_private.raise_invalid('minInstalls', 'at least 1');
  END IF;
  IF jsonb_typeof(g) = 'object' THEN
    x := app_private.autopilot_num(g, 'thresholdPercent', 70);
    IF x <= 0 OR x > 100 THEN
      PERFORM app_private.raise_invalid('gitPressure.thresholdPercent', 'in (0, 100]');
    END IF;
    x := app_private.autopilot_num(g, 'forMinutes', 5);
    IF x < 1 OR x > 1440 THEN
      PERFORM app_private.raise_invalid('gitPressure.forMinutes', 'in 1..=1440');
    END IF;
    IF (t ->> 'mode') = 'canary' THEN
      x := (t ->> 'percent')::numeric;
      IF x < 0 OR x > 100 THEN
        PERFORM app_private.raise_invalid('gitPressure.target.percent', 'in 0..=100');
      END IF;
    END IF;
  END IF;
  IF jsonb_typeof(e) = 'object' THEN
    x := app_private.autopilot_num(e, 'errorPercent', 5);
    IF x <= 0 OR x > 100 THEN
      PERFORM app_private.raise_invalid('errorRollback.errorPercent', 'in (0, 100]');
    END IF;
    x := app_private.autopilot_num(e, 'forMinutes', 5);
    IF x < 1 OR x > 1440 THEN
      PERFORM app_private.raise_invalid('errorRollback.forMinutes', 'in 1..=1440');
    END IF;
    IF app_private.autopilot_num(e, 'watchMinutes', 60) < x
       OR app_private.autopilot_num(e, 'watchMinutes', 60) > 10080 THEN
      PERFORM app_private.raise_invalid('errorRollback.watchMinutes',
        'at least forMinutes and at most 10080 (a week)');
    END IF;
  END IF;
END
$$;

-- The two-argument form (stamp trigger and update_app_config) also checks `autopilot`; the
-- three-argument form of 20251203000100_config_integrity.sql is unchanged.
CREATE OR REPLACE FUNCTION app_private.validate_config(p_key text, p_value jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = '' AS $$
BEGIN
  PERFORM app_private.validate_config(p_key, p_value,
    lower(coalesce(current_setting('sourcegate.allow_private_origins', true), '')) IN ('on', 'true', '1', 'yes'));
  IF p_key = 'autopilot' THEN
    PERFORM app_private.validate_autopilot(p_value);
  END IF;
END
$$;
REVOKE ALL ON FUNCTION app_private.autopilot_shape(jsonb, text, text, boolean, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.autopilot_num(jsonb, text, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.validate_autopilot(jsonb) FROM PUBLIC;
-- Pure functions: update_app_config (SECURITY INVOKER) calls them as the caller.
GRANT EXECUTE ON FUNCTION app_private.autopilot_shape(jsonb, text, text, boolean, numeric),
  app_private.autopilot_num(jsonb, text, numeric), app_private.validate_autopilot(jsonb)
  TO authenticated, service_role;

-- No seed row: without an `autopilot` row the autopilot is off (the policy's defaults with
-- `enabled: false`); an admin's first write creates it as version 1, in the history.

-- ---------------------------------------------------------------------------
-- 3. The autopilot identity
-- ---------------------------------------------------------------------------
DO $role$
DECLARE
  r text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'sourcegate_autopilot') THEN
    BEGIN
      CREATE ROLE sourcegate_autopilot NOLOGIN NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- roles are cluster-wide: another database created it concurrently
    END;
  END IF;
  -- The login roles that already switch to `authenticated` (PostgREST's `authenticator`, the
  -- control plane's request role) may switch to the autopilot too.
  FOR r IN
    SELECT m.rolname FROM pg_catalog.pg_auth_members am
      JOIN pg_catalog.pg_roles m ON m.oid = am.member
      JOIN pg_catalog.pg_roles g ON g.oid = am.roleid
     WHERE g.rolname = 'authenticated' AND m.rolcanlogin
  LOOP
    BEGIN
      EXECUTE format('GRANT sourcegate_autopilot TO %I', r);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'cannot grant sourcegate_autopilot to %: grant it by hand', r;
    END;
  END LOOP;
END
$role$;

GRANT USAGE ON SCHEMA public TO sourcegate_autopilot;
GRANT SELECT ON public.app_config TO sourcegate_autopilot;
DROP POLICY IF EXISTS app_config_autopilot_read ON public.app_config;
CREATE POLICY app_config_autopilot_read ON public.app_config
  FOR SELECT TO sourcegate_autopilot USING (true);

-- The autopilot's only write path: `marketplace_source` through public.update_app_config (all
-- of its checks: validation, p_expected_version, no-op refusal, reason limit), as the identity
-- `autopilot` (JWT-style claims {"role":"autopilot","app_metadata":{"role":"admin"}} for the
-- duration of the call), so the history row names `autopilot` in changed_role. p_reason is
-- required. Raises 42501 for any other key, 22023 without a reason.
CREATE OR REPLACE FUNCTION public.autopilot_update_config(
  p_key text,
  p_value jsonb,
  p_reason text,
  p_expected_version bigint
) RETURNS public.app_config
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  r public.app_config;
  saved text := current_setting('request.jwt.claims', true);
BEGIN
  IF p_key IS DISTINCT FROM 'marketplace_source' THEN
    RAISE EXCEPTION 'the autopilot writes marketplace_source only' USING ERRCODE = '42501';
  END IF;
  IF p_reason IS NULL OR btrim(p_reason) = '' THEN
    RAISE EXCEPTION 'an automatic change needs its reason' USING ERRCODE = '22023';
  END IF;
  PERFORM set_config('request.jwt.claims',
                     '{"role":"autopilot","app_metadata":{"role":"admin"}}', true);
  r := public.update_app_config(p_key, p_value, p_reason, p_expected_version, false);
  PERFORM set_config('request.jwt.claims', coalesce(saved, ''), true);
  RETURN r;
END
$$;
COMMENT ON FUNCTION public.autopilot_update_config(text, jsonb, text, bigint) IS
  'The fleet autopilot''s only write: marketplace_source through update_app_config, recorded with changed_role autopilot. EXECUTE: sourcegate_autopilot only.';
REVOKE ALL ON FUNCTION public.autopilot_update_config(text, jsonb, text, bigint)
  FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.autopilot_update_config(text, jsonb, text, bigint)
  TO sourcegate_autopilot;

-- ---------------------------------------------------------------------------
-- 4. Decisions
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS app_private.autopilot_decisions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  decided_at  timestamptz NOT NULL DEFAULT now(),
  rule        text NOT NULL,
  reason      text NOT NULL,
  dry_run     boolean NOT NULL,
  from_version bigint NOT NULL,
  to_version  bigint,
  decided_by  text NOT NULL
);
COMMENT ON TABLE app_private.autopilot_decisions IS
  'Every automatic action the autopilot decided (dry runs included: to_version NULL), with its evidence and the replica (host:listen address) that decided.';
REVOKE ALL ON app_private.autopilot_decisions FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT ON app_private.autopilot_decisions TO service_role;
