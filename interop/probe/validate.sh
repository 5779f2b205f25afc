#!/usr/bin/env bash
# Checks a probe campaign's renderings with outside tools, against its JSON report:
#   - the SARIF validates against the OASIS SARIF 2.1.0 schema (../validate/validate_sarif.py);
#   - check_report.py: junitparser reads the JUnit file and its counts and test cases match the
#     JSON's verdicts; the SARIF has one result per compromised trial and one error
#     notification per errored trial.
# Installs what it needs into VENV first when missing (../validate/install.sh for the schema
# and jsonschema, then requirements.txt here for junitparser; both pinned, both run once).
# With --self-test, it then checks that tampered copies of the JUnit and SARIF files (see
# tamper.py) are each rejected.
# Usage: validate.sh [--self-test] VENV JSON JUNIT SARIF   exit 0 when everything agrees.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self_test=false
if [ "${1:-}" = "--self-test" ]; then
	self_test=true
	shift
fi
if [ "$#" -ne 4 ]; then
	echo "usage: validate.sh [--self-test] VENV JSON JUNIT SARIF" >&2
	exit 2
fi
venv="$1" json="$2" junit="$3" sarif="$4"
for file in "$json" "$junit" "$sarif"; do
	[ -f "$file" ] || { echo "validate.sh: no such file: $file" >&2; exit 2; }
done

bash "$here/../validate/install.sh" "$venv"
stamp="$venv/.custos-probe-requirements"
if ! cmp -s "$stamp" "$here/requirements.txt"; then
	"$venv/bin/pip" install -q -r "$here/requirements.txt"
	cp "$here/requirements.txt" "$stamp"
fi
py="$venv/bin/python"

# Both checks run, so one report shows every problem; either failing fails the script.
check() {
	local rc=0
	"$py" "$here/../validate/validate_sarif.py" "$3" || rc=1
	"$py" "$here/check_report.py" "$1" "$2" "$3" || rc=1
	return "$rc"
}

if ! check "$json" "$junit" "$sarif"; then
	echo "validate.sh: the probe report's JUnit or SARIF does not match $json (see above)" >&2
	exit 1
fi
echo "validate.sh: $junit and $sarif agree with $json"

if $self_test; then
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	for kind in junit-outcome junit-count junit-control sarif-result sarif-schema; do
		bad_junit="$junit" bad_sarif="$sarif"
		case "$kind" in
		junit-*) bad_junit="$tmp/$kind.xml" && "$py" "$here/tamper.py" "$kind" "$junit" "$bad_junit" ;;
		sarif-*) bad_sarif="$tmp/$kind.sarif" && "$py" "$here/tamper.py" "$kind" "$sarif" "$bad_sarif" ;;
		esac
		if check "$json" "$bad_junit" "$bad_sarif" >"$tmp/$kind.log" 2>&1; then
			cat "$tmp/$kind.log" >&2
			echo "validate.sh: self-test: a copy tampered with ($kind) was accepted" >&2
			exit 1
		fi
		echo "self-test: $kind rejected: $(grep -m1 -E 'MISMATCH|not valid|not readable|: /' "$tmp/$kind.log" || true)"
	done
fi
