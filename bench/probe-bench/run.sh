#!/usr/bin/env bash
# probe-bench: `custos probe run` with the default pack x 3 trials against the naive and hardened
# reference agents (wall time, trials/s, verdicts, the oracle's precision and recall), and
# promptfoo's `eval` against the same naive agent with the same prompts, side by side.
# See bench/README.md (## probe-bench). Builds nothing: pass a release build of the CLI.
#
#   bench/probe-bench/run.sh [CUSTOS_BIN] [--runs N] [--concurrency 1,4] [--trials 3] ...
#   bench/probe-bench/run.sh --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
custos="${CARGO_TARGET_DIR:-$here/../../target}/release/custos"
if [[ $# -gt 0 && "$1" != -* ]]; then
    custos="$1"
    shift
fi
exec python3 "$here/probe_bench.py" --custos "$custos" --pack-file "$here/../../crates/custos-probe/packs/default.toml" "$@"
