#!/bin/sh
# Regenerates the AgentDojo probe packs from the pinned agentdojo (requirements.txt) and fails
# if a checked-in pack (crates/custos-probe/packs/agentdojo-<suite>.toml) differs from what the
# exporter and the converter produce now. With --update, writes the packs instead.
#
# Usage: tools/agentdojo/generate.sh VENV [--update]
#   VENV  a Python virtual environment; created, and agentdojo installed, when missing.
set -eu

usage() { echo "usage: $0 VENV [--update]" >&2; exit 2; }
[ $# -ge 1 ] || usage
venv=$1
update=no
if [ $# -ge 2 ]; then
  [ "$2" = --update ] || usage
  update=yes
fi

SUITES="workspace banking slack travel"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pinned=$(sed -n 's/^agentdojo==//p' "$here/requirements.txt")

if ! "$venv/bin/python" -c "import sys
from importlib.metadata import version
sys.exit(version('agentdojo') != '$pinned')" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
cargo build -q -p custos-probe --example agentdojo_pack
status=0
for suite in $SUITES; do
  # One export per suite, exactly as each pack's header says it was generated.
  "$venv/bin/python" tools/agentdojo/export.py --suite "$suite" -o "$tmp/agentdojo.json"
  cargo run -q -p custos-probe --example agentdojo_pack -- "$tmp/agentdojo.json" "$suite" >"$tmp/pack.toml"
  pack=crates/custos-probe/packs/agentdojo-$suite.toml
  if [ $update = yes ]; then
    cp "$tmp/pack.toml" "$pack"
    echo "wrote $pack"
  elif ! diff -u "$pack" "$tmp/pack.toml"; then
    echo "error: $pack is not what agentdojo $pinned converts to; run $0 VENV --update and review" >&2
    status=1
  fi
done
exit $status
