"""The one storage interface every part of the bot uses for shared state.

Three implementations exist: ``SqliteStorage`` (one durable file, the embedded default),
``RedisStorage`` (several replicas) and ``MemoryStorage`` (one process, for tests). All pass the
same test suite (tests/test_storage.py).

Primitives:
- JSON documents with optional TTL (conversation state, cases, cursors, tokens, ...)
- ``claim`` for dedup (first caller wins for ``ttl`` seconds)
- a distributed lock held as a lease (renewed while held, expires when its holder stops), and
  writes fenced by it (``set_json_fenced``: refused once another holder has taken the lock)
- counters
- sets (small indexes, e.g. open case ids)
- durable queues with consumer groups: at-least-once, entries left pending by a dead
  consumer are reclaimed by another one
- a time-ordered scheduler whose due items are claimed exactly once across processes
- seat pools (capacity plus waitlist, atomic)
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


class StorageError(Exception):
    """The storage backend is unreachable or answered in an unexpected way."""


class LockTimeout(StorageError):
    """The lock could not be acquired within the blocking timeout."""


class LockLost(StorageError):
    """A fenced write was refused: another holder has taken the lock since this one took it.

    The holder's lease ran out while it worked (a stalled or starved process) and someone else
    acquired the lock, so what this holder read may be stale and its write would overwrite
    newer state. Nothing of the write was made.
    """


@dataclass(frozen=True)
class Fence:
    """One holding of a lock, as ``Storage.lock`` hands it out: the lock's name and the random
    token of this acquisition. A fenced write succeeds only while that token is still the lock's
    latest holder."""

    name: str
    token: str


@dataclass(frozen=True)
class Document:
    """A JSON document to write: its key, its value and an optional TTL in seconds."""

    key: str
    value: Any
    ttl_s: int | None = None


HOLDER_KEPT_S = 24 * 3600
"""How long a lock remembers its latest holding after the lease (for ``set_json_fenced``): a
holder stalled longer than this without anyone taking the lock has its write refused too."""


@dataclass(frozen=True)
class QueueEntry:
    """One delivery of a queued payload. ``deliveries`` counts how often it was handed out."""

    queue: str
    entry_id: str
    payload: dict[str, Any]
    deliveries: int = 1


@dataclass(frozen=True)
class ScheduledItem:
    schedule: str
    item_id: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SeatResult:
    """Outcome of a seat request: a seat (position 0) or a waitlist position (1-based)."""

    seated: bool
    waitlist_position: int = 0
    already: bool = False


@runtime_checkable
class Storage(Protocol):
    """Shared state. Every method may raise ``StorageError`` when the backend is down."""

    # -- lifecycle ---------------------------------------------------------------------------
    async def ping(self) -> bool:
        """True when the backend answers, False when it does not (never raises)."""
        ...

    async def close(self) -> None: ...

    # -- JSON documents ----------------------------------------------------------------------
    async def get_json(self, key: str) -> Any | None: ...

    async def set_json(self, key: str, value: Any, ttl_s: int | None = None) -> None: ...

    async def set_json_fenced(self, fence: Fence, *documents: Document) -> None:
        """Write ``documents`` in one atomic step if ``fence`` is still its lock's latest holding.

        "Latest" means nobody acquired the lock since ``fence`` did: a holder whose lease ran out
        while nobody else wanted the lock still writes (nothing newer can exist), one whose lock
        was taken over gets ``LockLost`` and nothing is written. The check and the writes are
        one step (a Lua script, one SQL transaction, no await in memory), so no holder can take
        the lock between them. Costs what one ``set_json`` does (one round trip).
        """
        ...

    async def delete(self, key: str) -> None: ...

    # -- dedup, counters, sets -----------------------------------------------------------------
    async def claim(self, key: str, ttl_s: int) -> bool:
        """Return True for the first caller within ``ttl_s`` seconds, False for every other."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl_s: int | None = None) -> int:
        """Add ``amount`` and return the new value (a missing counter counts from 0).

        ``ttl_s`` is applied only while the counter has no expiry yet, so a counter used as a
        rate window expires ``ttl_s`` after its first increment, not after its last.
        """
        ...

    async def get_counter(self, key: str) -> int: ...

    async def set_add(self, key: str, *members: str) -> None: ...

    async def set_remove(self, key: str, *members: str) -> None: ...

    async def set_members(self, key: str) -> set[str]: ...

    # -- locks -------------------------------------------------------------------------------
    def lock(
        self, name: str, timeout_s: float = 30.0, blocking_timeout_s: float | None = 10.0
    ) -> AbstractAsyncContextManager[Fence]:
        """Hold ``name`` exclusively across processes, as a lease renewed while held.

        ``timeout_s`` is the lease. While the block runs, the holder renews it in the background
        every ``timeout_s / 3`` (``bot.storage.lease.renewed``), so a holder at work keeps the
        lock however long it works, and a holder that stopped (killed process, closed storage
        handle: ``close`` stops its renewals) loses it at most ``timeout_s`` after its last
        renewal. Raises ``LockTimeout`` when not acquired within ``blocking_timeout_s``
        (None = wait as long as it takes, 0 = try once). Leaving the block after the lease was
        lost does not free a lock someone else has taken since; it is logged as a warning.

        The block gets this holding's ``Fence``: state written under the lock goes through
        ``set_json_fenced`` with it, so a holder that lost the lock cannot overwrite what the
        next holder wrote (issue 22: a starved worker's lease ran out mid-message). The record
        of the latest holding outlives the lease by ``HOLDER_KEPT_S``.
        """
        ...

    # -- durable queues ------------------------------------------------------------------------
    async def enqueue(self, queue: str, payload: dict[str, Any]) -> str:
        """Append ``payload`` and return its entry id (opaque, increasing).

        Nothing is trimmed here: an entry stays until ``trim_acknowledged`` finds that every
        consumer group has acknowledged it, however far behind a group is.
        """
        ...

    async def enqueue_once(
        self, dedup_key: str, ttl_s: int, queue: str, payload: dict[str, Any], seq_key: str
    ) -> int | None:
        """Atomically: claim ``dedup_key``; if won, number the payload and enqueue it.

        The payload gets ``payload["seq"] = incr(seq_key)`` (per-conversation order). Returns the
        sequence number, or None when the key was already claimed (a duplicate). One round trip.
        """
        ...

    async def consume(
        self, queue: str, group: str, consumer: str, count: int = 1, block_ms: int = 1000
    ) -> list[QueueEntry]:
        """Deliver up to ``count`` new entries to ``consumer``; they stay pending until acked.

        Waits up to ``block_ms`` for an entry when none is ready; ``block_ms <= 0`` returns at
        once (unlike Redis' ``BLOCK 0``, which waits forever). It may return early and empty
        (Redis keeps the wait under its socket timeout), so call it in a loop. The group is
        created on first use and starts at the oldest entry, so nothing enqueued before is
        skipped. Fresh deliveries have ``deliveries == 1``.
        """
        ...

    async def ack(self, queue: str, group: str, entry_id: str) -> None: ...

    async def touch(self, queue: str, group: str, consumer: str, entry_id: str) -> None:
        """Restart the idle time of an entry ``consumer`` holds pending: it is still at work.

        Not a delivery (the count stays) and no change of owner; an entry held by another
        consumer, acknowledged or unknown is left alone. A worker touches the entry in hand
        now and then (``bot.queue_worker``), so only a dead worker's entries go idle long
        enough to be reclaimed, however long a live one takes.
        """
        ...

    async def reclaim(
        self, queue: str, group: str, consumer: str, min_idle_ms: int, count: int = 10
    ) -> list[QueueEntry]:
        """Take over entries pending longer than ``min_idle_ms`` (their consumer died).

        Oldest first. Each take-over counts as a delivery (the first reclaim returns
        ``deliveries == 2``) and restarts the idle time, so a poison entry can be recognised and
        dead-lettered by its count.
        """
        ...

    async def queue_depth(self, queue: str, group: str) -> int:
        """Entries not yet acknowledged by ``group`` (waiting plus pending)."""
        ...

    async def unacknowledged(self, queue: str, group: str, count: int = 100) -> list[QueueEntry]:
        """Read, without delivering, up to ``count`` entries ``group`` has not acknowledged.

        Oldest first: the group's pending entries (with their delivery counts), then those it
        was never handed (``deliveries == 0``); a group not created yet owes every entry. For
        operators looking at a queue (dead letters): nothing is delivered, counted or created.
        """
        ...

    async def trim_acknowledged(self, queue: str) -> int:
        """Remove the entries every consumer group has been delivered and acknowledged.

        For each group, entries older than its oldest pending entry (or, with nothing pending,
        up to its last delivered one) are done; the queue is trimmed to the oldest such bound
        over all groups and the number removed is returned. A queue without groups is left
        alone (a group created later starts at the oldest entry). Queue workers call this now
        and then, which keeps a queue's memory bounded without ever dropping unacknowledged work.
        """
        ...

    # -- scheduler ---------------------------------------------------------------------------
    async def schedule(
        self, schedule: str, item_id: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        """Add or move an item; scheduling the same id again replaces it.

        ``due_at`` (and ``now`` below) must be timezone-aware, else ``ValueError``; items come
        back with ``due_at`` in UTC.
        """
        ...

    async def cancel(self, schedule: str, item_id: str) -> bool: ...

    async def claim_due(
        self, schedule: str, now: datetime, limit: int = 100
    ) -> list[ScheduledItem]:
        """Remove and return items due at ``now``; each item is returned to exactly one caller.

        Earliest first (ties by id), at most ``limit``.
        """
        ...

    async def scheduled(self, schedule: str) -> list[ScheduledItem]:
        """Every pending item, earliest first (ties by id)."""
        ...

    # -- seat pools ------------------------------------------------------------------------------
    async def take_seat(self, pool: str, member: str, capacity: int) -> SeatResult:
        """Seat ``member`` if fewer than ``capacity`` are seated, else append to the waitlist.

        A member already seated or waiting keeps their place and gets ``already=True``.
        """
        ...

    async def release_seat(self, pool: str, member: str, capacity: int) -> str | None:
        """Remove ``member`` (seated or waiting); returns the waitlisted member promoted, if any.

        Only a freed seat promotes, and at most one member per release.
        """
        ...

    async def seats(self, pool: str) -> tuple[list[str], list[str]]:
        """(seated members in arrival order, waitlist in order)."""
        ...
