#!/usr/bin/env bash
# Writes the probe report's renderings for a run with every verdict (the custos-probe test
# `report::writes_samples_for_the_outside_validators` with CUSTOS_PROBE_SAMPLE_DIR set), then
# checks them with validate.sh, self-test included.
# Usage: run.sh [VENV] [DIR]   (default VENV /var/tmp/custos-validate; CARGO_TARGET_DIR is honoured)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-/var/tmp/custos-validate}"
dir="${2:-$(mktemp -d)}"
CUSTOS_PROBE_SAMPLE_DIR="$dir" cargo test -q -p custos-probe --test it report::writes_samples_for_the_outside_validators
bash "$here/validate.sh" --self-test "$venv" "$dir/report.json" "$dir/report.junit.xml" "$dir/report.sarif"
