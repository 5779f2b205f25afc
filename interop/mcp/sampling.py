"""A client with a sampling callback, for the gateway's relay test.

usage: sampling.py URL TOKEN TOOL PROMPT [legacy|modern]

`legacy` (the default) is the 2025-11-25 session era: the server's sampling request arrives on
the call's event stream. `modern` is the stateless 2026-07-28 era: it arrives as an
`input_required` result, and the SDK retries the call with the answer (multi round-trip).

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


async def main(url: str, token: str, tool: str, prompt: str, era: str = "legacy") -> None:
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
                await (s.discover() if era == "modern" else s.initialize())
                args = {"prompt": prompt, "maxTokens": 16}
                if era == "modern":
                    # Multi round-trip: answer each `input_required` round and retry with the
                    # answers and the echoed request state, as a 2026-07-28 client does.
                    res = await s.call_tool(tool, args, allow_input_required=True)
                    rounds = 0
                    while isinstance(res, types.InputRequiredResult):
                        rounds += 1
                        if rounds > 5:
                            raise RuntimeError("more than 5 input_required rounds")
                        answers = {}
                        for key, req in (res.input_requests or {}).items():
                            answers[key] = await sampling(None, req.params)
                        res = await s.call_tool(
                            tool, args, input_responses=answers, request_state=res.request_state, allow_input_required=True
                        )
                else:
                    res = await s.call_tool(tool, args)
                texts = [c.text for c in res.content if hasattr(c, "text")]
                print(json.dumps({"sampled": seen, "result": texts}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
