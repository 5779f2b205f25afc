#!/usr/bin/env bash
# Writes custos-discover's SARIF and CycloneDX for a report holding every kind of finding (the
# `outputs` integration test with CUSTOS_WRITE_OUTPUTS set), then checks them with the outside
# validators: the real documents must pass, the deliberately broken ones must fail.
# With a custos binary, it also validates what `custos discover` writes for the fixture trees
# (every source: code, IaC, Kubernetes, logs, OTLP, agent-client configs).
# Usage: run.sh [VENV] [DIR] [CUSTOS]   (after install.sh; CARGO_TARGET_DIR is honoured)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-/var/tmp/custos-validate}"
dir="${2:-$(mktemp -d)}"
CUSTOS_WRITE_OUTPUTS="$dir" cargo test -q -p custos-discover --test it outputs::writes_outputs_for_the_outside_validators
py="$venv/bin/python"
"$py" "$here/validate_sarif.py" "$dir/discover.sarif" "$dir/empty.sarif"
"$py" "$here/validate_cyclonedx.py" "$dir/discover.cdx.json" "$dir/empty.cdx.json"
# custos attest's estate inventory (registered agents and the tools they used), from a real store.
CUSTOS_WRITE_INVENTORY="$dir" cargo test -q -p custos-attest --test it inventory::writes_inventory_for_the_outside_validator
"$py" "$here/validate_cyclonedx.py" "$dir/inventory.cdx.json"
if [ -n "${3:-}" ]; then
	fixtures="$here/../../crates/custos-discover/tests/fixtures"
	for format in sarif cyclonedx; do
		# Exit 2 is the scriptable "shadow agents found" answer; anything else is a failure.
		rc=0
		"$3" --data-dir "$dir/no-data-dir" discover "$fixtures" --format "$format" -o "$dir/fixtures.$format.json" || rc=$?
		[ "$rc" = 2 ] || { echo "custos discover --format $format exited $rc" >&2; exit 1; }
	done
	"$py" "$here/validate_sarif.py" "$dir/fixtures.sarif.json"
	"$py" "$here/validate_cyclonedx.py" "$dir/fixtures.cyclonedx.json"
fi
for broken in "$dir/broken.sarif:validate_sarif.py" "$dir/broken.cdx.json:validate_cyclonedx.py" \
	"$dir/inventory-broken.cdx.json:validate_cyclonedx.py"; do
	file="${broken%%:*}"
	if "$py" "$here/${broken##*:}" "$file" >/dev/null; then
		echo "validators: $file is broken on purpose but was accepted" >&2
		exit 1
	fi
	echo "$file: rejected, as it should be"
done
