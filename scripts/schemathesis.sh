#!/usr/bin/env bash
# Checks the control plane's /openapi.json the way API tools read it:
#   1. openapi-spec-validator (PyPI) validates the document against the OpenAPI 3.1 schema;
#   2. schemathesis (PyPI) generates requests from it against a live control plane on
#      loopback (embedded PostgreSQL, origin probes off, its own temp data dir) and checks
#      every answer: no 5xx, status codes, content types, headers and bodies as declared.
# Two runs: without a token (every route, including POST /v1/origins/test, which answers 401
# before looking at the body) and with a service-role token (admin routes exercised for real;
# POST /v1/origins/test is left out there, since an admin's request to a public host would
# leave this machine).
#
# Installs: a Python virtualenv under target/py/schemathesis with the pinned versions below
# (and Debian's python3/python3-venv when missing).
# Uses: $SOURCEGATE_CP_BIN (set by scripts/test.sh), else builds the workspace once.
# Bounds: SCHEMATHESIS_MAX_EXAMPLES (default 40) cases per operation and phase, a fixed seed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=lib/control-plane.sh
. "$root/scripts/lib/control-plane.sh"

SCHEMATHESIS_VERSION=4.32.5
SPEC_VALIDATOR_VERSION=0.9.0
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-40}"
seed="${SCHEMATHESIS_SEED:-20261202}"

cp_binary

venv="$target/py/schemathesis"
if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $SPEC_VALIDATOR_VERSION (PyPI) into $venv"
  py_venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$SPEC_VALIDATOR_VERSION"
fi

cp_start schemathesis

curl -fsS "$base/openapi.json" -o "$work/openapi.json"
echo "== openapi-spec-validator"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

token="$("$bin" mint-token --role service_role)"
[ -n "$token" ] || { echo "mint-token printed nothing"; exit 1; }

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
run() {
  local name="$1"; shift
  echo "== schemathesis ($name): $max_examples examples per operation, seed $seed"
  # From the temp dir: schemathesis keeps its cache (.schemathesis/) in the working directory.
  if ! (cd "$work" && "$venv/bin/st" run "$work/openapi.json" --url "$base" \
      --checks "$checks" --max-examples "$max_examples" --seed "$seed" \
      --workers 2 --no-shrink --warnings off \
      --phases examples,coverage,fuzzing --request-timeout 10 "$@"); then
    echo "schemathesis ($name) found failures; server log tail:"
    tail -n 40 "$work/server.log"
    return 1
  fi
}
run "no token"
run "service-role token" -H "Authorization: Bearer $token" \
  --exclude-path /v1/origins/test --exclude-path '/v1/configs/{key}/events'
# An open event stream only ends at the request timeout: a few cases, a short timeout.
max_examples=3 run "event streams, service-role token" -H "Authorization: Bearer $token" \
  --include-path '/v1/configs/{key}/events' --request-timeout 2
echo "== schemathesis: 0 server errors, 0 schema violations"
