#!/usr/bin/env bash
# The JVM host (Host.java: Java 17 + JNA, the shape an Android app takes) against the C library.
# Installs Debian's JDK (default-jdk-headless) and JNA (libjna-java) when missing and running as
# root; the library is $SOURCEGATE_FFI_LIB, else target/debug of the repository (built if
# needed). Everything it serves and calls is on 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
need=()
command -v java >/dev/null || need+=(default-jdk-headless)
[ -f /usr/share/java/jna.jar ] || need+=(libjna-java)
if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "needs: apt-get install ${need[*]}" >&2; exit 1; }
  echo "== installing ${need[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ -z "${SOURCEGATE_FFI_LIB:-}" ]; then
  (cd "$root" && cargo build -q -p sourcegate-ffi)
  target="${CARGO_TARGET_DIR:-$root/target}"
  case "$target" in /*) ;; *) target="$root/$target" ;; esac
  SOURCEGATE_FFI_LIB="$target/debug/libsourcegate_ffi.so"
fi
java -version 2>&1 | head -1
# Java 11+ runs a single source file directly; JNA comes from Debian's jar.
exec java -cp /usr/share/java/jna.jar "$here/Host.java" "$SOURCEGATE_FFI_LIB"
