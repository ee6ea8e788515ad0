#!/usr/bin/env bash
# Flip → SSE propagation with many streams, clients in separate processes (a process may hold
# at most 20,000 file descriptors here): the control plane with its embedded PostgreSQL in one
# process, the clients in `PROCS` children of `cp_bench`. Prints p50/p99/max, missed events,
# and the control plane's RSS idle and with the streams open, plus the load average.
#
#   bash bench/cp_fanout.sh [STREAMS] [PROCS] [FLIPS]     # defaults: 10000 4 10
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
streams="${1:-10000}"; procs="${2:-4}"; flips="${3:-10}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build -q --release -p sourcegate-control-plane --bin cp_bench
target="${CARGO_TARGET_DIR:-$root/target}"
RUST_LOG=warn "$target/release/cp_bench" --no-reads --sse-clients "$streams" --sse-procs "$procs" --flips "$flips"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
