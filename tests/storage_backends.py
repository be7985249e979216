"""Test helpers for the storage suite: both backends behind one handle, a fake clock."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage
from bot.storage.sqlite import SqliteStorage


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Renewals:
    """Stands in for ``bot.storage.lease.pause``: lease renewals run only when a test calls
    ``tick``, however fast or slow the machine is."""

    def __init__(self) -> None:
        self._waiting: list[asyncio.Future[None]] = []
        self._entered = 0
        self._changed = asyncio.Condition()

    async def __call__(self, seconds: float) -> None:
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        async with self._changed:
            self._entered += 1
            self._changed.notify_all()
        try:
            await turn
        finally:  # a renewal stopped while it waited (its block ended) no longer waits
            if turn in self._waiting:
                self._waiting.remove(turn)

    async def tick(self, renewals: int = 1) -> None:
        """Wait until ``renewals`` renewals wait for their turn, run each once, and return when
        each is waiting again (its renewal done)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._waiting) >= renewals)
            released, self._waiting = self._waiting, []
            entered = self._entered
            for turn in released:
                if not turn.done():
                    turn.set_result(None)
            await self._changed.wait_for(lambda: self._entered >= entered + len(released))


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

    async def lapse(self, lock: str, lease_s: float) -> None:
        """Let the lease of ``lock`` run out as when its holder stalls (no renewal gets to run):
        the fake clock moves past it; on Redis the key goes, as Redis' own expiry would do it."""
        if self.clock is not None:
            await self.advance(lease_s + 1)
            return
        assert self.redis_url is not None
        async with Redis.from_url(self.redis_url) as client:
            await client.delete(f"{self.prefix}lock:{lock}")

    async def lease_end(self, lock: str) -> float:
        """When the lease of ``lock`` runs out, in seconds on the backend's own clock."""
        if isinstance(self.storage, MemoryStorage):
            return self.storage._locks[lock].expires_at  # no public reading of it
        if self.sqlite_path is not None:
            with sqlite3.connect(self.sqlite_path) as db:
                row = db.execute("SELECT expires_at FROM locks WHERE name = ?", (lock,)).fetchone()
            return float(row[0])
        assert self.redis_url is not None
        async with Redis.from_url(self.redis_url) as client:
            return int(await client.pexpiretime(f"{self.prefix}lock:{lock}")) / 1000

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
