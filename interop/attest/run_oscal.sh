#!/usr/bin/env bash
# Writes the OSCAL document of the `controls` integration test (CUSTOS_WRITE_OSCAL set) and the
# one `custos attest --format oscal` writes on a fresh data dir, and checks them with
# compliance-trestle: the real documents must pass, the two broken on purpose (an official label
# `GOVERN 1.6` as control id, no import-ap) must fail.
# Usage: run_oscal.sh [DIR] [VENV]   (CARGO_TARGET_DIR is honoured)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-$(mktemp -d)}"
venv="${2:-/var/tmp/custos-oscal/venv}"
CUSTOS_WRITE_OSCAL="$dir" cargo test -q -p custos-attest --test it controls::writes_oscal_for_the_outside_validator
"$here/validate_oscal.sh" "$dir/assessment-results.json" "$venv"
for broken in "$dir/broken-label-id.json" "$dir/broken-no-import-ap.json"; do
	if "$here/validate_oscal.sh" "$broken" "$venv" >/dev/null 2>&1; then
		echo "validate_oscal: $broken is broken on purpose but was accepted" >&2
		exit 1
	fi
	echo "$broken: rejected, as it should be"
done

# The CLI's own path: `custos attest --format oscal` on a fresh data dir must validate too.
cargo build -q -p custos-cli --bin custos
custos="${CARGO_TARGET_DIR:-$here/../../target}/debug/custos"
data="$dir/cli-data"
"$custos" --data-dir "$data" init --origin interop.custos/oscal >/dev/null
"$custos" --data-dir "$data" agent register ops/bot --env dev --owner alice >/dev/null
"$custos" --data-dir "$data" agent approve ops/bot >/dev/null
"$custos" --data-dir "$data" attest --agent ops/bot --format oscal -o "$dir/cli-assessment-results.json"
"$here/validate_oscal.sh" "$dir/cli-assessment-results.json" "$venv"
