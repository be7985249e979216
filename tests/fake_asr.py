"""A local OpenAI-compatible ``/audio/transcriptions`` server whose answers tests script.

Speech recognition is a remote service like the LLM, so tests fake it at the network
boundary: the bot's real client posts multipart audio here over HTTP. Every request's fields
are recorded (the audio bytes included); each answer is the next scripted ``Heard`` — a
transcript, an HTTP error status, or no answer until the fake closes (the client times out).
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.local_http import serving


@dataclass(frozen=True)
class Heard:
    """One scripted answer."""

    text: str = ""
    status: int = 200
    hang: bool = False  # answer only when the fake closes


@dataclass
class Received:
    """One request: its form fields and the uploaded audio."""

    fields: dict[str, str]
    audio: bytes
    authorization: str | None

    def wav(self) -> tuple[int, int, int, float]:
        """(channels, sample width, rate, seconds) of the uploaded WAV."""
        with wave.open(io.BytesIO(self.audio)) as wav:
            rate = wav.getframerate()
            return wav.getnchannels(), wav.getsampwidth(), rate, wav.getnframes() / rate


@dataclass
class FakeAsr:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    _script: deque[Heard] = field(default_factory=deque)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, *answers: Heard) -> None:
        self._script.extend(answers)

    async def handle(self, request: web.Request) -> web.Response:
        fields: dict[str, str] = {}
        audio = b""
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            if part.name == "file":
                audio = await part.read()
            elif part.name:
                fields[part.name] = await part.text()
        self.received.append(Received(fields, audio, request.headers.get("Authorization")))
        heard = self._script.popleft() if self._script else Heard(status=500)
        if heard.hang:
            await self._closing.wait()
        if heard.status != 200:
            error: dict[str, Any] = {"error": {"message": "scripted failure", "type": "server"}}
            return web.json_response(error, status=heard.status)
        return web.json_response({"text": heard.text})


@asynccontextmanager
async def running_fake_asr() -> AsyncIterator[FakeAsr]:
    fake = FakeAsr()
    app = web.Application()
    app.router.add_post("/v1/audio/transcriptions", fake.handle)
    async with serving(app) as base_url:
        fake.base_url = f"{base_url}/v1"
        try:
            yield fake
        finally:
            fake._closing.set()
