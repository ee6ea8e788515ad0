#!/usr/bin/env bash
# Builds libsourcegate_ffi and the C example, then runs it (under valgrind with VALGRIND=1).
#   SOURCEGATE_URL=http://127.0.0.1:8080 bash examples/c/run.sh            # a running control plane
#   bash examples/c/run.sh '{"staticConfig":{"type":"git","gitUrl":"https://…/"}}' community-plugins.json
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build -q -p sourcegate-ffi
target="${CARGO_TARGET_DIR:-$root/target}/debug"
out="$target/sourcegate-example"
cc -std=c11 -Wall -Wextra -Werror -g -pthread -I ffi/include examples/c/main.c \
  -L "$target" -Wl,-rpath,"$target" -lsourcegate_ffi -o "$out"
if [ "${VALGRIND:-0}" = 1 ]; then
  exec valgrind --leak-check=full --error-exitcode=1 "$out" "$@"
fi
exec "$out" "$@"
