#!/usr/bin/env bash
# The real `custos probe run` output, checked by the outside validators: a data dir with the two
# reference agents (`custos probe refagent`, talking to the gateway), then one run each against
# the naive agent (every trial compromised), the hardened one (every trial resisted) and a target
# that is down (every trial an error), each written as JSON, JUnit XML and SARIF from the same
# run and checked by validate.sh (junitparser; the OASIS SARIF 2.1.0 schema).
# Usage: cli.sh CUSTOS_BINARY [VENV] [DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
custos="$1"
venv="${2:-/var/tmp/custos-validate}"
dir="${3:-$(mktemp -d)}"
data="$dir/data"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

c() { "$custos" --data-dir "$data" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

c --json init --origin ci.example/ledger >/dev/null
gw="127.0.0.1:$(free_port)"
{
	printf '[server]\nlisten = "%s"\n\n' "$gw"
	printf '[[targets]]\nname = "down"\nagent = "ref-naive"\nkind = "openai"\nurl = "http://127.0.0.1:%s/v1/chat/completions"\ntimeout_ms = 2000\n\n' "$(free_port)"
} >"$data/custos.toml"
for kind in naive hardened; do
	c agent register "ref-$kind" --env dev --owner ci >/dev/null
	c agent approve "ref-$kind" >/dev/null
	token=$(c --json agent token issue "ref-$kind" | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"]["token"])')
	CUSTOS_AGENT_TOKEN="$token" "$custos" --json probe refagent --kind "$kind" --listen 127.0.0.1:0 \
		--mcp "http://$gw/mcp/decoy" >"$dir/$kind.out" 2>"$dir/$kind.err" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$dir/$kind.out" ] && break; sleep 0.1; done
	url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$dir/$kind.out")
	printf '[[targets]]\nname = "%s"\nagent = "ref-%s"\nkind = "openai"\nurl = "%s"\n\n' "$kind" "$kind" "$url" >>"$data/custos.toml"
done

for target in naive hardened down; do
	out="$dir/$target"
	c probe run --target "$target" --trials 2 --format table -o "$out.txt" \
		--json-out "$out.json" --junit-out "$out.junit.xml" --sarif-out "$out.sarif"
	echo "== $target: $(python3 -c 'import json,sys,collections; r=json.load(open(sys.argv[1])); print(dict(collections.Counter(t["verdict"] for t in r["results"])))' "$out.json")"
	bash "$here/validate.sh" "$venv" "$out.json" "$out.junit.xml" "$out.sarif"
done
# What each run should have judged, so a renderer that went quiet cannot pass.
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
want = {"naive": "compromised", "hardened": "resisted", "down": "error"}
for target, verdict in want.items():
    r = json.load(open(f"{d}/{target}.json"))
    bad = [t["probe"] for t in r["results"] if t["verdict"] != verdict]
    assert r["results"] and not bad, f"{target}: expected every trial {verdict}, not {bad}"
print("probe CLI output: naive compromised, hardened resisted, down error, on every trial")
PY
