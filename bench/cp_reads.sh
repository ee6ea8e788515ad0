#!/usr/bin/env bash
# Config reads of the control plane against a same-run baseline, on a 2-core machine:
# the server pinned to core 0 (`taskset -c 0`), wrk on core 1, three alternating rounds of
#   - the control plane (`GET /v1/configs/marketplace_source`, embedded PostgreSQL, probes off),
#   - `cp_reference`, a minimal axum server answering the same bytes and ETag from memory,
#   - `cp_floor`, no HTTP library at all: canned 200/304 bytes written per request read, the
#     least any server can do per request here (its 304/200 ratio bounds what a 304 can gain),
#   - Unleash Edge in offline mode, when `unleash-edge` is on PATH (`cargo install unleash-edge
#     --locked`, a long build; skipped otherwise),
# each for 200 (full body) and 304 (`If-None-Match` hit), then the control plane's `/rest/v1`
# table read (the Supabase provider's query, anon). Prints req/s, p99 and the server's CPU time
# per request (user + system, /proc/PID/stat) per round, the
# median ratios, and the load average. Needs wrk and taskset (Debian: wrk, util-linux); installs
# wrk when missing and running as root.
#
#   bash bench/cp_reads.sh [SECONDS_PER_RUN] [CONNECTIONS]     # defaults: 8 s, 32
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-8}"
conns="${2:-32}"
cd "$root"
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
cargo build -q --release -p sourcegate-control-plane --bins
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release"
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

cp_port=$(free_port)
SOURCEGATE_DATA_DIR="$tmp/cp" RUST_LOG=warn taskset -c 0 "$bin/sourcegate-control-plane" \
  --listen "127.0.0.1:$cp_port" --origin-probes false --rate-limit-per-sec 0 \
  --embedded-unsafe-fast >"$tmp/cp.log" 2>&1 &
pids+=($!)
declare -A pid_of
pid_of[cp]=$!
cp_url="http://127.0.0.1:$cp_port/v1/configs/marketplace_source"
wait_http "http://127.0.0.1:$cp_port/ready"
curl -fsS -D "$tmp/headers" -o "$tmp/body.json" "$cp_url"
etag=$(grep -i '^etag:' "$tmp/headers" | cut -d' ' -f2 | tr -d '\r')

# The same-run baselines, each a binary of the control-plane package answering the same bytes.
declare -A url_of
start_baseline() { # name binary
  local port
  port=$(free_port)
  taskset -c 0 "$bin/$2" "127.0.0.1:$port" "$tmp/body.json" "$etag" >/dev/null 2>&1 &
  pids+=($!)
  pid_of[$1]=$!
  url_of[$1]="http://127.0.0.1:$port/v1/configs/marketplace_source"
  wait_http "${url_of[$1]}"
}
start_baseline ref cp_reference
start_baseline floor cp_floor

edge_url=""
if command -v unleash-edge >/dev/null; then
  edge_port=$(free_port)
  # One feature in the default project (a `*:development` token sees it): Edge answers about
  # 300 bytes, near the control plane's 282.
  echo '{"version":1,"features":[{"name":"marketplace_source","project":"default","type":"release","enabled":true,"stale":false,"impressionData":false,"strategies":[{"name":"default","parameters":{}}]}]}' >"$tmp/features.json"
  # Edge 20's command line: listener options before the `offline` subcommand.
  taskset -c 0 unleash-edge --port "$edge_port" --interface 127.0.0.1 offline \
    --bootstrap-file "$tmp/features.json" --client-tokens '*:development.bench' >"$tmp/edge.log" 2>&1 &
  pids+=($!)
  pid_of[edge]=$!
  edge_url="http://127.0.0.1:$edge_port/api/client/features"
  wait_edge() { for _ in $(seq 1 100); do curl -fsS -o /dev/null -H "Authorization: *:development.bench" "$edge_url" 2>/dev/null && return 0; sleep 0.1; done; echo "Edge not up" >&2; return 1; }
  wait_edge
  edge_etag=$(curl -fsS -D - -o /dev/null -H "Authorization: *:development.bench" "$edge_url" \
    | grep -i '^etag:' | cut -d' ' -f2- | tr -d '\r' || true)
fi

# wrk prints "Requests/sec: N", "N requests in Xs" and, with --latency, "99% X(us|ms|s)".
# Beside the rate, the server's own CPU time per request (user + system, from /proc/PID/stat,
# the embedded PostgreSQL not included): steadier than a rate on a shared machine, since time
# the server waits for the CPU is not counted.
ticks_per_sec=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run_wrk() { # pid url [header...]
  local pid=$1 url=$2 out; shift 2
  local args=()
  for h in "$@"; do [ -n "$h" ] && args+=(-H "$h"); done
  local before after
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency "${args[@]}" "$url")
  after=$(cpu_ticks "$pid")
  local rps p99 n us
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  us=$(python3 -c "print(f'{($after - $before) / $ticks_per_sec * 1e6 / max($n, 1):.2f}')")
  echo "$rps $p99 $us"
}

declare -A rps cpu
printf '%-6s %-10s %-5s %12s %10s %14s\n' round server kind 'req/s' 'p99 ms' 'cpu us/req'
for round in 1 2 3; do
  for server in cp ref floor edge; do
    case $server in
      cp) url=$cp_url; inm="If-None-Match: $etag" ;;
      ref | floor) url=${url_of[$server]}; inm="If-None-Match: $etag" ;;
      edge) [ -n "$edge_url" ] || continue; url=$edge_url; inm="${edge_etag:+If-None-Match: $edge_etag}" ;;
    esac
    for kind in 200 304; do
      auth=""; [ "$server" = edge ] && auth="Authorization: *:development.bench"
      if [ "$kind" = 304 ]; then
        [ -n "$inm" ] || continue
        read -r r p c < <(run_wrk "${pid_of[$server]}" "$url" "$auth" "$inm")
      else
        read -r r p c < <(run_wrk "${pid_of[$server]}" "$url" "$auth")
      fi
      rps["$server.$kind.$round"]=$r
      cpu["$server.$kind.$round"]=$c
      printf '%-6s %-10s %-5s %12s %10s %14s\n' "$round" "$server" "$kind" "$r" "$p" "$c"
    done
  done
done

# The Supabase provider's table read (`/rest/v1`, served from memory for anon), control plane only.
rest_url="http://127.0.0.1:$cp_port/rest/v1/app_config?config_key=eq.marketplace_source&select=config_value"
for round in 1 2 3; do
  read -r r p c < <(run_wrk "${pid_of[cp]}" "$rest_url" "apikey: bench" "Accept: application/vnd.pgrst.object+json")
  rps["rest.$round"]=$r
  printf '%-6s %-10s %-5s %12s %10s %14s\n' "$round" cp rest "$r" "$p" "$c"
done

median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
for kind in 200 304; do
  cp_m=$(median3 "${rps[cp.$kind.1]}" "${rps[cp.$kind.2]}" "${rps[cp.$kind.3]}")
  ref_m=$(median3 "${rps[ref.$kind.1]}" "${rps[ref.$kind.2]}" "${rps[ref.$kind.3]}")
  echo "median $kind: control plane $cp_m req/s, reference $ref_m req/s, ratio $(ratio "$cp_m" "$ref_m")"
  if [ -n "$edge_url" ] && [ -n "${rps[edge.$kind.1]:-}" ]; then
    edge_m=$(median3 "${rps[edge.$kind.1]}" "${rps[edge.$kind.2]}" "${rps[edge.$kind.3]}")
    echo "median $kind: Unleash Edge $edge_m req/s, control plane / Edge $(ratio "$cp_m" "$edge_m")"
  fi
done
for server in cp ref floor; do
  m200=$(median3 "${rps[$server.200.1]}" "${rps[$server.200.2]}" "${rps[$server.200.3]}")
  m304=$(median3 "${rps[$server.304.1]}" "${rps[$server.304.2]}" "${rps[$server.304.3]}")
  case $server in cp) name="control plane" ;; ref) name="reference" ;; floor) name="floor" ;; esac
  c200=$(median3 "${cpu[$server.200.1]}" "${cpu[$server.200.2]}" "${cpu[$server.200.3]}")
  c304=$(median3 "${cpu[$server.304.1]}" "${cpu[$server.304.2]}" "${cpu[$server.304.3]}")
  echo "$name 304/200: $(ratio "$m304" "$m200") by rate; server CPU per request 200 $c200 us, 304 $c304 us, 200/304 $(ratio "$c200" "$c304")"
done
floor200=$(median3 "${rps[floor.200.1]}" "${rps[floor.200.2]}" "${rps[floor.200.3]}")
cp200=$(median3 "${rps[cp.200.1]}" "${rps[cp.200.2]}" "${rps[cp.200.3]}")
echo "median 200: control plane / floor $(ratio "$cp200" "$floor200")"
echo "median /rest/v1 table read: $(median3 "${rps[rest.1]}" "${rps[rest.2]}" "${rps[rest.3]}") req/s"
[ -n "$edge_url" ] || echo "Unleash Edge: not installed (cargo install unleash-edge --locked), skipped"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
