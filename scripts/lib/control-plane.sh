# Sourced (not run) by the scripts that test a live control plane (schemathesis.sh,
# supabase-clients.sh): the binary, a Python virtualenv, and one control plane on loopback.
# Expects `set -euo pipefail` and $root (the repository) in the caller.

# Sets $target (CARGO_TARGET_DIR or $root/target, absolute) and $bin: $SOURCEGATE_CP_BIN
# (set by scripts/test.sh), else the workspace is built once (same feature resolution as
# scripts/test.sh, so nothing is rebuilt when it ran first).
cp_binary() {
  target="${CARGO_TARGET_DIR:-$root/target}"
  case "$target" in /*) ;; *) target="$root/$target" ;; esac
  bin="${SOURCEGATE_CP_BIN:-}"
  if [ -z "$bin" ]; then
    cargo build --workspace --all-targets --locked
    bin="$target/debug/sourcegate-control-plane"
  fi
  [ -x "$bin" ] || { echo "control-plane binary missing: $bin" >&2; exit 1; }
}

# py_venv DIR: (re)creates the virtualenv DIR, installing Debian's python3/python3-venv
# first when python3 or its venv module is missing.
py_venv() {
  local venv="$1"
  if ! command -v python3 >/dev/null || ! python3 -m venv --clear "$venv" 2>/dev/null; then
    echo "== installing python3 and python3-venv (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv
    python3 -m venv --clear "$venv"
  fi
}

# cp_start NAME: starts `$bin serve` on a free 127.0.0.1 port with an embedded PostgreSQL in a
# temp dir ($work, removed on exit with the server), origin probes off (the built-in document
# names a public host), rate limits out of the way, a random HS256 secret (exported as
# SOURCEGATE_JWT_SECRET, so `$bin mint-token` signs with it). Sets $work, $pid and $base
# (http://127.0.0.1:PORT); waits up to 60 s for /ready, printing the server log on failure.
cp_start() {
  work="$(mktemp -d)"
  pid=""
  trap cp_cleanup EXIT
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  export SOURCEGATE_JWT_SECRET="$1-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  export SOURCEGATE_DATA_DIR="$work/data"
  export SOURCEGATE_LISTEN="127.0.0.1:$port"
  export SOURCEGATE_ORIGIN_PROBES=false
  export SOURCEGATE_RATE_LIMIT_PER_SEC=100000
  export SOURCEGATE_RATE_LIMIT_BURST=100000
  export SOURCEGATE_TELEMETRY_RATE_PER_SEC=100000
  export SOURCEGATE_TELEMETRY_RATE_BURST=100000
  export SOURCEGATE_EMBEDDED_UNSAFE_FAST=true
  "$bin" serve >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    if curl -fsS "$base/ready" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "control plane exited before it was ready:"; cat "$work/server.log"; exit 1
    fi
    sleep 0.1
  done
  echo "control plane not ready after 60 s"; cat "$work/server.log"; exit 1
}

# The EXIT trap of cp_start: stops the server, removes $work.
cp_cleanup() {
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "${work:-/nonexistent-sourcegate-work}"
}
