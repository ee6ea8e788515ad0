#!/usr/bin/env bash
# Lints supabase/migrations/ on a throw-away PostgreSQL 15+ cluster with two sets of rules,
# and fails when any of them reports a WARN or ERROR:
#   - Sourcegate's own advisor rules, supabase/lints/advisor.sql (always run);
#   - Supabase's database linter, splinter (the lints behind a Supabase project's Security and
#     Performance Advisors), when it can be obtained. splinter has no licence, so it is NOT in
#     this repository (see supabase/lints/README.md); it is taken from, in order:
#       $SPLINTER_SQL if set; else supabase/lints/splinter.sql if present (an uncommitted
#       local copy, git-ignored); else downloaded from raw.githubusercontent.com at the pinned
#       commit below and checked against the pinned sha256 (not with SPLINTER_OFFLINE=1).
#     When none works, it prints "splinter: SKIPPED (why); Sourcegate's own advisor rules ran"
#     and the exit status is decided by advisor.sql alone.
#
#   bash scripts/splinter.sh                    lint the migrations
#   bash scripts/splinter.sh --extra FILE.sql   ... with FILE.sql applied after them (repeatable)
#   bash scripts/splinter.sh --self-check       run once with supabase/lints/known-bad.sql
#                                               (must fail, with a hit from every rule in
#                                               ADVISOR_EXPECT, and from every lint in
#                                               SELF_CHECK_EXPECT when splinter ran), then
#                                               normally (must pass)
#
# Exit status: 0 no WARN/ERROR hit; 1 at least one WARN or ERROR hit (or, with --self-check,
# a self-check expectation not met); 2 setup failure (no PostgreSQL, a migration or lint
# failed to run, bad usage).
#
# Steps:
#   1. initdb a cluster in a fresh temp dir (UTF8, C locale, password auth, fsync off) and
#      start it on a free 127.0.0.1 port (no other address). As root, initdb/pg_ctl run as
#      an unprivileged user, like control-plane/src/embedded.rs: $SOURCEGATE_PG_USER, else
#      `postgres`, else `nobody`. The trap stops the cluster and deletes the temp dir on any
#      exit (success, failure, Ctrl-C, TERM).
#   2. Apply supabase/lints/supabase-stub.sql: what a Supabase project has before our
#      migrations (roles anon/authenticated/service_role/authenticator, the public-schema
#      grants and default privileges, schemas extensions/graphql_public/auth/storage,
#      auth.jwt()/uid()/role()/email(), a minimal auth.users, storage.buckets/objects, the
#      supabase_realtime publication). Our shim migration then issues no DDL, as on Supabase.
#   3. Apply every <digits>_name.sql of supabase/migrations/ in name order (C collation),
#      each with `psql -v ON_ERROR_STOP=1 -1` as the superuser `postgres` (other files are
#      skipped and said so, as `supabase db push` skips them), then each --extra file.
#   4. Run supabase/lints/advisor.sql (one query, rows name/level/detail) with
#      pgrst.db_schemas = $SPLINTER_DB_SCHEMAS (below), and print every hit as
#      "advisor [LEVEL] name: detail".
#   5. If splinter was obtained: run splinter.sql unchanged, as one query (as the Advisor does), with
#      pgrst.db_schemas = $SPLINTER_DB_SCHEMAS (default 'public, graphql_public', Supabase's
#      default exposed schemas; several lints only look at exposed schemas). Print every hit
#      (level, name, title, detail), then a table of every lint run with its hit count.
#
# splinter lints (commit 55db5b1, 28 lints; 0012 has no SQL). Skipped: none. All 28 run,
# in one query; a lint that errors fails the run (exit 2), it is never dropped silently.
#   Run, and can report here (the stub gives the Supabase-specific ones their objects):
#     0001 unindexed_foreign_keys INFO        0013 rls_disabled_in_public ERROR
#     0002 auth_users_exposed ERROR (stub)    0014 extension_in_public WARN
#     0003 auth_rls_initplan WARN             0015 rls_references_user_metadata ERROR
#     0004 no_primary_key INFO                0016 materialized_view_in_api WARN
#     0006 multiple_permissive_policies WARN  0017 foreign_table_in_api WARN
#     0007 policy_exists_rls_disabled ERROR   0018 unsupported_reg_types WARN
#     0008 rls_enabled_no_policy INFO         0021 fkey_to_auth_unique ERROR (stub)
#     0009 duplicate_index WARN               0022 extension_versions_outdated WARN
#     0010 security_definer_view ERROR        0023 sensitive_columns_exposed ERROR
#     0011 function_search_path_mutable WARN  0024 rls_policy_always_true WARN
#     0028 anon_security_definer_function_executable WARN
#     0029 authenticated_security_definer_function_executable WARN
#     0025 public_bucket_allows_listing WARN (stub: storage.buckets/objects)
#   Run, but read activity statistics, which a fresh cluster does not have:
#     0005 unused_index INFO (reports every non-unique index), 0020 table_bloat INFO.
#   Run, but can never report here: what they inspect is an extension plain PostgreSQL does
#   not ship, and a stand-in would have to be the extension itself:
#     0019 insecure_queue_exposed_in_api ERROR (needs pgmq: Supabase Queues)
#     0026 pg_graphql_anon_table_exposed WARN (needs pg_graphql)
#     0027 pg_graphql_authenticated_table_exposed WARN (needs pg_graphql)
#   For 0026/0027 the script also prints what they would report with pg_graphql installed
#   (a "what-if" that does not affect the exit status).
#   Not in splinter.sql: 0012 auth_allow_anonymous_sign_ins and the Advisor's other Auth
#   settings checks (the platform reads the Auth configuration, not the database).
# The lints this repository requires (0003 0006 0007 0008 0010 0011 0013 0028 0029,
# REQUIRED_LINTS) are checked to be in the splinter file used; --self-check checks that each of
# them, and every lint in SELF_CHECK_EXPECT, reports known-bad.sql's mistakes.
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "$0")/.." && pwd)"
lints="$root/supabase/lints"
local_splinter_sql="$lints/splinter.sql"
advisor_sql="$lints/advisor.sql"
stub_sql="$lints/supabase-stub.sql"
# The splinter build this script was checked against (splinter.sql as compiled at that commit).
SPLINTER_COMMIT=55db5b1f28e58d816f7d9136eed87eabcd95868d
SPLINTER_SHA256=618a189a2d25c81e1d77efb24acca72c9c832aeac9680ba06a1ba5ec666b2d3d
SPLINTER_URL="https://raw.githubusercontent.com/supabase/splinter/$SPLINTER_COMMIT/splinter.sql"
known_bad_sql="$lints/known-bad.sql"
db_schemas="${SPLINTER_DB_SCHEMAS:-public, graphql_public}"

# Every rule of advisor.sql; known-bad.sql must trigger each in --self-check.
ADVISOR_EXPECT="secdef_function_executable_by_anon secdef_function_executable_by_authenticated
  function_search_path_not_fixed table_without_rls_in_public policy_on_table_without_rls
  rls_enabled_without_policy view_not_security_invoker duplicate_permissive_policies
  policy_calls_auth_per_row anon_unneeded_privilege"
REQUIRED_LINTS="function_search_path_mutable rls_disabled_in_public
  anon_security_definer_function_executable authenticated_security_definer_function_executable
  policy_exists_rls_disabled rls_enabled_no_policy multiple_permissive_policies
  auth_rls_initplan security_definer_view"
# Every lint known-bad.sql must trigger in --self-check: the required ones, the ones relying
# on the stub, and the others a schema can trigger on a fresh cluster without a contrib
# extension (0014/0017/0022 would need one; 0005/0020 statistics; 0019/0026/0027 above).
SELF_CHECK_EXPECT="$REQUIRED_LINTS auth_users_exposed fkey_to_auth_unique
  public_bucket_allows_listing rls_references_user_metadata rls_policy_always_true
  sensitive_columns_exposed duplicate_index materialized_view_in_api unsupported_reg_types
  no_primary_key unindexed_foreign_keys"

usage() {
  sed -n '14,20p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
  echo "splinter.sh: $*" >&2
  exit 2
}

extras=()
self_check=0
while [ $# -gt 0 ]; do
  case "$1" in
    --extra)
      [ $# -ge 2 ] || die "--extra needs a file"
      [ -f "$2" ] || die "--extra $2: no such file"
      extras+=("$(cd "$(dirname "$2")" && pwd)/$(basename "$2")")
      shift 2
      ;;
    --extra=*)
      f="${1#--extra=}"
      [ -f "$f" ] || die "--extra $f: no such file"
      extras+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
      shift
      ;;
    --self-check) self_check=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# ---------------------------------------------------------------------------------------
# --self-check: the failure path first (known-bad.sql must fail, for the right reasons),
# then the real migrations (must pass).
# ---------------------------------------------------------------------------------------
if [ "$self_check" = 1 ]; then
  [ ${#extras[@]} -eq 0 ] || die "--self-check takes no --extra"
  out="$(mktemp)"
  trap 'rm -f "$out"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ok=1

  # run_self WHAT WANT [ARGS...]: runs this script with ARGS into $out and shows it; unless it
  # exits WANT, the self-check fails (and run_self returns 1). Sets rc.
  run_self() {
    local what="$1" want="$2"
    shift 2
    set +e
    bash "$0" "$@" >"$out" 2>&1
    rc=$?
    set -e
    sed 's/^/   | /' "$out"
    if [ "$rc" -ne "$want" ]; then
      echo "self-check FAILED: the $what run exited $rc, expected $want"
      ok=0
      return 1
    fi
  }

  # expect_hits TOOL WHAT PATTERN NAMES: every name in NAMES has a line in $out matching
  # PATTERN (a printf format, %s = the name); else the self-check fails, listing the missing.
  expect_hits() {
    local missing="" l
    for l in $4; do
      # shellcheck disable=SC2059 # the pattern is the format
      grep -Eq "$(printf "$3" "$l")" "$out" || missing="$missing $l"
    done
    if [ -n "$missing" ]; then
      echo "self-check FAILED: known-bad.sql produced no $1 hit from:$missing"
      ok=0
    else
      echo "self-check 1/2 ok ($1): every expected one of the $2 reported a hit ($(wc -w <<<"$4") $2)"
    fi
  }

  echo "== self-check 1/2: migrations + supabase/lints/known-bad.sql (must fail)"
  run_self "known-bad (WARN/ERROR hits)" 1 --extra "$known_bad_sql" || true
  expect_hits "advisor.sql" "rules" '^advisor \[(ERROR|WARN|INFO)\] %s: ' "$ADVISOR_EXPECT"
  if grep -q '^splinter: SKIPPED' "$out"; then
    echo "self-check 1/2: splinter expectations NOT checked: $(grep '^splinter: SKIPPED' "$out" | head -n 1)"
  else
    expect_hits "splinter" "lints" '^\[(ERROR|WARN|INFO)\] %s ' "$SELF_CHECK_EXPECT"
  fi
  [ "$rc" -ne 1 ] || echo "self-check 1/2 ok: exit 1"

  echo "== self-check 2/2: migrations only (must pass)"
  run_self "migrations-only" 0 && echo "self-check 2/2 ok: exit 0"

  if [ "$ok" = 1 ]; then
    echo "== self-check passed"
    exit 0
  fi
  echo "== self-check FAILED"
  exit 1
fi

[ -f "$stub_sql" ] || die "$stub_sql missing"
[ -f "$advisor_sql" ] || die "$advisor_sql missing"

# ---------------------------------------------------------------------------------------
# PostgreSQL binaries, and who runs them.
# ---------------------------------------------------------------------------------------
initdb="$(command -v initdb || true)"
pg_ctl="$(command -v pg_ctl || true)"
if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then die "initdb/pg_ctl not on PATH (install PostgreSQL 15+)"; fi
bindir="$(dirname "$(readlink -f "$initdb")")"
if [ -x "$bindir/psql" ]; then psql="$bindir/psql"; else psql="$(command -v psql || true)"; fi
[ -n "$psql" ] || die "psql not found (looked in $bindir and on PATH)"
pg_major="$("$initdb" --version | sed -n 's/.* \([0-9][0-9]*\)[.0-9]*.*/\1/p' | head -n 1)"
[ "${pg_major:-0}" -ge 15 ] ||
  die "PostgreSQL 15+ needed (security_invoker views), found: $("$initdb" --version)"

run_as=""
if [ "$(id -u)" = 0 ]; then
  for u in ${SOURCEGATE_PG_USER:-} postgres nobody; do
    if uid="$(id -u "$u" 2>/dev/null)" && [ "$uid" != 0 ]; then run_as="$u"; break; fi
  done
  [ -n "$run_as" ] || die "running as root and no unprivileged user (SOURCEGATE_PG_USER, postgres, nobody) to run PostgreSQL"
fi
as_pg() {
  if [ -z "$run_as" ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$run_as" -- "$@"
  else
    setpriv --reuid="$run_as" --regid="$(id -g "$run_as")" --init-groups -- "$@"
  fi
}

# ---------------------------------------------------------------------------------------
# The throw-away cluster.
# ---------------------------------------------------------------------------------------
base="${TMPDIR:-/tmp}"
if [ -n "$run_as" ] && ! as_pg test -x "$base" 2>/dev/null; then base=/tmp; fi
work="$(mktemp -d "$base/sourcegate-splinter.XXXXXX")"
data="$work/data"
started=0
cleanup() {
  local rc=$?
  trap '' INT TERM HUP # a second signal must not cut the cleanup short
  # Also when a signal arrived while pg_ctl was starting the server.
  if [ "$started" = 1 ] || [ -f "$data/postmaster.pid" ]; then
    as_pg "$pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
      as_pg "$pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------------------------------
# splinter: where from (see the top of this file). Its format: one query,
# `set local search_path = '';` then 28 parenthesised SELECTs joined by lines `union all`
# (splinter's bin/compile.py).
# ---------------------------------------------------------------------------------------
splinter_sql=""
splinter_skip=""
if [ -n "${SPLINTER_SQL:-}" ]; then
  [ -f "$SPLINTER_SQL" ] || die "SPLINTER_SQL=$SPLINTER_SQL: no such file"
  splinter_sql="$SPLINTER_SQL"
  splinter_from="\$SPLINTER_SQL ($SPLINTER_SQL)"
elif [ -f "$local_splinter_sql" ]; then
  splinter_sql="$local_splinter_sql"
  splinter_from="local copy supabase/lints/splinter.sql"
elif [ "${SPLINTER_OFFLINE:-0}" = 1 ]; then
  splinter_skip="SPLINTER_OFFLINE=1 and no \$SPLINTER_SQL or supabase/lints/splinter.sql"
elif ! command -v curl >/dev/null 2>&1; then
  splinter_skip="curl not installed, and no \$SPLINTER_SQL or supabase/lints/splinter.sql"
elif ! curl -fsS --max-time 20 -o "$work/splinter.sql" "$SPLINTER_URL" 2>"$work/curl.err"; then
  splinter_skip="download of $SPLINTER_URL failed: $(tr '\n' ' ' <"$work/curl.err" | cut -c1-200)"
else
  got="$(sha256sum "$work/splinter.sql" | cut -d' ' -f1)"
  [ "$got" = "$SPLINTER_SHA256" ] ||
    die "downloaded $SPLINTER_URL has sha256 $got, expected $SPLINTER_SHA256: refusing to run it"
  splinter_sql="$work/splinter.sql"
  splinter_from="downloaded from $SPLINTER_URL, sha256 verified"
fi
if [ -n "$splinter_sql" ]; then
  got="$(sha256sum "$splinter_sql" | cut -d' ' -f1)"
  if [ "$got" = "$SPLINTER_SHA256" ]; then
    echo "== splinter: $splinter_from (commit ${SPLINTER_COMMIT:0:7}, sha256 matches the pin)"
  else
    echo "== splinter: $splinter_from -- NOTE: sha256 $got is not the pinned commit ${SPLINTER_COMMIT:0:7}'s file"
  fi
fi
if [ -n "$splinter_sql" ]; then
first_line="$(head -n 1 "$splinter_sql")"
[ "$first_line" = "set local search_path = '';" ] ||
  die "unexpected first line in $splinter_sql ($first_line): the splinter.sql format changed, update scripts/splinter.sh"

# "<number> <name> <level>" per lint, in file order. The number comes from the remediation
# URL (`lint=0011_...`); three lints (0018, 0020, 0021) have none, and get the previous
# lint's number + 1 (splinter.sql is compiled in file-name order; the only gap, 0012, has
# no SQL and precedes a numbered lint). Display only.
catalog="$(awk -v q="'" '
  function flush() {
    if (name == "") return
    if (num == "") num = (prev == "" ? "-" : sprintf("%04d", prev + 1))
    print num, name, level; prev = num; name = ""; level = ""; num = ""
  }
  /^union all$/ { flush(); next }
  name == "" && match($0, "^    " q "[a-z_0-9]+" q " as name") { name = substr($0, 6, RLENGTH - 14) }
  level == "" && match($0, "^    " q "(ERROR|WARN|INFO)" q " as level") { level = substr($0, 6, RLENGTH - 15) }
  num == "" && match($0, /lint=[0-9][0-9][0-9][0-9]_/) { num = substr($0, RSTART + 5, 4) }
  END { flush() }' "$splinter_sql")"
lint_count="$(printf '%s\n' "$catalog" | wc -l)"
[ "$lint_count" -ge 1 ] || die "no lint found in $splinter_sql"
for l in $REQUIRED_LINTS; do
  printf '%s\n' "$catalog" | awk -v l="$l" '$2 == l { f = 1 } END { exit !f }' ||
    die "required lint $l is not in $splinter_sql"
done
fi

password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" >"$work/pw"
chmod 600 "$work/pw"
[ -z "$run_as" ] || chown -R "$run_as" "$work"

t0=$(date +%s)
if ! as_pg "$initdb" -D "$data" -U postgres --pwfile="$work/pw" --auth=scram-sha-256 \
  -E UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1; then
  cat "$work/initdb.log" >&2
  die "initdb failed"
fi
rm -f "$work/pw"

port=""
for _ in 1 2 3 4 5 6 7 8; do
  p=$((20000 + RANDOM % 40000))
  # Something already answers there: try another port.
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
  : >"$work/postgres.log"
  [ -z "$run_as" ] || chown "$run_as" "$work/postgres.log"
  if as_pg "$pg_ctl" -D "$data" -l "$work/postgres.log" -w -t 30 -s \
    -o "-p $p -c listen_addresses=127.0.0.1 -k '$work' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c wal_level=logical" \
    start >/dev/null 2>&1; then
    port="$p"
    started=1
    break
  fi
  # A race for the port: try another one; anything else is fatal.
  grep -Eq "could not bind|Address already in use" "$work/postgres.log" || break
done
if [ -z "$port" ]; then
  tail -n 20 "$work/postgres.log" >&2 || true
  die "PostgreSQL did not start"
fi

export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGPASSWORD="$password" PGDATABASE=postgres
export PGCONNECT_TIMEOUT=10 PGOPTIONS="-c client_min_messages=warning"
unset PGSERVICE PGSERVICEFILE PGSSLMODE PGPASSFILE 2>/dev/null || true
sql() { "$psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
echo "== PostgreSQL $("$psql" -X -At -c 'show server_version') on 127.0.0.1:$port (temp dir $work${run_as:+, server user $run_as})"

apply() {
  local label="$1" file="$2"
  echo "== applying $label"
  sql -1 -f "$file" || die "$label failed (psql exit $?)"
}
apply "supabase/lints/supabase-stub.sql (Supabase stand-in)" "$stub_sql"
n=0
for f in "$root"/supabase/migrations/*; do
  [ -f "$f" ] || continue
  b="$(basename "$f")"
  if [[ "$b" =~ ^[0-9]+_.*\.sql$ ]]; then
    apply "supabase/migrations/$b" "$f"
    n=$((n + 1))
  else
    echo "== skipping supabase/migrations/$b (not <timestamp>_name.sql; supabase db push skips it too)"
  fi
done
[ "$n" -gt 0 ] || die "no migration found in supabase/migrations/"
for f in ${extras[@]+"${extras[@]}"}; do
  apply "$f (--extra)" "$f"
done

# ---------------------------------------------------------------------------------------
# The lints.
# ---------------------------------------------------------------------------------------
# Sourcegate's own rules (advisor.sql), always.
{
  echo "BEGIN;"
  echo "SET LOCAL pgrst.db_schemas = :'db_schemas';"
  echo "SET LOCAL search_path = '';"
  echo "CREATE TEMP TABLE advisor_hits ON COMMIT DROP AS"
  cat "$advisor_sql"
  cat <<'EOF'
\pset format unaligned
\pset tuples_only on
SELECT format('advisor [%s] %s: %s', h.level, h.name, h.detail)
  FROM pg_temp.advisor_hits h
 ORDER BY array_position(ARRAY['ERROR', 'WARN', 'INFO'], h.level), h.name, h.detail;
SELECT format('ADVISOR_COUNTS %s %s %s %s',
              count(*) FILTER (WHERE level = 'ERROR'), count(*) FILTER (WHERE level = 'WARN'),
              count(*) FILTER (WHERE level = 'INFO'),
              count(*) FILTER (WHERE level IS DISTINCT FROM 'ERROR' AND level IS DISTINCT FROM 'WARN'
                                 AND level IS DISTINCT FROM 'INFO'))
  FROM pg_temp.advisor_hits;
COMMIT;
EOF
} >"$work/run-advisor.sql"
echo "== running Sourcegate's advisor rules (supabase/lints/advisor.sql)"
if ! sql -v db_schemas="$db_schemas" -f "$work/run-advisor.sql" >"$work/advisor.out" 2>&1; then
  cat "$work/advisor.out" >&2
  die "advisor.sql failed"
fi
grep -v '^ADVISOR_COUNTS ' "$work/advisor.out" || true
counts="$(grep '^ADVISOR_COUNTS ' "$work/advisor.out" || true)"
[ -n "$counts" ] || die "no hit counts in the advisor output"
read -r _ a_errors a_warns a_infos a_bad <<<"$counts"
[ "$a_bad" = 0 ] || die "$a_bad advisor.sql row(s) with a level other than ERROR/WARN/INFO"
echo "== advisor.sql: $a_errors ERROR, $a_warns WARN, $a_infos INFO hit(s)"

errors=0 warns=0 infos=0
if [ -z "$splinter_sql" ]; then
  echo "splinter: SKIPPED ($splinter_skip); Sourcegate's own advisor rules ran"
else
lint_values="$(printf '%s\n' "$catalog" | awk -v q="'" '{ printf "%s(%d, %s%s%s, %s%s%s, %s%s%s)", (NR > 1 ? ",\n  " : ""), NR, q, $1, q, q, $2, q, q, $3, q }')"

# What 0026/0027 would report with pg_graphql installed: their text with the
# "pg_graphql is installed" condition replaced by true (only when it is not installed).
whatif_sql=""
for l in pg_graphql_anon_table_exposed pg_graphql_authenticated_table_exposed; do
  chunk="$(awk -v l="$l" -v q="'" '
    /^union all$/ { if (hit) exit; buf = ""; next }
    { buf = buf $0 "\n" }
    index($0, "    " q l q " as name") == 1 { hit = 1 }
    END { if (hit) printf "%s", buf }
  ' "$splinter_sql")"
  cond="and exists (select 1 from graphql_installed)"
  if [ -n "$chunk" ] && [ "$(printf '%s\n' "$chunk" | grep -cF "$cond")" = 1 ]; then
    whatif_sql="$whatif_sql${whatif_sql:+
union all
}${chunk/"$cond"/and true}"
  else
    echo "== note: the pg_graphql what-if for $l is unavailable (its text changed)"
  fi
done

{
  echo "BEGIN;"
  echo "SET LOCAL pgrst.db_schemas = :'db_schemas';"
  echo "$first_line"
  echo "CREATE TEMP TABLE splinter_hits ON COMMIT DROP AS"
  tail -n +2 "$splinter_sql"
  echo ";"
  cat <<EOF
CREATE TEMP TABLE splinter_catalog (ord int, num text, name text, level text) ON COMMIT DROP;
INSERT INTO pg_temp.splinter_catalog VALUES
  $lint_values;
\\pset format unaligned
\\pset tuples_only on
SELECT format('[%s] %s (%s): %s', h.level, h.name, h.title, replace(h.detail, chr(92) || chr(96), chr(96)))
  FROM pg_temp.splinter_hits h
 ORDER BY array_position(ARRAY['ERROR', 'WARN', 'INFO'], h.level), h.name, h.detail;
\\pset format aligned
\\pset tuples_only off
\\pset footer off
\\echo
\\echo '== hits per lint (every lint of splinter.sql ran)'
SELECT c.num AS lint, c.name, c.level, count(h.name) AS hits
  FROM pg_temp.splinter_catalog c
  LEFT JOIN pg_temp.splinter_hits h ON h.name = c.name
 GROUP BY c.ord, c.num, c.name, c.level
 ORDER BY c.ord;
\\pset format unaligned
\\pset tuples_only on
SELECT format('SPLINTER_COUNTS %s %s %s %s',
              count(*) FILTER (WHERE level = 'ERROR'), count(*) FILTER (WHERE level = 'WARN'),
              count(*) FILTER (WHERE level = 'INFO'),
              count(*) FILTER (WHERE name NOT IN (SELECT c.name FROM pg_temp.splinter_catalog c)))
  FROM pg_temp.splinter_hits;
EOF
  if [ -n "$whatif_sql" ]; then
    echo "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_graphql') AS whatif \\gset"
    echo "\\if :whatif"
    echo "CREATE TEMP TABLE splinter_whatif ON COMMIT DROP AS"
    printf '%s\n' "$whatif_sql"
    echo ";"
    cat <<'EOF'
\echo '== pg_graphql what-if (NOT counted): pg_graphql is not installed here; on a project where it is, 0026/0027 would also report:'
SELECT format('  [%s] %s: %s', w.level, w.name, w.detail)
  FROM pg_temp.splinter_whatif w ORDER BY w.name, w.detail;
SELECT '  (nothing)' WHERE NOT EXISTS (SELECT 1 FROM pg_temp.splinter_whatif);
\endif
EOF
  fi
  echo "COMMIT;"
} >"$work/run-lints.sql"

echo "== running splinter ($lint_count lints)"
if ! sql -v db_schemas="$db_schemas" -v lint_count="$lint_count" -f "$work/run-lints.sql" >"$work/lints.out" 2>&1; then
  cat "$work/lints.out" >&2
  die "the lint query failed"
fi
grep -v '^SPLINTER_COUNTS ' "$work/lints.out"
counts="$(grep '^SPLINTER_COUNTS ' "$work/lints.out" || true)"
[ -n "$counts" ] || die "no hit counts in the lint output"
read -r _ errors warns infos unknown <<<"$counts"
[ "$unknown" = 0 ] || die "$unknown hit(s) from a lint missing from the catalog (parser out of date)"

echo "== splinter: $errors ERROR, $warns WARN, $infos INFO hit(s)"
fi

if [ -n "$splinter_sql" ]; then s_sum="$errors ERROR / $warns WARN / $infos INFO"; else s_sum="SKIPPED"; fi
echo "== total in $(($(date +%s) - t0)) s: advisor.sql $a_errors ERROR / $a_warns WARN / $a_infos INFO; splinter $s_sum"
if [ "$errors" -gt 0 ] || [ "$warns" -gt 0 ] || [ "$a_errors" -gt 0 ] || [ "$a_warns" -gt 0 ]; then
  echo "FAILED: WARN/ERROR hits above (https://supabase.com/docs/guides/database/database-linter)"
  exit 1
fi
echo "ok: no WARN or ERROR hit"
