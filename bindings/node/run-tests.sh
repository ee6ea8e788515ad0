#!/usr/bin/env bash
# Installs the Node binding's dependencies (npm ci, from package-lock.json), builds the cdylib
# if needed, and runs its tests with `node --test`. The library is found through
# $SOURCEGATE_FFI_LIB, else $CARGO_TARGET_DIR/debug or target/debug of the repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ -z "${SOURCEGATE_FFI_LIB:-}" ]; then
  (cd "$root" && cargo build -q --workspace)
  target="${CARGO_TARGET_DIR:-$root/target}"
  case "$target" in /*) ;; *) target="$root/$target" ;; esac
  export SOURCEGATE_FFI_LIB="$target/debug/libsourcegate_ffi.so"
  [ "$(uname)" = Darwin ] && export SOURCEGATE_FFI_LIB="$target/debug/libsourcegate_ffi.dylib"
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
npx --no-install tsc -p tsconfig.json
node --test test/
