"""A small command line around the official MCP Python SDK, for custos's end-to-end tests.

Connects either to a Streamable HTTP endpoint (the custos gateway, or any MCP server) in one of
the two MCP eras, or directly to a server over stdio, then runs a list of actions and prints one
JSON line per action, so a test can compare what the gateway answers with what the server
answers directly.

usage:
  client.py --url URL [--token TOKEN] [--era legacy|modern] ACTION...
  client.py --stdio COMMAND [--arg ARG]... ACTION...

ACTION is one of
  list                  {"action":"list","tools":[names],"details":[{name,description,inputSchema}]}
  call NAME JSON_ARGS   {"action":"call","name":NAME,"ok":true,"is_error":b,"content":[...],"structured":...}
                     or {"action":"call","name":NAME,"ok":false,"code":C,"message":M}
The first line is always {"action":"connect","era":...,"protocol_version":...,"server":...}
(or {"action":"connect","ok":false,...} when the connection itself failed; the exit code is then 2).

Eras: `legacy` is the 2025-11-25 session era (`initialize`, Mcp-Session-Id); `modern` is the
stateless 2026-07-28 era (`server/discover`, Mcp-Method / Mcp-Name headers). Over stdio the
handshake is always `initialize`.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

ACTION_TIMEOUT = 30.0


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def dump(model: Any) -> Any:
    if model is None:
        return None
    if hasattr(model, "model_dump"):
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return model


def parse_actions(words: list[str]) -> list[tuple[str, ...]]:
    actions: list[tuple[str, ...]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "list":
            actions.append(("list",))
            i += 1
        elif w == "call":
            if i + 2 >= len(words):
                raise SystemExit("client.py: `call` needs NAME and JSON_ARGS")
            name, raw = words[i + 1], words[i + 2]
            try:
                args = json.loads(raw)
            except json.JSONDecodeError as e:
                raise SystemExit(f"client.py: the arguments of `call {name}` are not JSON: {e}")
            actions.append(("call", name, json.dumps(args)))
            i += 3
        else:
            raise SystemExit(f"client.py: unknown action `{w}` (expected `list` or `call NAME JSON_ARGS`)")
    return actions


def error_line(action: str, e: BaseException, **extra: Any) -> dict[str, Any]:
    if isinstance(e, MCPError):
        return {"action": action, "ok": False, "code": e.code, "message": e.message, **extra}
    return {"action": action, "ok": False, "code": None, "message": f"{type(e).__name__}: {e}", **extra}


async def run_actions(session: ClientSession, actions: list[tuple[str, ...]]) -> None:
    for act in actions:
        if act[0] == "list":
            try:
                with anyio.fail_after(ACTION_TIMEOUT):
                    result = await session.list_tools()
            except Exception as e:  # noqa: BLE001 - reported, not raised
                emit(error_line("list", e))
                continue
            emit(
                {
                    "action": "list",
                    "ok": True,
                    "tools": [t.name for t in result.tools],
                    "details": [
                        {"name": t.name, "description": t.description, "inputSchema": t.input_schema}
                        for t in result.tools
                    ],
                }
            )
        else:
            _, name, raw = act
            try:
                with anyio.fail_after(ACTION_TIMEOUT):
                    result = await session.call_tool(name, json.loads(raw))
            except Exception as e:  # noqa: BLE001 - reported, not raised
                emit(error_line("call", e, name=name))
                continue
            emit(
                {
                    "action": "call",
                    "name": name,
                    "ok": True,
                    "is_error": bool(getattr(result, "is_error", False)),
                    "content": [dump(c) for c in getattr(result, "content", [])],
                    "structured": dump(getattr(result, "structured_content", None)),
                }
            )


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a Streamable HTTP MCP endpoint")
    p.add_argument("--token", help="sent as `Authorization: Bearer TOKEN`")
    p.add_argument("--era", choices=["legacy", "modern"], default="legacy")
    p.add_argument("--stdio", metavar="COMMAND", help="run COMMAND and talk MCP on its stdin/stdout")
    p.add_argument("--arg", action="append", default=[], help="an argument of --stdio COMMAND (repeatable)")
    p.add_argument("actions", nargs="*")
    ns = p.parse_args()
    if (ns.url is None) == (ns.stdio is None):
        raise SystemExit("client.py: give exactly one of --url and --stdio")
    actions = parse_actions(ns.actions)

    async with AsyncExitStack() as stack:
        try:
            if ns.stdio is not None:
                params = StdioServerParameters(command=ns.stdio, args=ns.arg)
                read, write = await stack.enter_async_context(stdio_client(params, errlog=sys.stderr))
                era = "legacy"
            else:
                headers = {"Authorization": f"Bearer {ns.token}"} if ns.token else {}
                http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=ACTION_TIMEOUT))
                streams = await stack.enter_async_context(streamable_http_client(ns.url, http_client=http))
                read, write = streams[0], streams[1]
                era = ns.era
            session = await stack.enter_async_context(ClientSession(read, write))
            # (Timeouts wrap single awaits only: a cancel scope must not span entering the
            # transports' task groups.)
            with anyio.fail_after(ACTION_TIMEOUT):
                result = await (session.discover() if era == "modern" else session.initialize())
        except Exception as e:  # noqa: BLE001 - reported, not raised
            emit(error_line("connect", e, era=ns.era))
            return 2
        info = session.server_info
        emit(
            {
                "action": "connect",
                "ok": True,
                "era": era,
                "protocol_version": session.protocol_version,
                "server": info.name if info is not None else None,
                "kind": type(result).__name__,
            }
        )
        await run_actions(session, actions)
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
