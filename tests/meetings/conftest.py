"""Fixtures of the meetings tests: the injected clock and a bot over the module's catalog.

A module that uses ``bot`` defines a ``catalog_entries`` fixture (the meetings it needs); the
bot runs the full production wiring on memory storage with a recording sender per channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.storage.memory import MemoryStorage
from tests.meetings.helpers import Bot, Clock, make_bot, meetings_settings, write_catalog


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot(tmp_path: Path, clock: Clock, catalog_entries: list[dict[str, Any]]) -> Bot:
    catalog = write_catalog(tmp_path / "meetings.yaml", catalog_entries)
    return make_bot(meetings_settings(catalog), MemoryStorage(), clock)
