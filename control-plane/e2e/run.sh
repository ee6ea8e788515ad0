#!/usr/bin/env bash
# Browser tests of the admin console: Debian's Chromium (installed if missing), playwright-core
# from npm (package-lock.json), the control-plane binary built here, then `node --test`.
# Works as root on a fresh Debian; respects $CARGO_TARGET_DIR. Screenshots go to ./screenshots/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# Chromium, plus a colour emoji font so the ✅/❌ of the screenshots render (skipped if present).
pkgs=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || pkgs+=(chromium)
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || pkgs+=(fonts-noto-color-emoji)
if [ "${#pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${pkgs[*]} (run as root, or apt-get install -y ${pkgs[*]})" >&2
    [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || exit 1
  else
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"
  fi
fi
command -v node >/dev/null || { echo "node (>= 18) is required" >&2; exit 1; }

cd "$here"
npm ci --no-audit --no-fund

if [ -z "${SOURCEGATE_CP_BIN:-}" ]; then
  # Same feature resolution as scripts/test.sh, so nothing is rebuilt when it ran first.
  (cd "$repo" && cargo build --workspace)
  target="${CARGO_TARGET_DIR:-$repo/target}"
  case "$target" in /*) ;; *) target="$repo/$target" ;; esac
  export SOURCEGATE_CP_BIN="$target/debug/sourcegate-control-plane"
fi

# @sourcegate/resolver in the browser needs the package built (scripts/test.sh built it).
[ -e "$repo/bindings/js/pkg/sourcegate_wasm_bg.wasm" ] || bash "$repo/bindings/js/build.sh"

node --test --test-concurrency=1 diff.test.mjs admin.test.mjs js-package.test.mjs
