-- Deliberately insecure / slow schema for `scripts/splinter.sh --self-check`: applied after
-- the migrations (as `--extra`), it must make the lint run fail, every rule of advisor.sql
-- (the script's ADVISOR_EXPECT) must report at least one hit, and, when splinter runs, every
-- lint named in SELF_CHECK_EXPECT too. Never apply it anywhere else.
-- Everything lives in `public` (exposed through pgrst.db_schemas) or references auth/storage
-- stand-ins from supabase-stub.sql. No GRANTs are needed: the stub's Supabase default
-- privileges already give anon/authenticated access to what is created in `public`.
SET client_min_messages = warning;

-- 0011 function_search_path_mutable (WARN), 0028 anon_/0029 authenticated_
-- security_definer_function_executable (WARN): SECURITY DEFINER, no search_path, and
-- EXECUTE for anon/authenticated through the default privileges.
CREATE FUNCTION public.known_bad_definer() RETURNS integer
LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;

-- 0013 rls_disabled_in_public (ERROR), 0023 sensitive_columns_exposed (ERROR),
-- 0004 no_primary_key (INFO): an exposed table without RLS, primary key, with a `password`.
CREATE TABLE public.known_bad_no_rls (username text, password text);

-- 0007 policy_exists_rls_disabled (ERROR): a policy on a table whose RLS is off.
CREATE TABLE public.known_bad_policy_no_rls (id bigint PRIMARY KEY);
CREATE POLICY known_bad_orphan ON public.known_bad_policy_no_rls FOR SELECT USING (true);

-- 0008 rls_enabled_no_policy (INFO): RLS on, no policy.
CREATE TABLE public.known_bad_rls_no_policy (id bigint PRIMARY KEY);
ALTER TABLE public.known_bad_rls_no_policy ENABLE ROW LEVEL SECURITY;

-- 0003 auth_rls_initplan (WARN): auth.uid() re-evaluated per row (not wrapped in SELECT);
-- 0006 multiple_permissive_policies (WARN): two permissive SELECT policies for authenticated;
-- 0024 rls_policy_always_true (WARN): an UPDATE policy USING (true);
-- 0021 fkey_to_auth_unique (ERROR): a foreign key to auth.users' unique `phone`;
-- 0001 unindexed_foreign_keys (INFO): and that foreign key has no index.
CREATE TABLE public.known_bad_notes (
  id bigint PRIMARY KEY,
  owner uuid,
  owner_phone text REFERENCES auth.users (phone),
  body text
);
ALTER TABLE public.known_bad_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY known_bad_own ON public.known_bad_notes FOR SELECT TO authenticated
  USING (owner = auth.uid());
CREATE POLICY known_bad_all ON public.known_bad_notes FOR SELECT TO authenticated
  USING (true);
CREATE POLICY known_bad_update_any ON public.known_bad_notes FOR UPDATE TO authenticated
  USING (true);

-- 0015 rls_references_user_metadata (ERROR): a policy trusting user-editable metadata.
CREATE POLICY known_bad_user_meta ON public.known_bad_notes FOR DELETE TO authenticated
  USING ((SELECT auth.jwt()) -> 'user_metadata' ->> 'role' = 'admin');

-- 0009 duplicate_index (WARN): two identical indexes.
CREATE INDEX known_bad_idx_a ON public.known_bad_notes (owner);
CREATE INDEX known_bad_idx_b ON public.known_bad_notes (owner);

-- 0010 security_definer_view (ERROR) and 0002 auth_users_exposed (ERROR): a view without
-- security_invoker, selectable by anon, reading auth.users.
CREATE VIEW public.known_bad_users AS SELECT u.id, u.email FROM auth.users u;

-- 0016 materialized_view_in_api (WARN).
CREATE MATERIALIZED VIEW public.known_bad_matview AS SELECT 1 AS one;

-- 0018 unsupported_reg_types (WARN): a regproc column blocks pg_upgrade.
CREATE TABLE public.known_bad_regtype (id bigint PRIMARY KEY, f regproc);
ALTER TABLE public.known_bad_regtype ENABLE ROW LEVEL SECURITY;

-- 0025 public_bucket_allows_listing (WARN): a public bucket with a broad SELECT policy.
INSERT INTO storage.buckets (id, name, public) VALUES ('known-bad', 'known-bad', true);
CREATE POLICY known_bad_list ON storage.objects FOR SELECT TO anon
  USING (bucket_id = 'known-bad');

-- Sourcegate advisor (advisor.sql) cases not covered above:
-- function_search_path_not_fixed in app_private (not an exposed schema, still checked).
CREATE FUNCTION app_private.known_bad_no_path() RETURNS integer
LANGUAGE sql AS $$ SELECT 1 $$;
-- policy_calls_auth_per_row via current_setting() (auth.uid() is in known_bad_own above).
CREATE POLICY known_bad_setting ON public.known_bad_notes FOR INSERT TO authenticated
  WITH CHECK (owner::text = current_setting('request.jwt.claim.sub', true));
-- anon_unneeded_privilege: a sequence in public, UPDATE (setval) for anon through the
-- default privileges (the tables above also give anon TRUNCATE/REFERENCES/TRIGGER).
CREATE SEQUENCE public.known_bad_seq;
