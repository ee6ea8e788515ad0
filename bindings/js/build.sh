#!/usr/bin/env bash
# Builds @sourcegate/resolver's WebAssembly module into bindings/js/pkg/: the `sourcegate-wasm`
# crate for wasm32-unknown-unknown (profile `release-wasm`: fat LTO, opt-level "s", stripped),
# then wasm-bindgen's glue (`--target web`: an ES module that runs in browsers, Node >= 20 and
# Worker runtimes). Installs when missing: the `wasm32-unknown-unknown` target (rustup) and
# `wasm-bindgen-cli` at exactly the version of the `wasm-bindgen` crate in Cargo.lock
# (`cargo install` from crates.io; its own lock names a crate this index lacks, so not
# `--locked`). Prints the module's size, raw and gzipped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
[ -n "$want" ] || { echo "no wasm-bindgen in Cargo.lock" >&2; exit 1; }
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "== installing the wasm32-unknown-unknown target (rustup)"
  rustup target add wasm32-unknown-unknown
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
  echo "== installing wasm-bindgen-cli $want (crates.io)"
  cargo install -q wasm-bindgen-cli --version "$want"
fi
cargo build -q -p sourcegate-wasm --target wasm32-unknown-unknown --profile release-wasm --locked
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
wasm-bindgen --target web --remove-name-section --remove-producers-section \
  --out-dir "$here/pkg" --out-name sourcegate_wasm \
  "$target/wasm32-unknown-unknown/release-wasm/sourcegate_wasm.wasm"
raw="$(stat -c %s "$here/pkg/sourcegate_wasm_bg.wasm")"
gz="$(gzip -9 -c "$here/pkg/sourcegate_wasm_bg.wasm" | wc -c)"
echo "== bindings/js/pkg/sourcegate_wasm_bg.wasm: $raw bytes, $gz gzipped (budget 256000)"
[ "$gz" -le 256000 ] || { echo "the module is over its 250 KiB gzipped budget" >&2; exit 1; }
