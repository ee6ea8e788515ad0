-- Minimal stand-in for what a Supabase project has before our migrations run, so the
-- splinter lints (supabase/lints/splinter.sql) see the same roles, grants and schemas as the
-- Security Advisor does. Applied by scripts/splinter.sh to a throw-away plain PostgreSQL 15
-- cluster, as its superuser, before supabase/migrations/. NOT a migration: never apply it to
-- a real project (every object below already exists there, owned by Supabase's roles).
--
-- Sources: supabase/postgres migrations/db/init-scripts/00000000000000-initial-schema.sql
-- (roles, public-schema grants, default privileges, `extensions`, the `supabase_realtime`
-- publication) and supabase/auth (the auth.* function bodies, the same ones
-- supabase/migrations/20251031000000_supabase_shim.sql creates on plain PostgreSQL).
--
-- Because the roles and auth.jwt()/auth.uid()/auth.role() exist before the migrations run,
-- our shim migration issues no DDL here, exactly as on Supabase.
SET client_min_messages = warning;

-- API roles, as supabase/postgres creates them; `authenticator` is PostgREST's login role.
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator NOINHERIT LOGIN;
GRANT anon, authenticated, service_role TO authenticator;

-- Supabase's grants on `public`: USAGE, and default privileges that hand every table,
-- function and sequence the migrations' role creates in `public` to the API roles. This is
-- what makes a forgotten REVOKE visible to lints 0013/0028/0029 (a plain `REVOKE ... FROM
-- PUBLIC` does not remove these explicit grants). Newer projects can turn the table grants
-- off; modelling the permissive default is the stricter check.
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;

CREATE SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
CREATE SCHEMA graphql_public; -- exposed by default (pgrst.db_schemas = 'public, graphql_public')
GRANT USAGE ON SCHEMA graphql_public TO anon, authenticated, service_role;

-- Realtime's (initially empty) publication: our app_config migration adds app_config to it
-- when it exists, as on Supabase.
CREATE PUBLICATION supabase_realtime;

-- auth: the helper functions (bodies from supabase/auth
-- migrations/20240624145325_recreate_auth_functions.up.sql) and a minimal auth.users, so
-- lints 0002 (auth_users_exposed) and 0021 (fkey_to_auth_unique) have something to look at.
-- RLS on auth.users is left off: lint 0002 then also flags security-invoker views over it
-- (the stricter reading).
CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
CREATE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text
$$;

CREATE TABLE auth.users (
  id                 uuid PRIMARY KEY,
  aud                varchar(255),
  role               varchar(255),
  email              varchar(255),
  phone              text UNIQUE DEFAULT NULL, -- users_phone_key, a unique constraint as on Supabase
  raw_app_meta_data  jsonb,
  raw_user_meta_data jsonb,
  is_anonymous       boolean NOT NULL DEFAULT false,
  created_at         timestamptz,
  updated_at         timestamptz
);

-- storage: the two tables lint 0025 (public_bucket_allows_listing) reads.
CREATE SCHEMA storage;
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
CREATE TABLE storage.buckets (
  id         text PRIMARY KEY,
  name       text NOT NULL UNIQUE,
  owner      uuid,
  public     boolean DEFAULT false,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);
CREATE TABLE storage.objects (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  bucket_id  text REFERENCES storage.buckets (id),
  name       text,
  owner      uuid,
  metadata   jsonb,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
