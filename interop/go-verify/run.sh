#!/usr/bin/env bash
# Interop check: drive the custos CLI to produce ledger artifacts (checkpoints, exported
# entries, tlog-proof files, a consistency proof) and verify them with go-verify, which uses
# Go's reference code (golang.org/x/mod/sumdb/note and sumdb/tlog). Also checks that
# go-verify rejects tampered artifacts and a wrong key.
#
# Usage: interop/go-verify/run.sh [path/to/custos]   (default: ${CARGO_TARGET_DIR:-target}/debug/custos)
# Env:   GO_XMOD_DIR      golang.org/x/mod source dir (default: Debian's /usr/share/gocode/src/golang.org/x/mod)
#        GO_VERIFY_KEEP=1 keep the temp dir with all artifacts
# Prints "go-verify: N passed, M failed" last and exits non-zero if anything failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
custos_bin=${1:-${CARGO_TARGET_DIR:-target}/debug/custos}
[[ $custos_bin == /* ]] || custos_bin=$PWD/$custos_bin

pass=0
fail=0
summarized=0
tmp=
summary() {
	summarized=1
	echo "go-verify: $pass passed, $fail failed"
}
die() {
	echo "run.sh: $*"
	fail=$((fail + 1))
	summary
	exit 1
}
on_exit() {
	local rc=$?
	((summarized)) || echo "go-verify: $pass passed, $((fail + 1)) failed (run.sh stopped early, exit $rc)"
	if [[ -n $tmp && ${GO_VERIFY_KEEP:-} != 1 ]]; then rm -rf "$tmp"; fi
}
trap on_exit EXIT

[[ -x $custos_bin ]] || die "no custos binary at $custos_bin (cargo build -p custos-cli, or pass its path)"
command -v go >/dev/null || die "go is not installed"

tmp=$(mktemp -d)
[[ ${GO_VERIFY_KEEP:-} != 1 ]] || echo "run.sh: keeping artifacts in $tmp"

# --- build go-verify offline (a copy of the sources, so go.mod can be pointed elsewhere) ---
export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GO111MODULE=on GOSUMDB=off
cache=$(go env GOCACHE 2>/dev/null || true)
if [[ -z $cache || $cache == off ]] || ! mkdir -p "$cache" 2>/dev/null; then
	export GOCACHE=$tmp/gocache
fi
mkdir "$tmp/src"
cp "$here/go.mod" "$here/main.go" "$tmp/src/"
if [[ -n ${GO_XMOD_DIR:-} ]]; then
	(cd "$tmp/src" && go mod edit -replace "golang.org/x/mod=$GO_XMOD_DIR") || die "go mod edit failed"
fi
(cd "$tmp/src" && go build -o "$tmp/go-verify" .) || die "building go-verify failed"
gv=$tmp/go-verify

# --- produce artifacts with custos ---
a=$tmp/artifacts
mkdir -p "$a" "$tmp/data" "$tmp/data2"
cx() { # cx DATA_DIR OUT ARGS...: run custos, stdout to OUT
	local dir=$1 out=$2
	shift 2
	"$custos_bin" --data-dir "$dir" "$@" >"$out" || die "custos --data-dir $dir $* failed (exit $?)"
}
append() { # append N: append N entries, numbered from the current count
	local i
	for ((i = 0; i < $1; i++)); do
		if ((n % 3 == 0)); then
			cx "$tmp/data" /dev/null ledger append --kind gateway.decision --data "{\"n\":$n,\"decision\":\"allow\",\"tool\":\"fs.read\"}"
		else
			cx "$tmp/data" /dev/null ledger append --kind policy.proposed --data "{\"n\":$n,\"server\":\"demo\",\"tool\":\"t$n\"}"
		fi
		n=$((n + 1))
	done
}

cx "$tmp/data" /dev/null init --origin custos.test/interop
cx "$tmp/data" "$a/key" ledger key
key=$(<"$a/key")
# init may log entries of its own (e.g. key.rotated), so sizes count from what is there.
cx "$tmp/data" "$a/entries-after-init" ledger export
base=$(wc -l <"$a/entries-after-init")
n=0
append 17
size_a=$((base + 17))
cx "$tmp/data" "$a/A.note" ledger checkpoint
append 40
size_b=$((size_a + 40))
cx "$tmp/data" "$a/B.note" ledger checkpoint
cx "$tmp/data" "$a/entries" ledger export
cx "$tmp/data" "$a/entries-A" ledger export --from 0 --to "$size_a"
mid=$(((size_a + size_b) / 2))
indices=(0 $((size_a - 1)) "$mid" $((size_b - 1)))
for i in "${indices[@]}"; do
	cx "$tmp/data" "$a/proof-$i" ledger proof --index "$i"
done
cx "$tmp/data" "$a/proof-5-at-A" ledger proof --index 5 --size "$size_a"
cx "$tmp/data" "$a/consistency.json" --json ledger consistency --from "$size_a" --to "$size_b"

# A second instance with the same origin: same key name, different key.
cx "$tmp/data2" /dev/null init --origin custos.test/interop
cx "$tmp/data2" "$a/other-key" ledger key
other_key=$(<"$a/other-key")
[[ $other_key != "$key" ]] || die "two custos instances produced the same key: $key"

# --- tampered copies ---
# flip FILE OUT REGEX: change the base64 character right after the first match of REGEX.
flip() {
	sed -z -E "s#($3)A#\\1B#; t; s#($3)[B-Za-z0-9+/]#\\1A#" "$1" >"$2" || die "sed failed on $1"
	! cmp -s "$1" "$2" || die "could not tamper with $1"
}
flip "$a/proof-$mid" "$a/proof-$mid.tampered" '\nindex [0-9]+\n'
flip "$a/consistency.json" "$a/consistency.tampered" '"proof"[[:space:]]*:[[:space:]]*\[[[:space:]]*"'
# Entry $mid is line $mid+1 and is one of ours, with data {"n":...}: change n.
sed -E "$((mid + 1))s/\"n\":[0-9]+/\"n\":-1/" "$a/entries" >"$a/entries.tampered" || die "sed failed"
! cmp -s "$a/entries" "$a/entries.tampered" || die "could not tamper with entry $mid in $a/entries"

# --- checks ---
declare -A passed # names of the positive checks that passed
check() { # check NAME EXPECT-SUBSTRING GO-VERIFY-ARGS...: go-verify must accept
	local name=$1 want=$2 out
	shift 2
	if out=$("$gv" "$@" 2>&1) && [[ $out == *"$want"* ]]; then
		pass=$((pass + 1))
		passed[$name]=1
		echo "PASS  $name: $out"
	else
		fail=$((fail + 1))
		echo "FAIL  $name: $out${want:+ (wanted output containing \"$want\")}"
	fi
}
refute() { # refute NAME BASELINE GO-VERIFY-ARGS...: go-verify must reject (exit 1, "FAIL: ...")
	# A rejection only means something if the untampered BASELINE check passed.
	local name=$1 baseline=$2 out rc=0
	shift 2
	out=$("$gv" "$@" 2>&1) || rc=$?
	if [[ -z ${passed[$baseline]:-} ]]; then
		fail=$((fail + 1))
		echo "FAIL  $name: inconclusive, its baseline \"$baseline\" did not pass"
	elif [[ $rc == 1 && $out == FAIL:* ]]; then
		pass=$((pass + 1))
		echo "PASS  $name: rejected (${out#FAIL: })"
	else
		fail=$((fail + 1))
		echo "FAIL  $name: expected rejection, got exit $rc: $out"
	fi
}

A="checkpoint A ($base from init + 17)"
B="checkpoint B (A + 40)"
cons="consistency $size_a -> $size_b"
check "$A" "size=$size_a " checkpoint --key "$key" --note "$a/A.note"
check "$B" "size=$size_b " checkpoint --key "$key" --note "$a/B.note"
if cmp -s <(head -n "$size_a" "$a/entries") "$a/entries-A"; then
	pass=$((pass + 1))
	echo "PASS  export --from 0 --to $size_a is the first $size_a lines of export"
else
	fail=$((fail + 1))
	echo "FAIL  export --from 0 --to $size_a differs from the first $size_a lines of export"
fi
check "treehash A (export --from 0 --to $size_a)" "of $size_a entries" treehash --key "$key" --note "$a/A.note" --entries "$a/entries-A"
check "treehash A (full export)" "of $size_a entries" treehash --key "$key" --note "$a/A.note" --entries "$a/entries"
check "treehash B" "of $size_b entries" treehash --key "$key" --note "$a/B.note" --entries "$a/entries"
for i in "${indices[@]}"; do
	check "inclusion $i in B" "entry $i (leaf" inclusion --key "$key" --proof "$a/proof-$i" --entries "$a/entries"
done
check "inclusion 5 in A (--size $size_a)" "size=$size_a " inclusion --key "$key" --proof "$a/proof-5-at-A" --entries "$a/entries"
check "$cons" "$cons" consistency --key "$key" --old "$a/A.note" --new "$a/B.note" --proof "$a/consistency.json"

refute "wrong key (same origin, other instance): checkpoint B" "$B" \
	checkpoint --key "$other_key" --note "$a/B.note"
refute "wrong key (same origin, other instance): inclusion $mid" "inclusion $mid in B" \
	inclusion --key "$other_key" --proof "$a/proof-$mid" --entries "$a/entries"
refute "tampered proof hash: inclusion $mid" "inclusion $mid in B" \
	inclusion --key "$key" --proof "$a/proof-$mid.tampered" --entries "$a/entries"
refute "tampered proof hash: $cons" "$cons" \
	consistency --key "$key" --old "$a/A.note" --new "$a/B.note" --proof "$a/consistency.tampered"
refute "tampered entry $mid: inclusion $mid" "inclusion $mid in B" \
	inclusion --key "$key" --proof "$a/proof-$mid" --entries "$a/entries.tampered"
refute "tampered entry $mid: treehash B" "treehash B" \
	treehash --key "$key" --note "$a/B.note" --entries "$a/entries.tampered"
refute "swapped checkpoints: consistency" "$cons" \
	consistency --key "$key" --old "$a/B.note" --new "$a/A.note" --proof "$a/consistency.json"
summary
if ((fail > 0)); then exit 1; fi
