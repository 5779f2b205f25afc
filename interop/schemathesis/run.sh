#!/usr/bin/env bash
# Fuzzes the admin API of a live `custos up` with Schemathesis, driven by the server's own
# OpenAPI document: no response may be a 5xx, and every response must match the document
# (status code, content type, body schema).
#
# usage: interop/schemathesis/run.sh PATH/TO/custos [SCHEMATHESIS]
#   SCHEMATHESIS defaults to `schemathesis` on PATH (.ci/run installs it in a virtualenv).
set -euo pipefail

custos=${1:?usage: run.sh PATH/TO/custos [SCHEMATHESIS]}
st=${2:-schemathesis}
work=$(mktemp -d)
pid=
cleanup() {
    # End only the server this script started, by its id.
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$custos" --data-dir "$work/data" --json up --listen 127.0.0.1:0 >"$work/up.out" 2>"$work/up.err" &
pid=$!
for _ in $(seq 100); do
    [[ $(wc -l <"$work/up.out") -ge 2 ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/up.err" >&2; exit 1; }
    sleep 0.1
done
token=$(sed -n 1p "$work/up.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
url=$(sed -n 2p "$work/up.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["listening"])')

# Register a few agents first so the operations on `{id}` reach real records, not only 404s.
for id in fuzz seed-a seed-b; do
    curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"id\":\"$id\",\"environment\":\"dev\",\"owner\":\"owner@example.com\"}" "$url/api/v1/agents"
done

status=0
(cd "$work" && "$st" run "$url/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
    --generation-deterministic \
    --request-timeout 10 \
    --suppress-health-check filter_too_much \
    --no-color) || status=$?

# The server must still be up, and must stop cleanly with a ledger that verifies.
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$url/api/v1/ledger" || { echo "server died during fuzzing" >&2; status=1; }
kill -TERM "$pid"
wait "$pid" || { echo "custos up exited with $?" >&2; status=1; }
pid=
"$custos" --data-dir "$work/data" ledger verify || status=1
exit $status
