"""A local OpenAI-compatible chat-completions server whose answers tests script.

The LLM is the one remote thing the bot talks to besides WeCom, so tests fake it at the network
boundary: the real ``openai`` client (through ``bot.llm.OpenAICompatibleLLM``) talks HTTP to this
aiohttp server on 127.0.0.1. Every request body is recorded; each reply comes from a queue of
scripted ``Scripted`` values or from a responder callable that sees the request.

Usage::

    async with running_fake_openai() as fake:
        fake.push(Scripted.json({"answer": "...", "citations": [1]}))
        fake.push(Scripted(content="late", delay_s=30))   # the client times out
        fake.push(Scripted(refusal="I can't help with that"))
        settings = Settings(openai_base_url=fake.base_url, openai_model="fake-model")
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAKE_MODEL = "fake-model"


@dataclass(frozen=True)
class Scripted:
    """One scripted completion: content, a refusal, an HTTP error, and/or a delay first."""

    content: str | None = None
    refusal: str | None = None
    delay_s: float = 0.0
    status: int = 200  # anything but 200 answers with an OpenAI-style error body
    finish_reason: str = "stop"

    @classmethod
    def json(cls, value: Any, **kwargs: Any) -> Scripted:
        """Structured output: the JSON text of ``value`` as the message content."""
        return cls(content=json.dumps(value, ensure_ascii=False), **kwargs)


Responder = Callable[[dict[str, Any]], Scripted | Awaitable[Scripted]]


@dataclass
class FakeOpenAI:
    """The server's script and what it received; ``base_url`` is set once it runs."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    responder: Responder | None = None  # used when the queue is empty
    _queue: deque[Scripted | Responder] = field(default_factory=deque)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, *replies: Scripted | Responder) -> None:
        """Queue replies (or per-request responders) for the next requests, in order."""
        self._queue.extend(replies)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def last_user_message(self) -> str:
        """The user message of the most recent request (what the bot asked)."""
        messages = self.requests[-1]["messages"]
        return str(next(m["content"] for m in reversed(messages) if m["role"] == "user"))

    async def _next_reply(self, body: dict[str, Any]) -> Scripted:
        item: Scripted | Responder | None = self._queue.popleft() if self._queue else None
        if item is None:
            item = self.responder
        if item is None:
            return Scripted(status=500, content="no scripted response left")
        if isinstance(item, Scripted):
            return item
        outcome = item(body)
        return outcome if isinstance(outcome, Scripted) else await outcome

    async def chat_completions(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        reply = await self._next_reply(body)
        if reply.delay_s:
            # A slow model; closing the server releases the wait so shutdown stays quick.
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay_s)
        if reply.status != 200:
            error = {"message": reply.content or "error", "type": "server_error", "code": None}
            return web.json_response({"error": error}, status=reply.status)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.refusal is not None:
            message = {"role": "assistant", "content": None, "refusal": reply.refusal}
        return web.json_response(
            {
                "id": f"chatcmpl-fake-{next(self._ids)}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body.get("model", FAKE_MODEL),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": reply.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": FAKE_MODEL, "object": "model", "owned_by": "me"}]}
        )


@asynccontextmanager
async def running_fake_openai() -> AsyncIterator[FakeOpenAI]:
    """Run a fake server on a free loopback port; ``base_url`` ends in ``/v1``."""
    fake = FakeOpenAI()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.chat_completions)
    app.router.add_get("/v1/models", fake.models)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        fake._closing.set()
        await runner.cleanup()
