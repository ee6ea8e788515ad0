#!/usr/bin/env bash
# Real-client conformance of /rest/v1: Supabase's own clients against one live control plane
# on 127.0.0.1 (embedded PostgreSQL in a temp dir, origin probes off).
#   JS:     control-plane/clients/*.test.mjs, `node --test`, with @supabase/supabase-js,
#           @supabase/postgrest-js and ws from npm (control-plane/clients/package-lock.json,
#           `npm ci`);
#   Python: control-plane/clients/python/test_*.py, pytest, with postgrest (postgrest-py) from
#           PyPI (control-plane/clients/python/requirements.txt) in a venv under
#           $target/py-clients (and Debian's python3/python3-venv when missing).
# Tokens: an admin (role authenticated, app_metadata.role=admin), a user whose user_metadata
# claims admin but app_metadata does not (signed here with the same HS256 secret: mint-token
# only writes app_metadata), a legacy anon key (role anon) and a non-JWT publishable key.
#
# Uses: $SOURCEGATE_CP_BIN (set by scripts/test.sh), else builds the workspace once.
# SUPABASE_CLIENTS_ONLY=core (or reads, writes, keys; comma-separated) runs only those groups
# (below); unset, every file runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=lib/control-plane.sh
. "$root/scripts/lib/control-plane.sh"
clients="$root/control-plane/clients"

cp_binary

# SUPABASE_CLIENTS_ONLY: a comma-separated list of groups, default all of them.
#   core   core.test.mjs, test_core.py (basic reads, single/maybeSingle, the RPCs)
#   reads  reads-extended.test.mjs, test_reads_extended.py (in, like, or, JSON paths, counts, …)
#   writes writes.test.mjs, test_writes.py (table insert/update/upsert on app_config)
#   keys   publishable-key.test.mjs (supabase-js with an sb_publishable_ key)
only="${SUPABASE_CLIENTS_ONLY:-core,reads,writes,keys}"
js_files=()
py_files=()
IFS=',' read -r -a groups <<<"$only"
for g in "${groups[@]}"; do
  case "$g" in
    core) js_files+=(core.test.mjs); py_files+=(test_core.py) ;;
    reads) js_files+=(reads-extended.test.mjs); py_files+=(test_reads_extended.py) ;;
    writes) js_files+=(writes.test.mjs); py_files+=(test_writes.py) ;;
    keys) js_files+=(publishable-key.test.mjs) ;;
    *) echo "SUPABASE_CLIENTS_ONLY: unknown group '$g' (core, reads, writes, keys)" >&2; exit 2 ;;
  esac
done
[ "${#js_files[@]}" -gt 0 ] || { echo "SUPABASE_CLIENTS_ONLY names no group" >&2; exit 2; }

command -v node >/dev/null || { echo "node (>= 20) is required" >&2; exit 1; }
echo "== npm ci (control-plane/clients: @supabase/supabase-js, @supabase/postgrest-js, ws)"
(cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)

venv="$target/py-clients"
req="$clients/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing $req (PyPI: postgrest, pytest and their pinned dependencies) into $venv"
  py_venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
fi

cp_start clients

admin_sub="$(python3 -c 'import uuid; print(uuid.uuid4())')"
user_sub="$(python3 -c 'import uuid; print(uuid.uuid4())')"
admin_token="$("$bin" mint-token --role authenticated --admin --sub "$admin_sub")"
anon_key="$("$bin" mint-token --role anon --ttl-secs 86400)"
# mint-token writes app_metadata only; the user_metadata-admin token is signed here (HS256).
user_token="$(SUB="$user_sub" python3 - <<'PY'
import base64, hashlib, hmac, json, os, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
claims = {"sub": os.environ["SUB"], "role": "authenticated", "aud": "authenticated",
          "iat": now, "exp": now + 3600,
          "app_metadata": {"provider": "email"}, "user_metadata": {"role": "admin"}}
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps(claims).encode())
sig = hmac.new(os.environ["SOURCEGATE_JWT_SECRET"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
PY
)"
for t in "$admin_token" "$anon_key" "$user_token"; do
  [ -n "$t" ] || { echo "a token could not be made" >&2; exit 1; }
done
export SG_BASE_URL="$base" SG_ADMIN_TOKEN="$admin_token" SG_ADMIN_SUB="$admin_sub"
export SG_USER_TOKEN="$user_token" SG_ANON_KEY="$anon_key" SG_PUBLISHABLE_KEY="sb_publishable_clients_check"

status=0
echo "== JS (node --test): ${js_files[*]}"
(cd "$clients" && node --test --test-concurrency=1 --test-reporter=spec "${js_files[@]}") || status=1
if [ "${#py_files[@]}" -gt 0 ]; then
  echo "== Python (pytest): ${py_files[*]}"
  (cd "$clients/python" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "${py_files[@]}") || status=1
fi
if [ "$status" -ne 0 ]; then
  echo "supabase clients: failures (SUPABASE_CLIENTS_ONLY=$only); server log tail:"
  tail -n 30 "$work/server.log"
  exit 1
fi
echo "== supabase clients: all passed (SUPABASE_CLIENTS_ONLY=$only)"
