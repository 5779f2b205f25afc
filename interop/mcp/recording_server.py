"""A tiny MCP server (official Python SDK, Streamable HTTP) that records every tool call it gets.

custos's end-to-end tests put it behind the gateway as a `url` upstream and read its log to
assert what reached the upstream (and, as importantly, what did not).

usage: recording_server.py PORT LOG_FILE
  PORT      the port on 127.0.0.1 (0: any free one)
  LOG_FILE  every tools/call received is appended as one JSON line
            {"tool": NAME, "arguments": {...}, "authorization": HEADER-or-null}
            and flushed to disk before the call is answered.

Prints one line on stdout once it is listening: {"listening": "http://127.0.0.1:PORT/mcp"}.
Tools: echo(message) -> "Echo: MESSAGE"; read_file(path) -> the file's text.
"""

from __future__ import annotations

import json
import os
import socket
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer

port, log_path = int(sys.argv[1]), sys.argv[2]
server = MCPServer("custos-recording-server", log_level="WARNING")


def record(tool: str, arguments: dict[str, object], ctx: Context) -> None:
    auth = None
    try:
        request = ctx.request_context.request
        if request is not None:
            auth = request.headers.get("authorization")
    except Exception:  # noqa: BLE001 - the header is a bonus, the call is what counts
        pass
    line = json.dumps({"tool": tool, "arguments": arguments, "authorization": auth}, sort_keys=True)
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


@server.tool()
def echo(message: str, ctx: Context) -> str:
    """Echoes back the message."""
    record("echo", {"message": message}, ctx)
    return f"Echo: {message}"


@server.tool()
def read_file(path: str, ctx: Context) -> str:
    """Returns the text of the file at `path`."""
    record("read_file", {"path": path}, ctx)
    with open(path, encoding="utf-8") as f:
        return f.read()


async def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(json.dumps({"listening": f"http://127.0.0.1:{bound}/mcp"}), flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    anyio.run(main)
