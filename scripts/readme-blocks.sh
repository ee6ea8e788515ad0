#!/usr/bin/env bash
# Runs every shell block (```sh, ```bash, ```console) of README.md, control-plane/README.md and
# cli/README.md, so the commands a newcomer copies work as written. Called by scripts/test.sh;
# about a minute with the binaries built.
#
# Each README runs as one bash script (its blocks in order, so a variable set in one block is
# seen by the next) under `set -euo pipefail`, in a fresh temporary directory (so
# `./.sourcegate` is private to the run). A failing command fails the README and this script,
# naming the README, the block's line and the command. Before running, a line of the form
# `export NAME=$(…)` fails the check: `export` succeeds even when the command fails, leaving
# an empty variable; write `NAME=$(…)` then `export NAME`.
#
# What the harness maps, so the blocks run fast, offline and side by side with other runs:
# - `cargo run [-q] [--release] (-p PKG | --bin BIN) [-- ARGS]` runs the debug binary this
#   script builds first (target/debug, or $CARGO_TARGET_DIR/debug): no release build. The
#   binary is resolved from `cargo metadata` as cargo would (PKG's only binary or its
#   `default-run`), so a `cargo run -p PKG` that cargo would refuse fails here too.
#   `sourcegate-control-plane` and `sourcegate` typed bare are the same binaries.
# - The control plane listens on a free loopback port, not 8080 (SOURCEGATE_LISTEN), with
#   `--origin-probes false` (the seeded document names the public Git host, which is never
#   contacted from here) and fsync off. A command that would serve in the foreground is
#   started in the background, waited for on `/ready`, and stopped when the README ends.
# - `curl` gets `--fail-with-body` (an HTTP error fails the block), and `localhost:8080` /
#   `127.0.0.1:8080` become that port; `curl -N` (an SSE stream) is cut after 3 s and must
#   have received an event.
# - `sourcegate` (the CLI) talks to that control plane whatever SOURCEGATE_URL the block
#   exports (cli/README.md's "deployed control plane" is this one, started before its first
#   block; the other READMEs start it themselves); a placeholder token ending
#   in `...` is replaced by a minted service-role token; `status` gets `--no-probe` (the
#   origins are public hosts); `test <url>` of a non-loopback URL is skipped (the control
#   plane would resolve and fetch a public name); `watch` without `--count` gets `--count 1`.
# - `cargo run --bin migration_drill` runs shortened, as tests/tests/drill.rs does
#   (100 installs, 2 s phases, Git quota 4/s), unless the block passes those knobs itself.
# - Skipped, with the reason printed: `bash scripts/test.sh` (it runs this script),
#   `cargo test` (run by scripts/test.sh), `cargo install` / `cargo build` (the binaries are
#   built here), `cargo bench`, `cp_bench` and `bash bench/…` (benchmarks: their targets or
#   scripts are checked to exist).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

for tool in curl jq; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool"
    else
      echo "readme-blocks: $tool is required (apt-get install -y $tool)" >&2
      exit 1
    fi
  fi
done

cargo build -q --locked -p sourcegate-control-plane -p sourcegate-cli -p sourcegate-examples --bins
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
export READMEBLOCKS_BIN="$target/debug"
export READMEBLOCKS_ROOT="$root"

work="$(mktemp -d)"
# The embedded PostgreSQL runs as an unprivileged user when we are root: let it reach the dir.
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
# Packages and their targets, to resolve `cargo run -p PKG` as cargo would (default-run).
cargo metadata -q --no-deps --format-version 1 --offline >"$work/metadata.json"
export READMEBLOCKS_METADATA="$work/metadata.json"

# The functions every README script starts with (see the header for what they map).
cat >"$work/harness.bash" <<'HARNESS'
set -Eeuo pipefail
__bin="$READMEBLOCKS_BIN"
__root="$READMEBLOCKS_ROOT"
__port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)))"
__base="http://127.0.0.1:$__port"
__server_pid=""
__where="(start)"
export SOURCEGATE_LISTEN="127.0.0.1:$__port"
export SOURCEGATE_ORIGIN_PROBES=false
export SOURCEGATE_EMBEDDED_UNSAFE_FAST=true
export SOURCEGATE_URL="$__base"
unset SOURCEGATE_TOKEN SOURCEGATE_JWT_SECRET SOURCEGATE_DATA_DIR DATABASE_URL SOURCEGATE_AUTHENTICATOR_URL

__block() { __where="$1 block at line $2"; echo "--- $__where"; }
__skip() { echo "    (skipped: $1 — $2)"; }
__fail() { echo "readme-blocks: $__where: $*" >&2; exit 1; }
__on_err() {
  local rc=$?
  echo "readme-blocks: FAILED in $__where: \`$BASH_COMMAND\` exited $rc" >&2
  if [ -s server.log ]; then echo "--- server log (last 30 lines)" >&2; tail -n 30 server.log >&2; fi
  exit "$rc"
}
trap __on_err ERR
__stop_server() {
  if [ -n "$__server_pid" ]; then
    kill -TERM "$__server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$__server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$__server_pid" 2>/dev/null || true
    wait "$__server_pid" 2>/dev/null || true
    __server_pid=""
  fi
}
trap __stop_server EXIT

# Starts the control plane in the background (once) and waits until it is ready.
__start_server() {
  if [ -n "$__server_pid" ] && kill -0 "$__server_pid" 2>/dev/null; then
    echo "    (control plane already running on $__base)"
    return 0
  fi
  echo "    (control plane started in the background on $__base)"
  "$__bin/sourcegate-control-plane" "$@" >>server.log 2>&1 &
  __server_pid=$!
  for _ in $(seq 1 600); do
    if command curl -fsS -o /dev/null "$__base/ready" 2>/dev/null; then return 0; fi
    kill -0 "$__server_pid" 2>/dev/null || { cat server.log >&2; __fail "the control plane exited"; }
    sleep 0.1
  done
  cat server.log >&2
  __fail "the control plane was not ready within 60 s"
}

sourcegate-control-plane() {
  local a
  for a in "$@"; do
    case "$a" in mint-token | help | --help | -h | --version | -V) command "$__bin/sourcegate-control-plane" "$@"; return; esac
  done
  __start_server "$@"
}

__admin_token() {
  command "$__bin/sourcegate-control-plane" mint-token --role service_role
}

sourcegate() {
  local args=() sub="" skip_next=0 a has_count=0 has_no_probe=0
  for a in "$@"; do
    args+=("$a")
    if [ "$skip_next" = 1 ]; then skip_next=0; continue; fi
    case "$a" in
      --url | --token | --timeout-secs) skip_next=1 ;;
      --count | --count=*) has_count=1 ;;
      --no-probe) has_no_probe=1 ;;
      -*) ;;
      *) [ -n "$sub" ] || sub="$a" ;;
    esac
  done
  case "$sub" in
    status) [ "$has_no_probe" = 1 ] || args+=(--no-probe) ;;
    watch) [ "$has_count" = 1 ] || args+=(--count 1) ;;
    test)
      local url="${args[-1]}"
      case "$url" in
        http://127.0.0.1[:/]* | http://localhost[:/]* | http://\[::1\]*) ;;
        *) __skip "sourcegate test $url" "would make the control plane resolve and fetch a public host"; return 0 ;;
      esac
      ;;
  esac
  local token="${SOURCEGATE_TOKEN:-}"
  case "$token" in *...) token="$(__admin_token)" ;; esac
  SOURCEGATE_URL="$__base" SOURCEGATE_TOKEN="$token" command "$__bin/sourcegate" "${args[@]}"
}

curl() {
  local args=() a stream=0
  for a in "$@"; do
    a="${a//localhost:8080/127.0.0.1:$__port}"
    a="${a//127.0.0.1:8080/127.0.0.1:$__port}"
    [ "$a" = -N ] && stream=1
    args+=("$a")
  done
  if [ "$stream" = 1 ]; then
    local out rc=0
    out="$(command curl -sS --fail-with-body --max-time 3 "${args[@]}")" || rc=$?
    printf '%s\n' "$out"
    [ "$rc" = 0 ] || [ "$rc" = 28 ] || __fail "curl exited $rc"
    case "$out" in *"event: "*) ;; *) __fail "the event stream sent no event" ;; esac
  else
    command curl --fail-with-body "${args[@]}"
    echo
  fi
}

# `cargo bench -p PKG --bench NAME` / `--manifest-path M`: check that the target exists.
__bench_exists() {
  local pkg="" bench="" manifest="" prev=""
  for a in "$@"; do
    case "$prev" in -p | --package) pkg="$a" ;; --bench) bench="$a" ;; --manifest-path) manifest="$a" ;; esac
    prev="$a"
  done
  if [ -n "$manifest" ]; then
    [ -f "$__root/$manifest" ] || __fail "no $manifest"
    grep -q '^\[\[bench\]\]' "$__root/$manifest" || __fail "$manifest has no [[bench]]"
    return 0
  fi
  jq -e --arg p "$pkg" --arg b "$bench" \
    '.packages[] | select(.name == $p) | .targets[] | select(.kind == ["bench"] and ($b == "" or .name == $b))' \
    "$READMEBLOCKS_METADATA" >/dev/null || __fail "no bench target ${bench:-any} in package $pkg"
}

__pkg_exists() {
  local pkg="" prev=""
  for a in "$@"; do
    case "$prev" in -p | --package) pkg="$a" ;; esac
    prev="$a"
  done
  [ -z "$pkg" ] && return 0
  jq -e --arg p "$pkg" '.packages[] | select(.name == $p)' "$READMEBLOCKS_METADATA" >/dev/null ||
    __fail "no package $pkg"
}

cargo() {
  local sub="$1"
  shift
  case "$sub" in
    run) __cargo_run "$@" ;;
    bench) __bench_exists "$@"; __skip "cargo bench $*" "a benchmark; its target exists" ;;
    test) __pkg_exists "$@"; __skip "cargo test $*" "scripts/test.sh runs cargo test --workspace" ;;
    install)
      [ "${1:-}" != --path ] || [ -f "$__root/${2:-}/Cargo.toml" ] || __fail "no crate at ${2:-}"
      __skip "cargo install $*" "the binaries are built by this harness"
      ;;
    build) __pkg_exists "$@"; __skip "cargo build $*" "the binaries are built by this harness" ;;
    *) __fail "cargo $sub is not mapped by scripts/readme-blocks.sh" ;;
  esac
}

__cargo_run() {
  local pkg="" bin="" prev="" args=() rest=0 a
  for a in "$@"; do
    if [ "$rest" = 1 ]; then args+=("$a"); continue; fi
    case "$prev" in
      -p | --package) pkg="$a"; prev=""; continue ;;
      --bin) bin="$a"; prev=""; continue ;;
    esac
    case "$a" in
      --) rest=1 ;;
      -p | --package | --bin) prev="$a" ;;
      -q | --quiet | --release | --locked | --offline) ;;
      *) __fail "cargo run option $a is not mapped" ;;
    esac
  done
  # The binary cargo would run: `--bin` (in PKG, or in the workspace), else PKG's only binary
  # or its `default-run`; anything cargo would refuse fails here too.
  local found
  found="$(jq -r --arg p "$pkg" --arg b "$bin" '
    [.packages[] | select($p == "" or .name == $p)] as $pkgs
    | if $b != "" then
        [$pkgs[].targets[] | select(.kind == ["bin"] and .name == $b) | .name] | unique
        | if length == 1 then .[0] else "ERROR no binary \($b)" end
      elif ($pkgs | length) != 1 then "ERROR -p is required"
      else $pkgs[0] as $pk | [$pk.targets[] | select(.kind == ["bin"]) | .name] as $bins
        | if ($bins | length) == 1 then $bins[0]
          elif $pk.default_run != null then $pk.default_run
          else "ERROR \($p) has \($bins | length) binaries and no default-run" end
      end' "$READMEBLOCKS_METADATA")"
  case "$found" in ERROR*) __fail "cargo run ${*}: ${found#ERROR }" ;; esac
  bin="$found"
  case "$bin" in
    sourcegate-control-plane) sourcegate-control-plane "${args[@]}" ;;
    sourcegate) sourcegate "${args[@]}" ;;
    migration_drill)
      local quick=() joined=" ${args[*]:-} "
      local knob
      for knob in "--installs 100" "--phase-secs 2" "--normal-rps 3" "--spike-rps 15" \
        "--git-limit-per-sec 4" "--git-burst 4" "--quiet"; do
        case "$joined" in *" ${knob%% *} "* | *" ${knob%% *}="*) ;; *) read -ra kv <<<"$knob"; quick+=("${kv[@]}") ;; esac
      done
      echo "    (migration_drill shortened: ${quick[*]})"
      command "$__bin/migration_drill" "${quick[@]}" "${args[@]}"
      ;;
    cp_bench)
      [ -x "$__bin/cp_bench" ] || __fail "cp_bench was not built"
      __skip "cargo run --bin cp_bench" "a load benchmark (~1 min in release); the binary is built"
      ;;
    *) __fail "binary $bin is not mapped" ;;
  esac
}
HARNESS

# Writes the shell blocks of file $1 (named $2 in messages) as one script, each block after a
# marker.
extract() {
  local readme="$2"
  awk -v readme="$readme" '
    BEGIN { inblk = 0 }
    /^```/ {
      if (inblk) { inblk = 0; next }
      lang = substr($0, 4); sub(/[ ,].*/, "", lang)
      if (lang == "sh" || lang == "bash" || lang == "console") {
        inblk = 1; console = (lang == "console")
        printf "__block %s %d\n", readme, NR
      }
      next
    }
    inblk {
      line = $0
      if (console) { if (line !~ /^\$ /) next; line = substr(line, 3) }
      if (line ~ /^[[:space:]]*bash scripts\/test\.sh/) {
        print "__skip \"bash scripts/test.sh\" \"it runs this harness\""
        next
      }
      if (line ~ /^[[:space:]]*bash bench\//) {
        split(line, w, /[[:space:]]+/); script = (w[1] == "bash") ? w[2] : w[3]
        printf "[ -f \"$__root/%s\" ] || __fail \"%s is missing\"; __skip \"bash %s\" \"a benchmark; the script exists\"\n", script, script, script
        next
      }
      print line
    }
  ' "$1"
}

# Runs README $1 (a path under the repository, or absolute); returns non-zero on a failure.
run_readme() {
  local readme="$1" file dir started
  case "$readme" in /*) file="$readme" ;; *) file="$root/$readme" ;; esac
  echo "== $readme"
  if grep -nE '^[[:space:]]*export[[:space:]]+[A-Za-z_][A-Za-z0-9_]*=["]?\$\(' "$file"; then
    echo "readme-blocks: $readme: \`export NAME=\$(…)\` hides a failing command; write NAME=\$(…) then export NAME" >&2
    return 1
  fi
  dir="$work/$(echo "$readme" | tr '/' '_')"
  mkdir -p "$dir"
  chmod 0755 "$dir"
  {
    echo "source '$work/harness.bash'"
    # cli/README.md is written against "a deployed control plane": ours, started first.
    if [ "$readme" = cli/README.md ]; then echo "__block $readme 0; __start_server"; fi
    extract "$file" "$readme"
  } >"$dir/run.bash"
  started=$SECONDS
  if (cd "$dir" && bash "$dir/run.bash"); then
    echo "== $readme: every block passed ($((SECONDS - started)) s)"
  else
    echo "== $readme: FAILED" >&2
    return 1
  fi
}

# The harness must be able to fail: a block with a failing command, and a silent
# `export NAME=$(failing)`, are both refused.
printf '```sh\ntrue\nfalse\necho unreachable\n```\n' >"$work/failing.md"
printf '```sh\nexport TOKEN=$(false)\n```\n' >"$work/export.md"
for broken in "$work/failing.md" "$work/export.md"; do
  if run_readme "$broken" >"$work/selfcheck.log" 2>&1; then
    cat "$work/selfcheck.log" >&2
    echo "readme-blocks: self-check: $broken passed, but it must fail" >&2
    exit 1
  fi
done
echo "== self-check: a failing block and \`export NAME=\$(…)\` are refused"

status=0
if [ "$#" -eq 0 ]; then set -- README.md control-plane/README.md cli/README.md; fi
for readme in "$@"; do
  run_readme "$readme" || status=1
done
exit "$status"
