#!/usr/bin/env bash
# Regenerates ffi/include/sourcegate.h with cbindgen (a dev-dependency: only crates.io needed)
# and fails if it differs from the committed file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
SG_UPDATE_HEADER=1 cargo test -q --workspace --test header
if ! git diff --exit-code -- ffi/include/sourcegate.h; then
  echo "ffi/include/sourcegate.h is stale: commit the regenerated header above" >&2
  exit 1
fi
if git ls-files --error-unmatch ffi/include/sourcegate.h >/dev/null 2>&1; then
  echo "ffi/include/sourcegate.h is current"
else
  echo "ffi/include/sourcegate.h is not committed" >&2
  exit 1
fi
