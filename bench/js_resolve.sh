#!/usr/bin/env bash
# resolveUrl per call: Node through the WebAssembly package vs Node through the C ABI (koffi) vs
# the Rust call, in one run, with the package size and the load average. Builds the package
# (bindings/js/build.sh), the release cdylib for koffi and the ffi_vs_rust bench.
#
#   bash bench/js_resolve.sh        # SG_BENCH_N: calls per run (default 200000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash bindings/js/build.sh >/dev/null
(cd bindings/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
cargo build -q --release -p sourcegate-ffi
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
SOURCEGATE_FFI_LIB="$target/release/libsourcegate_ffi.so" node bench/js_resolve.mjs
SG_BENCH_N="${SG_BENCH_N:-200000}" cargo bench -q -p sourcegate-ffi --bench ffi_vs_rust 2>/dev/null | grep -E '^rust '
gz="$(gzip -9 -c bindings/js/pkg/sourcegate_wasm_bg.wasm | wc -c)"
echo "package: .wasm gzipped $gz bytes"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
