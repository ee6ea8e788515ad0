#!/usr/bin/env bash
# User-space instructions per config read, counted by valgrind's callgrind: repeatable whatever
# else the machine runs (unlike req/s). For the control plane (`GET /v1/configs/marketplace_source`
# on an embedded cluster, probes off, no rate limit) and `cp_reference` (bench/cp_reference.rs),
# each for 200 and 304: the server runs under callgrind with instrumentation off, wrk warms it up
# for 2 s, then instrumentation is on for SECONDS of wrk load (1 thread, 8 connections); the
# total is divided by the requests wrk completed. Needs valgrind and wrk (Debian); installs wrk
# when missing and running as root.
#
#   bash bench/cp_instructions.sh [SECONDS]     # default 8
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-8}"
cd "$root"
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
cargo build -q --release -p sourcegate-control-plane --bins
bin="${CARGO_TARGET_DIR:-$root/target}/release"
tmp="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

measure() { # server kind
  local server=$1 kind=$2 port url
  port=$(free_port)
  url="http://127.0.0.1:$port/v1/configs/marketplace_source"
  local cg=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/cg.$server.$kind")
  if [ "$server" = cp ]; then
    SOURCEGATE_DATA_DIR="$tmp/cp-$kind" RUST_LOG=warn "${cg[@]}" "$bin/sourcegate-control-plane" \
      --listen "127.0.0.1:$port" --origin-probes false --rate-limit-per-sec 0 --embedded-unsafe-fast \
      >"$tmp/log" 2>&1 &
  else
    "${cg[@]}" "$bin/cp_reference" "127.0.0.1:$port" "$tmp/body.json" "$etag" >"$tmp/log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 600); do curl -fsS -o /dev/null "$url" 2>/dev/null && break; sleep 0.2; done
  if [ "$server" = cp ]; then
    curl -fsS -D "$tmp/headers" -o "$tmp/body.json" "$url"
    etag=$(grep -i '^etag:' "$tmp/headers" | cut -d' ' -f2 | tr -d '\r')
  fi
  local hdr=()
  [ "$kind" = 304 ] && hdr=(-H "If-None-Match: $etag")
  wrk -t1 -c8 -d2s "${hdr[@]}" "$url" >/dev/null
  callgrind_control -i on "$pid" >/dev/null 2>&1
  local out n ir
  out=$(wrk -t1 -c8 -d"${secs}s" "${hdr[@]}" "$url")
  callgrind_control -i off "$pid" >/dev/null 2>&1
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  ir=$(callgrind_annotate "$(ls -t "$tmp"/cg."$server.$kind"* | head -1)" 2>/dev/null \
    | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""
  printf '%-10s %-4s %10s requests %14s instructions %8s per request\n' "$server" "$kind" "$n" "$ir" "$((ir / n))"
}

etag=""
for kind in 200 304; do
  measure cp "$kind"
  measure reference "$kind"
done
