"""Test helpers for the storage suite: both backends behind one handle, a fake clock."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path

from bot.storage.base import Storage
from bot.storage.redis import RedisStorage
from bot.storage.sqlite import SqliteStorage


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """One storage backend under test, plus the means to let time pass for it.

    ``advance`` moves the fake clock of ``MemoryStorage`` and ``SqliteStorage``; for Redis it
    really sleeps, because Redis expires keys and measures idle time on its own clock.
    """

    name: str
    storage: Storage
    clock: FakeClock | None = None
    redis_url: str | None = None
    prefix: str = ""
    sqlite_path: Path | None = None
    _siblings: list[Storage] = field(default_factory=list)

    async def advance(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.now += seconds
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(seconds)

    def sibling(self) -> Storage:
        """Another handle on the same state: a second Redis connection pool, a second SQLite
        connection on the same file (as another process would open), or the same object."""
        other: Storage
        if self.redis_url is not None:
            other = RedisStorage.from_url(self.redis_url, prefix=self.prefix)
        elif self.sqlite_path is not None:
            assert self.clock is not None
            other = SqliteStorage(self.sqlite_path, clock=self.clock)
        else:
            return self.storage
        self._siblings.append(other)
        return other

    async def close(self) -> None:
        for other in self._siblings:
            await other.close()
        await self.storage.close()
