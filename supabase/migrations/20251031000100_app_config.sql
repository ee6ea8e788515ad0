-- Sourcegate: remote configuration (`app_config`), append-only audit history,
-- admin check, RPCs. Runs unchanged on Supabase and on plain PostgreSQL 15
-- (after 20251031000000_supabase_shim.sql).
--
-- Error codes raised here (PostgREST maps `PTxyz` to HTTP xyz):
--   42501  admin privileges required        (PostgREST: 403 with a JWT, 401 without)
--   PT409  stale p_expected_version          (HTTP 409; nothing changed)
--   PT422  invalid configuration document    (HTTP 422; the offending field is in
--          the error's DETAIL as `field=<name>` and in its COLUMN)
--   PT403  attempt to modify the append-only history (HTTP 403)

-- ---------------------------------------------------------------------------
-- Private schema: never exposed through the API.
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS app_private;
REVOKE ALL ON SCHEMA app_private FROM PUBLIC;
GRANT USAGE ON SCHEMA app_private TO authenticated, service_role;

CREATE TABLE IF NOT EXISTS app_private.admins (
  user_id  uuid PRIMARY KEY,
  added_at timestamptz NOT NULL DEFAULT now(),
  note     text
);
COMMENT ON TABLE app_private.admins IS
  'Users allowed to change app_config. Checked on every request, so removing a row revokes immediately.';
REVOKE ALL ON app_private.admins FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, DELETE ON app_private.admins TO service_role;

-- An admin is: the service_role, a JWT whose app_metadata.role is 'admin'
-- (app_metadata is only writable by the service role), or a user listed in
-- app_private.admins. user_metadata is user-editable and never consulted.
CREATE OR REPLACE FUNCTION app_private.is_admin() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
  SELECT coalesce((SELECT auth.jwt()) ->> 'role' = 'service_role', false)
      OR coalesce((SELECT auth.jwt()) -> 'app_metadata' ->> 'role' = 'admin', false)
      OR EXISTS (SELECT 1 FROM app_private.admins a WHERE a.user_id = (SELECT auth.uid()))
$$;
REVOKE ALL ON FUNCTION app_private.is_admin() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_private.is_admin() TO authenticated, service_role;

-- Shape check of a configuration document. Raises PT422 naming the field.
CREATE OR REPLACE FUNCTION app_private.validate_config(p_key text, p_value jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
  t text;
  f text;
  cdn text;
  pct numeric;
BEGIN
  IF p_key IS NULL OR btrim(p_key) = '' OR length(p_key) > 200 THEN
    RAISE EXCEPTION 'invalid config key' USING ERRCODE = 'PT422', DETAIL = 'field=config_key', COLUMN = 'config_key';
  END IF;
  IF p_value IS NULL THEN
    RAISE EXCEPTION 'config value is required' USING ERRCODE = 'PT422', DETAIL = 'field=value', COLUMN = 'value';
  END IF;
  IF p_key <> 'marketplace_source' THEN
    RETURN; -- other keys are free-form JSON
  END IF;
  IF jsonb_typeof(p_value) <> 'object' THEN
    RAISE EXCEPTION 'marketplace_source must be a JSON object' USING ERRCODE = 'PT422', DETAIL = 'field=value', COLUMN = 'value';
  END IF;
  IF jsonb_typeof(p_value -> 'type') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION 'type must be a string' USING ERRCODE = 'PT422', DETAIL = 'field=type', COLUMN = 'type';
  END IF;
  t := p_value ->> 'type';
  IF t NOT IN ('git', 'cdn', 'cloudflare', 'hybrid', 'canary') THEN
    RAISE EXCEPTION 'type must be one of git, cdn, cloudflare, hybrid, canary' USING ERRCODE = 'PT422', DETAIL = 'field=type', COLUMN = 'type';
  END IF;
  -- Every URL that is present must be an http(s) URL with a host.
  FOREACH f IN ARRAY ARRAY['gitUrl', 'cdnUrl', 'cloudflareUrl'] LOOP
    IF p_value ? f AND jsonb_typeof(p_value -> f) <> 'null' THEN
      IF jsonb_typeof(p_value -> f) <> 'string' OR (p_value ->> f) !~* '^https?://[^/\s?#]+' THEN
        RAISE EXCEPTION '% must be an http(s) URL', f USING ERRCODE = 'PT422', DETAIL = 'field=' || f, COLUMN = f;
      END IF;
    END IF;
  END LOOP;
  cdn := coalesce(p_value ->> 'cdnUrl', p_value ->> 'cloudflareUrl');
  IF t IN ('git', 'hybrid', 'canary') AND (p_value ->> 'gitUrl') IS NULL THEN
    RAISE EXCEPTION 'gitUrl is required for type %', t USING ERRCODE = 'PT422', DETAIL = 'field=gitUrl', COLUMN = 'gitUrl';
  END IF;
  IF t IN ('cdn', 'cloudflare', 'hybrid', 'canary') AND cdn IS NULL THEN
    RAISE EXCEPTION 'cdnUrl is required for type %', t USING ERRCODE = 'PT422', DETAIL = 'field=cdnUrl', COLUMN = 'cdnUrl';
  END IF;
  IF p_value ? 'canaryPercent' AND jsonb_typeof(p_value -> 'canaryPercent') <> 'null' THEN
    IF jsonb_typeof(p_value -> 'canaryPercent') <> 'number' THEN
      RAISE EXCEPTION 'canaryPercent must be a number' USING ERRCODE = 'PT422', DETAIL = 'field=canaryPercent', COLUMN = 'canaryPercent';
    END IF;
    pct := (p_value ->> 'canaryPercent')::numeric;
    IF pct < 0 OR pct > 100 THEN
      RAISE EXCEPTION 'canaryPercent must be between 0 and 100' USING ERRCODE = 'PT422', DETAIL = 'field=canaryPercent', COLUMN = 'canaryPercent';
    END IF;
  END IF;
  IF p_value ? 'priority' AND jsonb_typeof(p_value -> 'priority') NOT IN ('array', 'null') THEN
    RAISE EXCEPTION 'priority must be an array' USING ERRCODE = 'PT422', DETAIL = 'field=priority', COLUMN = 'priority';
  END IF;
END
$$;
REVOKE ALL ON FUNCTION app_private.validate_config(text, jsonb) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- public.app_config
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.app_config (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  config_key   text NOT NULL UNIQUE,
  config_value jsonb NOT NULL,
  version      bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  updated_by   uuid
);
COMMENT ON TABLE public.app_config IS
  'Remote configuration read by every Sourcegate client. Public read, admin write; every change is recorded in app_config_history.';

ALTER TABLE public.app_config ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.app_config FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON public.app_config TO anon, authenticated, service_role;
GRANT INSERT, UPDATE, DELETE ON public.app_config TO authenticated, service_role;

DROP POLICY IF EXISTS app_config_read ON public.app_config;
CREATE POLICY app_config_read ON public.app_config
  FOR SELECT TO anon, authenticated USING (true);
DROP POLICY IF EXISTS app_config_admin_insert ON public.app_config;
CREATE POLICY app_config_admin_insert ON public.app_config
  FOR INSERT TO authenticated WITH CHECK ((SELECT app_private.is_admin()));
DROP POLICY IF EXISTS app_config_admin_update ON public.app_config;
CREATE POLICY app_config_admin_update ON public.app_config
  FOR UPDATE TO authenticated
  USING ((SELECT app_private.is_admin())) WITH CHECK ((SELECT app_private.is_admin()));
DROP POLICY IF EXISTS app_config_admin_delete ON public.app_config;
CREATE POLICY app_config_admin_delete ON public.app_config
  FOR DELETE TO authenticated USING ((SELECT app_private.is_admin()));

-- ---------------------------------------------------------------------------
-- public.app_config_history: append-only audit trail
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.app_config_history (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  config_id    uuid NOT NULL,
  config_key   text NOT NULL,
  version      bigint NOT NULL,
  op           text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
  old_value    jsonb,
  new_value    jsonb,
  changed_by   uuid,
  changed_role text,
  changed_at   timestamptz NOT NULL DEFAULT now(),
  reason       text
);
CREATE INDEX IF NOT EXISTS app_config_history_key_version
  ON public.app_config_history (config_key, version DESC);
COMMENT ON TABLE public.app_config_history IS
  'Who changed which app_config row, when and why. Written only by a trigger; rows can never be updated, deleted or truncated.';

ALTER TABLE public.app_config_history ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON public.app_config_history FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON public.app_config_history TO authenticated, service_role;
DROP POLICY IF EXISTS app_config_history_admin_read ON public.app_config_history;
CREATE POLICY app_config_history_admin_read ON public.app_config_history
  FOR SELECT TO authenticated USING ((SELECT app_private.is_admin()));

-- BEFORE trigger on app_config: validation, version bump, stamps. Every write
-- path (RPC, direct table write through the API, psql) goes through it.
CREATE OR REPLACE FUNCTION app_private.app_config_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  PERFORM app_private.validate_config(NEW.config_key, NEW.config_value);
  IF TG_OP = 'UPDATE' THEN
    NEW.version := OLD.version + 1;
  ELSE
    NEW.version := coalesce(NEW.version, 1);
  END IF;
  IF jsonb_typeof(NEW.config_value) = 'object' THEN
    NEW.config_value := NEW.config_value || jsonb_build_object('version', NEW.version);
  END IF;
  NEW.updated_at := now();
  NEW.updated_by := auth.uid();
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION app_private.app_config_stamp() FROM PUBLIC;
DROP TRIGGER IF EXISTS app_config_stamp ON public.app_config;
CREATE TRIGGER app_config_stamp BEFORE INSERT OR UPDATE ON public.app_config
  FOR EACH ROW EXECUTE FUNCTION app_private.app_config_stamp();

-- AFTER trigger: history row + NOTIFY (delivered at commit).
-- The reason comes from the transaction-local GUC `sourcegate.change_reason`
-- set by public.update_app_config().
CREATE OR REPLACE FUNCTION app_private.app_config_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  k text := coalesce(NEW.config_key, OLD.config_key);
  v bigint := coalesce(NEW.version, OLD.version);
BEGIN
  INSERT INTO public.app_config_history
    (config_id, config_key, version, op, old_value, new_value, changed_by, changed_role, reason)
  VALUES (coalesce(NEW.id, OLD.id), k, v, TG_OP,
          CASE WHEN TG_OP <> 'INSERT' THEN OLD.config_value END,
          CASE WHEN TG_OP <> 'DELETE' THEN NEW.config_value END,
          auth.uid(),
          coalesce(auth.role(), nullif(nullif(current_setting('role', true), ''), 'none'), session_user),
          nullif(current_setting('sourcegate.change_reason', true), ''));
  PERFORM pg_notify('app_config_changed',
                    json_build_object('key', k, 'version', v, 'op', TG_OP)::text);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.app_config_audit() FROM PUBLIC;
DROP TRIGGER IF EXISTS app_config_audit ON public.app_config;
CREATE TRIGGER app_config_audit AFTER INSERT OR UPDATE OR DELETE ON public.app_config
  FOR EACH ROW EXECUTE FUNCTION app_private.app_config_audit();

-- Append-only: refused for everyone, service_role and superusers included.
CREATE OR REPLACE FUNCTION app_private.deny_history_mutation() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  RAISE EXCEPTION 'app_config_history is append-only (% refused)', TG_OP USING ERRCODE = 'PT403';
END
$$;
REVOKE ALL ON FUNCTION app_private.deny_history_mutation() FROM PUBLIC;
DROP TRIGGER IF EXISTS app_config_history_no_update ON public.app_config_history;
CREATE TRIGGER app_config_history_no_update BEFORE UPDATE OR DELETE ON public.app_config_history
  FOR EACH ROW EXECUTE FUNCTION app_private.deny_history_mutation();
DROP TRIGGER IF EXISTS app_config_history_no_truncate ON public.app_config_history;
CREATE TRIGGER app_config_history_no_truncate BEFORE TRUNCATE ON public.app_config_history
  FOR EACH STATEMENT EXECUTE FUNCTION app_private.deny_history_mutation();

-- ---------------------------------------------------------------------------
-- RPCs (exposed by PostgREST under /rest/v1/rpc/...)
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.get_marketplace_config() RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = '' AS $$
  SELECT c.config_value FROM public.app_config c WHERE c.config_key = 'marketplace_source'
$$;
COMMENT ON FUNCTION public.get_marketplace_config() IS
  'The marketplace_source configuration document (public).';
REVOKE ALL ON FUNCTION public.get_marketplace_config() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.get_marketplace_config() TO anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION public.update_app_config(
  p_key text,
  p_value jsonb,
  p_reason text DEFAULT NULL,
  p_expected_version bigint DEFAULT NULL
) RETURNS public.app_config
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  r public.app_config;
  cur bigint;
BEGIN
  IF NOT app_private.is_admin() THEN
    RAISE EXCEPTION 'admin privileges required' USING ERRCODE = '42501';
  END IF;
  PERFORM app_private.validate_config(p_key, p_value);
  SELECT c.version INTO cur FROM public.app_config c WHERE c.config_key = p_key FOR UPDATE;
  IF p_expected_version IS NOT NULL AND coalesce(cur, 0) <> p_expected_version THEN
    RAISE EXCEPTION 'version conflict: expected %, current %', p_expected_version, coalesce(cur, 0)
      USING ERRCODE = 'PT409', DETAIL = 'current_version=' || coalesce(cur, 0);
  END IF;
  PERFORM set_config('sourcegate.change_reason', coalesce(p_reason, ''), true);
  IF cur IS NULL THEN
    INSERT INTO public.app_config (config_key, config_value) VALUES (p_key, p_value)
    RETURNING * INTO r;
  ELSE
    UPDATE public.app_config c SET config_value = p_value WHERE c.config_key = p_key
    RETURNING * INTO r;
  END IF;
  PERFORM set_config('sourcegate.change_reason', '', true);
  RETURN r;
END
$$;
COMMENT ON FUNCTION public.update_app_config(text, jsonb, text, bigint) IS
  'Admin only. Validates and stores a configuration, bumping its version. Raises 42501 (not admin), PT409 (stale p_expected_version), PT422 (invalid document).';
REVOKE ALL ON FUNCTION public.update_app_config(text, jsonb, text, bigint) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.update_app_config(text, jsonb, text, bigint) TO authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Seed (recorded in history as version 1, INSERT)
-- ---------------------------------------------------------------------------
INSERT INTO public.app_config (config_key, config_value, version)
VALUES ('marketplace_source',
        '{"type":"git","priority":["git"],"gitUrl":"https://raw.githubusercontent.com/obsidianmd/obsidian-releases/HEAD/","healthCheckEnabled":true,"fallbackOnError":true,"version":1}'::jsonb,
        1)
ON CONFLICT (config_key) DO NOTHING;

-- ---------------------------------------------------------------------------
-- Hardening and optional Supabase integrations
-- ---------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

DO $harden$
BEGIN
  -- sqlx's bookkeeping table must not be readable through the API.
  IF to_regclass('public._sqlx_migrations') IS NOT NULL THEN
    EXECUTE 'REVOKE ALL ON public._sqlx_migrations FROM PUBLIC, anon, authenticated';
  END IF;
  -- Supabase Realtime "Postgres Changes" (RLS applies per subscriber).
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'supabase_realtime')
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables
                     WHERE pubname = 'supabase_realtime' AND schemaname = 'public' AND tablename = 'app_config') THEN
    EXECUTE 'ALTER PUBLICATION supabase_realtime ADD TABLE public.app_config';
  END IF;
END
$harden$;
