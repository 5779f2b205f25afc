"""client.py's actions, one at a time on a session that stays open, for custos's end-to-end tests.

A test drives a real MCP client (official Python SDK) through a session it keeps open while the
test acts in between (suspends the agent, approves a held call, changes a tool): each line on
standard input is one action, each action's answer is one JSON line on standard output, as
client.py prints them. End of input closes the session.

usage: step_client.py --url URL --token TOKEN [--era legacy|modern]
  stdin lines:  list | call NAME JSON_ARGS (the JSON is the rest of the line)
The first line printed is {"action":"connect",...} as in client.py (exit code 2 if it failed).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from client import ACTION_TIMEOUT, emit, error_line, parse_actions, run_actions


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--era", choices=["legacy", "modern"], default="legacy")
    ns = p.parse_args()
    async with AsyncExitStack() as stack:
        try:
            headers = {"Authorization": f"Bearer {ns.token}"}
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=ACTION_TIMEOUT))
            streams = await stack.enter_async_context(streamable_http_client(ns.url, http_client=http))
            session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
            with anyio.fail_after(ACTION_TIMEOUT):
                await (session.discover() if ns.era == "modern" else session.initialize())
        except Exception as e:  # noqa: BLE001 - reported, not raised
            emit(error_line("connect", e, era=ns.era))
            return 2
        emit({"action": "connect", "ok": True, "era": ns.era, "protocol_version": session.protocol_version})
        stdin = anyio.wrap_file(sys.stdin)
        async for line in stdin:
            # `call NAME JSON`: the JSON is the rest of the line, spaces and all.
            words = line.strip().split(maxsplit=2)
            if words:
                await run_actions(session, parse_actions(words))
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
