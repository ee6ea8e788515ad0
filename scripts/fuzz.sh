#!/usr/bin/env bash
# Fuzzes Sourcegate's parsers (the cargo-fuzz targets in fuzz/, see fuzz/README.md).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Installs cargo-fuzz when missing, builds every target once with the nightly toolchain
# (AddressSanitizer, release with debug assertions), then runs each target (all by default)
# for SECONDS_PER_TARGET seconds (default 60), one at a time, seeded from fuzz/corpus/<target>/.
# New inputs go to fuzz/target/corpus/<target>/ (not committed); a crash input is written to
# fuzz/artifacts/<target>/ and makes the script exit 1 after the other targets have run.
#
# Environment:
#   FUZZ_RUNS=N   also stop each target after N executions (libFuzzer `-runs=N`); with
#                 SECONDS_PER_TARGET=0 this is a run bounded by executions only.
#   CARGO_BUILD_JOBS=N   limits the build's parallelism, as for any cargo build.
#   FUZZ_FEATURES=rest   also builds and runs `rest_query` (it links the whole control plane,
#                 about doubling the build; `.ci/run` leaves it out, long runs include it).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
shift || true

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked
fi

# cargo-fuzz has no --locked: check first that fuzz/Cargo.lock needs no update.
cargo +nightly metadata --locked --format-version 1 >/dev/null

# FUZZ_FEATURES=rest adds `rest_query` (it links the whole control plane: a much longer build).
features=()
if [ -n "${FUZZ_FEATURES:-}" ]; then features=(--features "$FUZZ_FEATURES"); fi

echo "== cargo +nightly fuzz build ${features[*]}"
start=$(date +%s)
cargo +nightly fuzz build "${features[@]}"
echo "   built in $(($(date +%s) - start)) s"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
  if [[ " ${FUZZ_FEATURES:-} " != *" rest "* ]]; then
    targets=("${targets[@]/rest_query}")
    mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep -v '^$')
    echo "   (rest_query left out: run with FUZZ_FEATURES=rest to include it)"
  fi
fi

dict_for() {
  case "$1" in
    config_json | ffi_options | registry) echo dict/config.dict ;;
    rest_query) echo dict/rest.dict ;;
    ratelimit) echo dict/ratelimit.dict ;;
    *) echo "" ;;
  esac
}

failed=()
mkdir -p target/logs
for t in "${targets[@]}"; do
  work="target/corpus/$t"
  mkdir -p "$work" "corpus/$t" "artifacts/$t"
  args=(-max_total_time="$secs" -print_final_stats=1)
  if [ -n "${FUZZ_RUNS:-}" ]; then args+=(-runs="$FUZZ_RUNS"); fi
  dict=$(dict_for "$t")
  if [ -n "$dict" ]; then args+=(-dict="$dict"); fi
  log="target/logs/$t.log"
  echo "== fuzz $t (${secs}s${FUZZ_RUNS:+, at most $FUZZ_RUNS runs}; log fuzz/$log)"
  start=$(date +%s)
  if cargo +nightly fuzz run "${features[@]}" "$t" "$work" "corpus/$t" -- "${args[@]}" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
  fi
  # libFuzzer's last status line: executions, coverage, corpus, exec/s.
  summary=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  echo "   $status in $(($(date +%s) - start)) s: ${summary:-no libFuzzer status line}"
  if [ "$status" = FAILED ]; then
    grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written to' "$log" | head -n 8 | sed 's/^/   /' || true
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), no crash"
