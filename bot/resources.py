"""Async context managers that open and close each external resource.

The aiohttp app enters each in its own cleanup context; the console chat enters the same
ones on an ``AsyncExitStack``. Either way a resource is opened once and always closed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import aiohttp

from bot.settings import Settings
from bot.storage.base import Storage
from bot.storage.factory import create_storage, require_persistence
from knowledge.base import IngestStopped, KnowledgeBase
from knowledge.sample import ensure_sample_library

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    """The configured storage; a Redis without AOF is refused before anything uses it."""
    storage = create_storage(settings)
    try:
        await require_persistence(storage, settings)
        yield storage
    finally:
        await storage.close()


@asynccontextmanager
async def open_http_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
        yield session


@asynccontextmanager
async def open_knowledge(settings: Settings) -> AsyncIterator[KnowledgeBase]:
    """The approved-content knowledge base; ingests the sample library on first start.

    Opening and ingesting are blocking (Chroma, embeddings), so they run in a thread.
    """
    knowledge = await asyncio.to_thread(KnowledgeBase.open, settings)
    try:
        if settings.kb_sample_library:
            added = await _ingest_sample_library(knowledge)
            if added:
                log.info("sample library ingested", extra={"documents": added})
        yield knowledge
    finally:
        await asyncio.to_thread(knowledge.close)


async def _ingest_sample_library(knowledge: KnowledgeBase) -> int:
    """``ensure_sample_library`` in a thread; cancelled (Ctrl-C), it stops the ingest at its
    next batch and waits for that, so the thread is done before the knowledge base closes
    and the process can exit at once."""
    log.debug("checking the sample library")
    stop = threading.Event()
    ingest = asyncio.ensure_future(asyncio.to_thread(ensure_sample_library, knowledge, stop))
    try:
        return await asyncio.shield(ingest)
    except asyncio.CancelledError:
        log.info("start-up interrupted: stopping the sample library ingest")
        stop.set()
        with suppress(IngestStopped):
            await ingest
        log.debug("sample library ingest stopped")
        raise
