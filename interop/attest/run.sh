#!/usr/bin/env bash
# Outside verification of custos evidence bundles: a bundle written by the custos-attest tests
# (CUSTOS_WRITE_BUNDLE) must pass verify_dsse.py (securesystemslib, in_toto_attestation,
# jsonschema), and its tampered copies (payloadType changed; payload changed, signature kept)
# must fail it.
# Usage: interop/attest/run.sh [VENV]   (default /var/tmp/custos-attest-venv; run install.sh first)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-/var/tmp/custos-attest-venv}"
py="$venv/bin/python"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
(cd "$here/../.." && CUSTOS_WRITE_BUNDLE="$out" cargo test -q -p custos-attest --test it a_bundle_round_trips >/dev/null)
key="$(cat "$out/pubkey.hex")"
fails=0
"$py" "$here/verify_dsse.py" "$out/bundle.json" "$key" || fails=$((fails + 1))
for bad in bundle-tampered-type.json bundle-tampered-payload.json; do
	if "$py" "$here/verify_dsse.py" "$out/$bad" "$key"; then
		echo "FAIL: $bad was accepted"
		fails=$((fails + 1))
	fi
done
other="$(printf '%064x' 1)"
if "$py" "$here/verify_dsse.py" "$out/bundle.json" "$other" 2>/dev/null; then
	echo "FAIL: another key was accepted"
	fails=$((fails + 1))
fi
if ((fails > 0)); then
	echo "attest interop: $fails failed"
	exit 1
fi
echo "attest interop: all passed"
