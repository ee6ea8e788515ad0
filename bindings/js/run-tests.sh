#!/usr/bin/env bash
# @sourcegate/resolver's tests: builds the package (build.sh: installs the wasm32 target and
# wasm-bindgen-cli when missing), installs its npm dev dependency (eventsource, from the lock),
# starts one control plane on loopback (embedded PostgreSQL, origin probes off, private
# origins allowed: the test origins are on 127.0.0.1) and runs `node --test`: the conformance
# suite and bucketing vectors through the WebAssembly core, every mode, failover on 429 and
# 5xx, canary stickiness, the Supabase provider, an SSE flip, the last-known-good copy, and a
# run in a context with web-platform APIs only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../../scripts/lib/control-plane.sh
. "$root/scripts/lib/control-plane.sh"
bash "$here/build.sh"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
cp_binary
export SOURCEGATE_ALLOW_PRIVATE_ORIGINS=true
cp_start js
admin_sub="$(python3 -c 'import uuid; print(uuid.uuid4())')"
SG_ADMIN_TOKEN="$("$bin" mint-token --role authenticated --admin --sub "$admin_sub")"
SG_ANON_KEY="$("$bin" mint-token --role anon --ttl-secs 86400)"
export SG_BASE_URL="$base" SG_ADMIN_TOKEN SG_ANON_KEY
node --experimental-vm-modules --no-warnings=ExperimentalWarning --test test/
