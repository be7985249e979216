"""Fixtures of the meetings tests: the injected clock, a bot over the module's catalog, and
the system of record its audit trail is read from.

A module that uses ``bot`` defines a ``catalog_entries`` fixture (the meetings it needs); the
bot runs the full production wiring on memory storage with a recording sender per channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import load_settings
from bot.storage.memory import MemoryStorage
from records import Records, open_records
from tests.meetings.helpers import Bot, Clock, make_bot, meetings_settings, write_catalog


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot(tmp_path: Path, clock: Clock, catalog_entries: list[dict[str, Any]]) -> Bot:
    catalog = write_catalog(tmp_path / "meetings.yaml", catalog_entries)
    return make_bot(meetings_settings(catalog), MemoryStorage(), clock)


@pytest.fixture
async def records(tmp_path: Path) -> AsyncIterator[Records]:
    """The system of record, where a test reads the audit trail (``tests.helpers.audit_trail``
    moves the storage stream into it first, as the app's audit sink does)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}"
    async with open_records(load_settings(database_url=url)) as opened:
        yield opened
