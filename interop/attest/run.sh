#!/usr/bin/env bash
# Outside verification of custos evidence bundles: a bundle written by the custos-attest tests
# (CUSTOS_WRITE_BUNDLE) must pass verify_dsse.py (securesystemslib, in_toto_attestation,
# jsonschema), and its tampered copies (payloadType changed; payload changed, signature kept)
# must fail it; go-verify (Go's sumdb note/tlog) must accept the checkpoint and proofs of the
# good bundles and reject a re-signed bundle with one proof hash changed.
# Usage: interop/attest/run.sh [VENV]   (default /var/tmp/custos-attest-venv; run install.sh first)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-/var/tmp/custos-attest-venv}"
py="$venv/bin/python"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
(cd "$here/../.." && CUSTOS_WRITE_BUNDLE="$out" cargo test -q -p custos-attest --test it -- a_bundle_round_trips a_second_export >/dev/null)
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
# Go's golang.org/x/mod/sumdb/{note,tlog} on the checkpoint and every proof (interop/go-verify),
# when Go is installed.
if command -v go >/dev/null; then
	gv="$out/go-verify"
	(cd "$here/../go-verify" && GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOSUMDB=off go build -o "$gv" .)
	vkey="$(cat "$out/verifier.key")"
	for good in bundle.json bundle-second.json; do
		"$gv" bundle --key "$vkey" --bundle "$out/$good" || fails=$((fails + 1))
	done
	if "$gv" bundle --key "$vkey" --bundle "$out/bundle-tampered-proof.json"; then
		echo "FAIL: go-verify accepted a tampered proof"
		fails=$((fails + 1))
	fi
fi
if ((fails > 0)); then
	echo "attest interop: $fails failed"
	exit 1
fi
echo "attest interop: all passed"
