-- Supabase compatibility shim for plain PostgreSQL (15+).
--
-- On a real Supabase project every object below already exists (the roles are
-- created by supabase/postgres, the `auth` schema and its functions belong to
-- `supabase_auth_admin`), and this migration issues NO DDL at all: each
-- statement is guarded by a catalog lookup and run through EXECUTE. Even
-- `CREATE OR REPLACE FUNCTION auth.uid()` would fail on Supabase since
-- 2025-04-21 (changelog 34270), hence the guards.
--
-- Function bodies reproduce supabase/auth
-- `migrations/20240624145325_recreate_auth_functions.up.sql`.
DO $shim$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT %s', r,
                       CASE WHEN r = 'service_role' THEN 'BYPASSRLS' ELSE '' END);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- roles are cluster-wide: another database created it concurrently
      END;
    END IF;
  END LOOP;

  IF to_regnamespace('auth') IS NULL THEN
    EXECUTE 'CREATE SCHEMA auth';
    EXECUTE 'GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role';
  END IF;

  IF to_regprocedure('auth.jwt()') IS NULL THEN
    EXECUTE $f$CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE SET search_path = ''
      AS $b$ SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                             nullif(current_setting('request.jwt.claims', true), ''))::jsonb $b$$f$;
    EXECUTE 'COMMENT ON FUNCTION auth.jwt() IS ''Claims of the request JWT (Supabase-compatible shim).''';
  END IF;

  IF to_regprocedure('auth.uid()') IS NULL THEN
    EXECUTE $f$CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE SET search_path = ''
      AS $b$ SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
             (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $b$$f$;
    EXECUTE 'COMMENT ON FUNCTION auth.uid() IS ''Deprecated. Use auth.jwt() instead. (Supabase-compatible shim.)''';
  END IF;

  IF to_regprocedure('auth.role()') IS NULL THEN
    EXECUTE $f$CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE SET search_path = ''
      AS $b$ SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
             (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text $b$$f$;
    EXECUTE 'COMMENT ON FUNCTION auth.role() IS ''Deprecated. Use auth.jwt() instead. (Supabase-compatible shim.)''';
  END IF;
END
$shim$;
