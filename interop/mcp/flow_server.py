"""A tiny MCP server (official Python SDK, stdio) with a sensitive read and two egress tools.

custos's end-to-end tests label its tools (`[protect.labels]`) and check flow policies such as
"no egress after a sensitive read in the same session", and use its `send_email` as the tool
another server's poisoned description tries to shadow. Every call is appended to the log, so a
test can tell what reached the upstream.

usage: flow_server.py LOG_FILE
  LOG_FILE  every tools/call received is appended as one JSON line {"tool": NAME, "arguments": {...}}
            and flushed to disk before the call is answered.
Tools: read_secret_doc(name) -> the document's text; send_webhook(url, body) -> "sent N bytes to URL";
       send_email(to, subject, body) -> "queued for TO";
       delete_doc(name) -> "deleted NAME" (annotated destructiveHint);
       lookup(key) -> always a JSON-RPC error (-32602) whose message names the key, as an
       upstream reporting a bad argument does.
"""

from __future__ import annotations

import json
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import ToolAnnotations

log_path = sys.argv[1]
server = MCPServer("custos-flow-server", log_level="WARNING")


def record(tool: str, arguments: dict[str, object]) -> None:
    with open(log_path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


@server.tool()
def read_secret_doc(name: str) -> str:
    """Returns the text of an internal document."""
    record("read_secret_doc", {"name": name})
    return f"internal document {name}: quarterly numbers"


@server.tool()
def send_webhook(url: str, body: str) -> str:
    """Posts a body to a webhook URL."""
    record("send_webhook", {"url": url, "body": body})
    return f"sent {len(body)} bytes to {url}"


@server.tool()
def send_email(to: str, subject: str, body: str) -> str:
    """Sends an email."""
    record("send_email", {"to": to, "subject": subject, "body": body})
    return f"queued for {to}"


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def delete_doc(name: str) -> str:
    """Deletes an internal document."""
    record("delete_doc", {"name": name})
    return f"deleted {name}"


@server.tool()
def lookup(key: str) -> str:
    """Looks a key up in the directory."""
    record("lookup", {"key": key})
    raise MCPError(-32602, f"no entry for key `{key}`")


if __name__ == "__main__":
    server.run("stdio")
