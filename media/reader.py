"""``open_media``: the media store plus the readers (speech and OCR) behind ``MediaReader``.

Everything blocking (files, ffmpeg, ONNX inference) runs in ``asyncio.to_thread``; every
reading is bounded by ``VREP_MEDIA_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Protocol

import aiohttp

from bot.settings import Settings
from media.asr import HttpTranscriber, TranscriptionFailed
from media.audio import AudioError, to_pcm16k
from media.links import LinkSigner, signer_from
from media.ocr import ImageError, image_text, pdf_text
from media.sniff import MediaType, sniff
from media.store import MediaStore, StoredMedia


class CannotListen(Exception):
    """No speech recogniser is configured: voice notes are kept but not understood."""


class Unreadable(Exception):
    """The media is corrupt, or not of a kind the bot reads."""


class ReaderUnavailable(Exception):
    """The recogniser failed or took too long; the same media may work later."""


class MediaReader(Protocol):
    """The seam: keep what arrived, then turn it into text."""

    links: LinkSigner | None
    """Signs PV's download links to the originals (``media.links``); None when not set up."""

    async def keep(self, content: bytes) -> StoredMedia:
        """Store the original bytes, typed by their magic bytes."""
        ...

    async def to_text(self, stored: StoredMedia, content: bytes) -> str:
        """The words spoken or written in it ("" when an image has none); raises
        ``CannotListen``, ``Unreadable`` or ``ReaderUnavailable``."""
        ...

    async def read(self, ref: str) -> bytes | None:
        """A stored original by its ref; None when it is not (or no longer) there."""
        ...


class _Transcriber(Protocol):
    async def transcribe(self, pcm: bytes) -> str: ...


class LocalMediaReader:
    """The store, ffmpeg/SILK decoding, an optional transcriber and optional offline OCR."""

    def __init__(
        self,
        store: MediaStore,
        transcriber: _Transcriber | None,
        *,
        ocr: bool,
        timeout_s: float,
        links: LinkSigner | None = None,
    ) -> None:
        self.store = store
        self.links = links
        self._transcriber = transcriber
        self._ocr = ocr
        self._timeout_s = timeout_s

    async def keep(self, content: bytes) -> StoredMedia:
        return await asyncio.to_thread(self.store.put, content, sniff(content))

    async def read(self, ref: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self.store.read, ref)
        except (FileNotFoundError, ValueError):
            return None

    async def to_text(self, stored: StoredMedia, content: bytes) -> str:
        kind = stored.media_type
        if kind is None:
            raise Unreadable("unsupported file type")
        try:
            async with asyncio.timeout(self._timeout_s):
                if kind.is_audio:
                    return await self._listen(kind, content)
                if not self._ocr:
                    raise ReaderUnavailable("OCR is switched off")
                read = pdf_text if kind is MediaType.PDF else image_text
                return await asyncio.to_thread(read, content)
        except TimeoutError as exc:
            raise ReaderUnavailable("reading took too long") from exc
        except (AudioError, ImageError) as exc:
            raise Unreadable(str(exc)) from exc

    async def _listen(self, kind: MediaType, content: bytes) -> str:
        if self._transcriber is None:
            raise CannotListen("no speech recogniser configured")
        pcm = await asyncio.to_thread(to_pcm16k, content, kind, self._timeout_s)
        try:
            return await self._transcriber.transcribe(pcm)
        except TranscriptionFailed as exc:
            raise ReaderUnavailable(str(exc)) from exc


@asynccontextmanager
async def open_media(settings: Settings) -> AsyncIterator[MediaReader]:
    """The media reader for these settings; owns the transcription endpoint's HTTP session."""
    store = MediaStore(settings.media_dir or settings.data_dir / "media")
    async with AsyncExitStack() as stack:
        transcriber: HttpTranscriber | None = None
        if settings.asr_base_url:
            session = await stack.enter_async_context(aiohttp.ClientSession())
            key = settings.asr_api_key.get_secret_value() if settings.asr_api_key else None
            transcriber = HttpTranscriber(
                session,
                settings.asr_base_url,
                model=settings.asr_model,
                api_key=key,
                timeout_s=settings.media_timeout_s,
            )
        key = settings.media_link_key.get_secret_value() if settings.media_link_key else None
        yield LocalMediaReader(
            store,
            transcriber,
            ocr=settings.media_ocr,
            timeout_s=settings.media_timeout_s,
            links=signer_from(key, settings.media_link_base_url, settings.media_link_ttl_h),
        )
