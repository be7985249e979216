"""Async context managers that open and close each external resource.

The aiohttp app enters each in its own cleanup context; the console chat enters the same
ones on an ``AsyncExitStack``. Either way a resource is opened once and always closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from bot.settings import Settings
from bot.storage.base import Storage
from bot.storage.factory import create_storage


@asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    storage = create_storage(settings)
    try:
        yield storage
    finally:
        await storage.close()


@asynccontextmanager
async def open_http_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
        yield session


@asynccontextmanager
async def open_knowledge(settings: Settings) -> AsyncIterator[Any]:
    """The knowledge base (opened in a thread: it loads vectors and may embed), closed on exit.

    With ``VREP_KB_SAMPLE_LIBRARY`` (default) the packaged sample library is ingested first;
    documents already present are skipped, so only the first start embeds them.
    """
    from knowledge.base import KnowledgeBase
    from knowledge.sample import ensure_sample_library

    kb = await asyncio.to_thread(KnowledgeBase.open, settings)
    try:
        if settings.kb_sample_library:
            await asyncio.to_thread(ensure_sample_library, kb)
        yield kb
    finally:
        kb.close()
