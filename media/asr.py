"""Speech to text through an OpenAI-compatible ``/audio/transcriptions`` endpoint.

Self-hosted Whisper, SenseVoice and FunASR servers speak this API, as do hosted services.
The audio goes out as a 16 kHz mono WAV; a 429, a 5xx or a dropped connection is retried
with backoff, anything else (401, 400) fails at once.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from media.audio import wav_bytes

log = logging.getLogger(__name__)


class TranscriptionFailed(Exception):
    """The endpoint gave no transcript (unreachable, timed out or refused)."""


class HttpTranscriber:
    """One endpoint; safe to share between coroutines."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        model: str,
        api_key: str | None,
        timeout_s: float,
        retries: int = 2,
        backoff_s: float = 0.5,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/audio/transcriptions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._backoff_s = backoff_s

    async def transcribe(self, pcm: bytes, language: str | None = None) -> str:
        """The words in 16 kHz PCM audio; raises ``TranscriptionFailed``."""
        audio = wav_bytes(pcm)
        last = "unreachable"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            form = aiohttp.FormData()
            form.add_field("file", audio, filename="voice.wav", content_type="audio/wav")
            form.add_field("model", self._model)
            form.add_field("response_format", "json")
            if language:
                form.add_field("language", language)
            try:
                async with self._session.post(
                    self._url, data=form, headers=self._headers, timeout=self._timeout
                ) as response:
                    if response.status == 429 or response.status >= 500:
                        last = f"HTTP {response.status}"
                        continue
                    if response.status != 200:
                        raise TranscriptionFailed(f"HTTP {response.status}")
                    answer = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last = type(exc).__name__
                continue
            text = answer.get("text") if isinstance(answer, dict) else None
            if not isinstance(text, str):
                raise TranscriptionFailed("the answer has no text")
            return text.strip()
        log.warning("transcription endpoint unavailable", extra={"error": last})
        raise TranscriptionFailed(last)
