#!/usr/bin/env bash
# Validates an OSCAL assessment-results document with compliance-trestle (the pinned version in
# requirements-oscal.txt, installed once into a virtualenv): `trestle init` in a temporary
# workspace, the file copied to assessment-results/<name>/assessment-results.json, then
# `trestle validate -f`. Exit 0 valid; trestle's own code otherwise (4 = invalid).
# Usage: validate_oscal.sh FILE [VENV]   (default VENV /var/tmp/custos-oscal/venv)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
file="$(realpath "${1:?usage: validate_oscal.sh FILE [VENV]}")"
venv="${2:-/var/tmp/custos-oscal/venv}"
stamp="$venv/.custos-requirements-oscal"
if ! { [ -x "$venv/bin/trestle" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$here/requirements-oscal.txt"; }; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q -r "$here/requirements-oscal.txt"
	cp "$here/requirements-oscal.txt" "$stamp"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$venv/bin/trestle" init >/dev/null
name="$(basename "$file" .json | tr -c 'A-Za-z0-9_\n-' '_')"
mkdir -p "assessment-results/$name"
cp "$file" "assessment-results/$name/assessment-results.json"
"$venv/bin/trestle" validate -f "assessment-results/$name/assessment-results.json"
