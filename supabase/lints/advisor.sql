-- Sourcegate's own database advisor rules: one query returning (name, level, detail), one row
-- per finding. Written for this repository from the rules Supabase documents for its
-- Security/Performance Advisors (https://supabase.com/docs/guides/database/database-linter);
-- it is not derived from splinter's SQL. The README in this directory maps each rule to the
-- Supabase lint it corresponds to.
--
-- Run by scripts/splinter.sh (always, with or without splinter) as
--   CREATE TEMP TABLE advisor_hits AS <this file>
-- and also runnable as-is in a project's SQL editor. The exposed schemas come from
-- pgrst.db_schemas when set, else Supabase's default 'public, graphql_public'.
-- Objects that belong to an extension are ignored (the extension owns their definition).
-- Keep this file ONE statement ending in a semicolon, with no other statement.
with
exposed as (
  select n.oid, n.nspname
    from pg_catalog.pg_namespace n
   where n.nspname in (
           select pg_catalog.btrim(s)
             from pg_catalog.unnest(pg_catalog.string_to_array(
                    coalesce(nullif(pg_catalog.current_setting('pgrst.db_schemas', true), ''),
                             'public, graphql_public'), ',')) as s)
),
api_role as (
  select r.oid, r.rolname
    from pg_catalog.pg_roles r
   where r.rolname in ('anon', 'authenticated')
),
fn as (
  select p.oid, n.nspname, p.proname, p.prosecdef, p.proconfig, p.prorettype,
         n.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' as sig
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
   where p.prokind in ('f', 'p')
     and not exists (select 1 from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                        and d.objid = p.oid and d.deptype = 'e')
),
rel as (
  select c.oid, n.nspname, c.relname, c.relkind, c.relrowsecurity, c.reloptions,
         n.nspname || '.' || c.relname as qname
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
     and n.nspname not like 'pg_temp%' and n.nspname not like 'pg_toast_temp%'
     and not exists (select 1 from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                        and d.objid = c.oid and d.deptype = 'e')
),
pol as (
  select po.polname, po.polpermissive, po.polcmd, po.polroles, r.oid as reloid, r.qname,
         r.relrowsecurity, r.nspname,
         coalesce(pg_catalog.pg_get_expr(po.polqual, po.polrelid), '') || ' ' ||
         coalesce(pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid), '') as expr
    from pg_catalog.pg_policy po
    join rel r on r.oid = po.polrelid
)

-- R1 secdef_function_executable_by_anon / R2 ..._by_authenticated: a SECURITY DEFINER
-- function in an exposed schema is an RPC endpoint running with its owner's rights.
-- Trigger functions cannot be called through the API and are left out.
select 'secdef_function_executable_by_' || a.rolname as name, 'WARN' as level,
       format('SECURITY DEFINER function %s is in an exposed schema and %s can EXECUTE it (call it through /rest/v1/rpc); make it SECURITY INVOKER, move it out of the exposed schemas, or REVOKE EXECUTE from %s (and PUBLIC)',
              f.sig, a.rolname, a.rolname) as detail
  from fn f
  join exposed e on e.nspname = f.nspname
  cross join api_role a
 where f.prosecdef
   and f.prorettype not in ('pg_catalog.trigger'::pg_catalog.regtype, 'pg_catalog.event_trigger'::pg_catalog.regtype)
   and pg_catalog.has_function_privilege(a.oid, f.oid, 'EXECUTE')

union all
-- R3 function_search_path_not_fixed: without `SET search_path`, name resolution inside the
-- function depends on the caller's search_path (a hijack risk for SECURITY DEFINER code).
select 'function_search_path_not_fixed', 'WARN',
       format('function %s has no fixed search_path; add SET search_path = '''' (and schema-qualify names)', f.sig)
  from fn f
 where (f.nspname in (select nspname from exposed) or f.nspname = 'app_private')
   and not exists (select 1 from pg_catalog.unnest(coalesce(f.proconfig, '{}')) as c(setting)
                    where c.setting like 'search_path=%')

union all
-- R4 table_without_rls_in_public: every row of such a table is open to whoever holds
-- privileges on it (through the Data API, anon and authenticated).
select 'table_without_rls_in_public', 'ERROR',
       format('table %s is in schema public and row level security is not enabled; ALTER TABLE %s ENABLE ROW LEVEL SECURITY and add policies', r.qname, r.qname)
  from rel r
 where r.nspname = 'public' and r.relkind in ('r', 'p') and not r.relrowsecurity

union all
-- R5 policy_on_table_without_rls: the policies look like protection but are not applied.
select 'policy_on_table_without_rls', 'ERROR',
       format('table %s has policies (%s) but row level security is disabled, so none of them applies',
              p.qname, pg_catalog.string_agg(p.polname, ', ' order by p.polname))
  from pol p
 where not p.relrowsecurity
 group by p.qname

union all
-- R6 rls_enabled_without_policy: nobody but the owner / BYPASSRLS roles sees a row. Often
-- intended (service_role only), hence INFO.
select 'rls_enabled_without_policy', 'INFO',
       format('table %s has row level security enabled but no policy: only its owner and BYPASSRLS roles can read or write it', r.qname)
  from rel r
 where r.nspname in (select nspname from exposed) and r.relkind in ('r', 'p') and r.relrowsecurity
   and not exists (select 1 from pg_catalog.pg_policy po where po.polrelid = r.oid)

union all
-- R7 view_not_security_invoker: a view runs with its owner's rights by default, so it
-- bypasses the RLS of the tables it reads.
select 'view_not_security_invoker', 'ERROR',
       format('view %s does not have security_invoker = true, so it reads its tables with its owner''s rights and bypasses their RLS; ALTER VIEW %s SET (security_invoker = true)', r.qname, r.qname)
  from rel r
 where r.nspname = 'public' and r.relkind = 'v'
   and not exists (select 1 from pg_catalog.pg_options_to_table(r.reloptions) o
                    where o.option_name = 'security_invoker'
                      and pg_catalog.lower(o.option_value) in ('true', 'on', 'yes', '1', 't', 'y'))

union all
-- R8 duplicate_permissive_policies: PostgreSQL evaluates every permissive policy that
-- applies to a role and command (OR-ed), so two of them cost twice per row.
select 'duplicate_permissive_policies', 'WARN',
       format('table %s has %s permissive policies for role %s and %s (%s); merge them into one',
              x.qname, pg_catalog.count(*), x.rolname, x.cmd, pg_catalog.string_agg(x.polname, ', ' order by x.polname))
  from (select p.qname, p.polname, ro.rolname,
               case c.cmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' else 'DELETE' end as cmd
          from pol p
          cross join lateral (select pg_catalog.unnest(case when p.polcmd = '*' then array['r', 'a', 'w', 'd']
                                                            else array[p.polcmd::text] end) as cmd) c
          cross join lateral (select pr.rolname
                                from pg_catalog.pg_roles pr
                               where pr.oid = any (p.polroles)
                                  or (0 = any (p.polroles) and pr.rolname in ('anon', 'authenticated'))) ro
         where p.polpermissive) x
 group by x.qname, x.rolname, x.cmd
having pg_catalog.count(*) > 1

union all
-- R9 policy_calls_auth_per_row: auth.uid() & co. (and current_setting()) written directly in a
-- policy are evaluated for every row; `(select auth.uid())` is evaluated once per query.
select 'policy_calls_auth_per_row', 'WARN',
       format('policy %s on %s calls auth.<fn>() or current_setting() directly, re-evaluated for every row; wrap it: (select auth.uid())',
              p.polname, p.qname)
  from pol p
 where pg_catalog.regexp_replace(p.expr,
         '\(\s*select\s+(auth\.(uid|jwt|role|email)\(\)|(pg_catalog\.)?current_setting\([^)]*\))', '', 'gi')
       ~* '(auth\.(uid|jwt|role|email)\(\)|current_setting\()'

union all
-- R10 anon_unneeded_privilege: privileges the anonymous API role never needs and that act
-- outside RLS: TRUNCATE (ignores RLS), REFERENCES and TRIGGER on tables in public; UPDATE
-- (setval) on sequences in public.
select 'anon_unneeded_privilege', 'WARN',
       format('anon holds %s on %s %s; REVOKE it (Supabase''s default privileges grant ALL to anon on new objects in public)',
              pg_catalog.string_agg(pv.priv, ', ' order by pv.priv),
              case when r.relkind = 'S' then 'sequence' else 'relation' end, r.qname)
  from rel r
  cross join api_role a
  cross join lateral (select v.priv
                        from pg_catalog.unnest(case when r.relkind = 'S' then array['UPDATE']
                                                    else array['TRUNCATE', 'REFERENCES', 'TRIGGER'] end) as v(priv)
                       where case when r.relkind = 'S' then pg_catalog.has_sequence_privilege(a.oid, r.oid, v.priv)
                                  else pg_catalog.has_table_privilege(a.oid, r.oid, v.priv) end) pv
 where a.rolname = 'anon' and r.nspname = 'public' and r.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
 group by r.qname, r.relkind
;
