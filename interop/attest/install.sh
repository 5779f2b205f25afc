#!/usr/bin/env bash
# Installs the bundle verifiers' pinned packages (requirements.txt, from PyPI) into a
# virtualenv, once: a second run with the same pins does nothing.
# Usage: install.sh [VENV]   (default /var/tmp/custos-attest-venv)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-/var/tmp/custos-attest-venv}"
stamp="$venv/.custos-requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$here/requirements.txt"; then
	exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q -r "$here/requirements.txt"
cp "$here/requirements.txt" "$stamp"
