#!/usr/bin/env bash
# Type-checks the C library for Android with the platform verifier (`tls-platform`), the only
# build that compiles `sg_android_init` (ffi/src/android.rs) against the real `jni` and
# `rustls-platform-verifier` crates: `cargo clippy -D warnings` for aarch64-linux-android.
#
# Installs when missing: rustup's aarch64-linux-android target, Debian's clang, llvm and
# libc6-dev-arm64-cross. There is no Android NDK here (its download host is not reachable), so
# aws-lc's C sources are compiled by Debian's clang against glibc's arm64 headers plus a stub of
# bionic's <sys/system_properties.h>: enough for the build script to finish, never linked.
# Nothing is linked and nothing runs on Android: this proves the Rust code compiles for it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target_triple=aarch64-linux-android
if ! rustup target list --installed | grep -qx "$target_triple"; then
  echo "== installing rustup target $target_triple"
  rustup target add "$target_triple"
fi
if ! command -v clang >/dev/null || ! command -v llvm-ar >/dev/null || [ ! -d /usr/aarch64-linux-gnu/include ]; then
  echo "== installing clang, llvm and libc6-dev-arm64-cross (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    clang llvm libc6-dev-arm64-cross
fi
dir="${CARGO_TARGET_DIR:-$root/target}"
case "$dir" in /*) ;; *) dir="$root/$dir" ;; esac
stub="$dir/android-check-stub"
mkdir -p "$stub/sys"
cat > "$stub/sys/system_properties.h" <<'H'
/* Check-only stand-in for bionic's header (ffi/check-android.sh): declarations, never linked. */
#define PROP_VALUE_MAX 92
int __system_property_get(const char *name, char *value);
H
export CC_aarch64_linux_android=clang
export AR_aarch64_linux_android=llvm-ar
export CFLAGS_aarch64_linux_android="--target=${target_triple}21 -isystem $stub -isystem /usr/aarch64-linux-gnu/include -D_GNU_SOURCE"
cargo clippy -p sourcegate-ffi --locked --target "$target_triple" \
  --no-default-features --features tls-platform -- -D warnings
echo "sourcegate-ffi type-checks for $target_triple with tls-platform (sg_android_init included)"
