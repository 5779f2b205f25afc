#!/usr/bin/env bash
# Installs the MCP peers the gateway's end-to-end tests run against, at pinned versions:
#   DIR/npm   the reference servers (npm install --prefix): server-everything, server-filesystem
#   DIR/venv  the official Python SDK (python3 -m venv + pip): mcp
#
# usage: interop/peers/install.sh [DIR]      (DIR defaults to /var/tmp/custos-peers)
#
# Idempotent: what is already installed at the pinned version is not touched again. Concurrent
# runs on one DIR wait for each other (flock). The registries are whatever npm and pip are
# configured to use here. Prints one summary line on success; on failure, the installer's
# output and a non-zero exit.
set -euo pipefail

# Pinned, so a new release cannot change what the tests check without a commit here.
EVERYTHING_VERSION=2026.8.31
FILESYSTEM_VERSION=2026.8.31
MCP_VERSION=2.3.0

dir=${1:-/var/tmp/custos-peers}
fail() {
	echo "interop/peers/install.sh: $*" >&2
	exit 1
}
for tool in node npm python3 flock; do
	command -v "$tool" >/dev/null || fail "\`$tool\` is not installed (needed to install the MCP test peers)"
done
mkdir -p "$dir" || fail "cannot create $dir"
dir=$(cd "$dir" && pwd)
exec 9>"$dir/.lock"
flock 9

log="$dir/install.log"
: >"$log"
run() {
	if ! "$@" >>"$log" 2>&1; then
		tail -n 40 "$log" >&2
		fail "failed: $* (full output in $log)"
	fi
}

done_work=()

# ---- npm: the reference servers ------------------------------------------------------------
npm_version() {
	node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch (e) {}' \
		"$dir/npm/node_modules/@modelcontextprotocol/$1/package.json"
}
npm_ok() {
	[[ $(npm_version server-everything) == "$EVERYTHING_VERSION" ]] &&
		[[ $(npm_version server-filesystem) == "$FILESYSTEM_VERSION" ]] &&
		[[ -x $dir/npm/node_modules/.bin/mcp-server-everything ]] &&
		[[ -x $dir/npm/node_modules/.bin/mcp-server-filesystem ]]
}
if ! npm_ok; then
	mkdir -p "$dir/npm"
	run npm install --prefix "$dir/npm" --save-exact --no-audit --no-fund --loglevel=error \
		"@modelcontextprotocol/server-everything@$EVERYTHING_VERSION" \
		"@modelcontextprotocol/server-filesystem@$FILESYSTEM_VERSION"
	npm_ok || fail "npm install finished but the pinned servers are not in $dir/npm"
	done_work+=(npm)
fi

# ---- venv: the official Python SDK ---------------------------------------------------------
venv_ok() {
	"$dir/venv/bin/python" -c 'import sys, importlib.metadata as m, mcp.client.streamable_http, mcp.client.stdio, mcp.server.mcpserver
sys.exit(m.version("mcp") != sys.argv[1])' "$MCP_VERSION" >/dev/null 2>&1
}
if ! venv_ok; then
	if [[ ! -x $dir/venv/bin/python ]]; then
		rm -rf "$dir/venv"
		run python3 -m venv "$dir/venv"
	fi
	run "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "mcp==$MCP_VERSION"
	venv_ok || fail "pip install finished but mcp $MCP_VERSION does not import from $dir/venv"
	done_work+=(venv)
fi

what="already installed"
[[ ${#done_work[@]} -gt 0 ]] && what="installed ${done_work[*]}"
echo "custos peers in $dir ($what): @modelcontextprotocol/server-everything $EVERYTHING_VERSION, @modelcontextprotocol/server-filesystem $FILESYSTEM_VERSION, mcp $MCP_VERSION"
