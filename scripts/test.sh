#!/usr/bin/env bash
# Runs every test of the repository on a fresh machine: the Rust workspace (unit, integration,
# PostgreSQL/RLS against a private cluster the tests start themselves, the C FFI tests under
# valgrind, the shortened migration drill, doc tests), the FFI header check, the FFI's Android
# type-check (ffi/check-android.sh: rustup's aarch64-linux-android target, Debian's clang, llvm
# and libc6-dev-arm64-cross when missing), the Node.js
# binding's tests (npm ci + node --test), the WebAssembly package @sourcegate/resolver
# (bindings/js/run-tests.sh: rustup's wasm32-unknown-unknown target and wasm-bindgen-cli from
# crates.io when missing, eventsource and workerd from npm, node --test against a control
# plane; one test runs the package in workerd, Cloudflare's Workers runtime), the JVM host (bindings/jvm: Debian's JDK and
# libjna-java, installed if missing), /rest/v1 with Supabase's own clients
# (scripts/supabase-clients.sh: @supabase/supabase-js, @supabase/postgrest-js and ws from npm
# in control-plane/clients; postgrest (postgrest-py) and pytest from PyPI, pinned in
# control-plane/clients/python/requirements.txt, in a venv under target/py-clients), the admin
# console's browser tests (Chromium from
# Debian, installed if missing; playwright-core from npm), and every shell block of the READMEs
# (scripts/readme-blocks.sh: the commands a newcomer copies must work as written), the OpenAPI
# document (openapi-spec-validator and schemathesis from PyPI in a venv under target/py,
# scripts/schemathesis.sh), and the Supabase advisor lints over the migrations
# (scripts/splinter.sh --self-check: supabase/lints/advisor.sql, plus Supabase's splinter when
# a local copy is at hand (no download here); it has no licence, so it is never vendored).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Each step's banner carries the seconds since the start, so a CI log shows where time goes.
stage() { echo "== [${SECONDS}s] $*"; }

# Debian packages the tests need: HAProxy (the replica test puts two control planes behind it).
if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
  stage "installing haproxy (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy
fi

# Build once: every crate, binary, cdylib and test target of the workspace with one feature
# resolution; everything below reuses these artefacts (a `-p` build would re-resolve features
# and recompile part of the dependency tree).
stage "cargo build --workspace --all-targets"
cargo build --workspace --all-targets --locked
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
export SOURCEGATE_FFI_LIB="$target/debug/libsourcegate_ffi.so"
export SOURCEGATE_CP_BIN="$target/debug/sourcegate-control-plane"

stage "cargo test --workspace"
cargo test --workspace --locked

stage "README shell blocks (README.md, control-plane/README.md, cli/README.md)"
bash scripts/readme-blocks.sh

stage "OpenAPI: openapi-spec-validator and schemathesis against a live control plane"
bash scripts/schemathesis.sh

stage "Supabase advisor lints on the migrations (our rules; splinter when its pinned file is at hand)"
# Offline: the test command's traffic stays on this machine; splinter itself runs when a copy
# is at hand (SPLINTER_SQL or an uncommitted supabase/lints/splinter.sql).
SPLINTER_OFFLINE="${SPLINTER_OFFLINE:-1}" bash scripts/splinter.sh --self-check

stage "FFI header is current"
bash ffi/check-header.sh

stage "FFI for Android with the platform verifier: sg_android_init type-checks (no NDK: nothing linked)"
bash ffi/check-android.sh

stage "Node.js binding"
bash bindings/node/run-tests.sh

stage "@sourcegate/resolver: the WebAssembly package (wasm32 target and wasm-bindgen-cli installed if missing)"
bash bindings/js/run-tests.sh

stage "JVM host (Java 17 + JNA, as an Android app loads the library)"
bash bindings/jvm/run-tests.sh

stage "/rest/v1 with Supabase's clients (supabase-js, postgrest-js, postgrest-py)"
# Every group by default; SUPABASE_CLIENTS_ONLY=core (or a list: core,reads,writes,keys)
# narrows it, see the script's header.
bash scripts/supabase-clients.sh

stage "Admin console in a real browser (Debian Chromium + playwright-core)"
bash control-plane/e2e/run.sh

stage "all tests passed"
