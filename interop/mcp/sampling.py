"""A 2025-11-25 client with a sampling callback, for the gateway's relay test.

usage: sampling.py URL TOKEN TOOL PROMPT

Calls TOOL (server-everything's trigger-sampling-request, through custos) with PROMPT; answers
the sampling request the server sends back with a fixed text; prints one JSON line:
{"sampled": [prompts seen], "result": [texts of the tool result]}.
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

ANSWER = "relayed answer 42"


async def main(url: str, token: str, tool: str, prompt: str) -> None:
    seen: list[str] = []

    async def sampling(context, params):
        for m in params.messages:
            text = getattr(m.content, "text", None)
            if text is not None:
                seen.append(text)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=ANSWER),
            model="custos-test-model",
            stopReason="endTurn",
        )

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1], sampling_callback=sampling) as s:
                await s.initialize()
                res = await s.call_tool(tool, {"prompt": prompt, "maxTokens": 16})
                texts = [c.text for c in res.content if hasattr(c, "text")]
                print(json.dumps({"sampled": seen, "result": texts}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
