"""``MemoryStorage``: the ``Storage`` interface inside one process (tests; lost on exit).

Everything lives in dictionaries guarded by the event loop: no method awaits in the middle of a
change, so each call is atomic, exactly like a Lua script on Redis. The semantics copy
``RedisStorage`` so both pass one test suite:

- keys, claims, counters and sets share one key space with lazily enforced expiry;
- queues behave like Redis Streams with consumer groups (entries stay pending until acked,
  ``reclaim`` moves idle ones to another consumer and counts the delivery, and only what every
  group has acknowledged is ever trimmed);
- scheduled items and seat pools are changed in one step each.

Two clocks are involved. Expiry and idle times use the injectable ``clock`` (``time.monotonic``
by default, seconds), so tests can move time forward. Waiting (``consume(block_ms=...)``, a
blocked ``lock``) uses the event loop's own timers, because that is real time passing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, islice
from typing import Any

from bot.storage.base import (
    Document,
    Fence,
    LockLost,
    LockTimeout,
    QueueEntry,
    ScheduledItem,
    SeatResult,
    StorageError,
)
from bot.storage.lease import renewed, stop_renewals

log = logging.getLogger(__name__)


def utc_due(due_at: datetime) -> datetime:
    """``due_at`` in UTC; a naive datetime is refused because its zone would be a guess."""
    if due_at.tzinfo is None or due_at.utcoffset() is None:
        raise ValueError("scheduler times must be timezone-aware datetimes")
    return due_at.astimezone(UTC)


@dataclass
class _Value:
    """One key's value (JSON text, counter or set) and when it expires on ``clock``."""

    data: str | int | set[str]
    expires_at: float | None = None


@dataclass
class _Pending:
    consumer: str
    delivered_at: float
    deliveries: int


@dataclass
class _Group:
    next_index: int = 0  # stream sequence number of the next entry to deliver
    pending: dict[int, _Pending] = field(default_factory=dict)


@dataclass
class _Stream:
    entries: dict[int, str] = field(default_factory=dict)  # sequence number -> JSON payload
    last_seq: int = 0
    groups: dict[str, _Group] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Locked:
    token: str
    expires_at: float


class MemoryStorage:
    """Single-process ``Storage``; see the module docstring for the exact semantics."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, _Value] = {}
        self._streams: dict[str, _Stream] = {}
        self._schedules: dict[str, dict[str, ScheduledItem]] = {}
        self._seats: dict[str, tuple[list[str], list[str]]] = {}
        self._locks: dict[str, _Locked] = {}
        self._lock_released = asyncio.Condition()
        self._renewals: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def ping(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        stop_renewals(self._renewals)

    # -- key space ---------------------------------------------------------------------------
    def _live(self, key: str) -> _Value | None:
        value = self._values.get(key)
        if value is not None and value.expires_at is not None and value.expires_at <= self._clock():
            del self._values[key]
            return None
        return value

    def _expiry(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self._clock() + ttl_s

    async def get_json(self, key: str) -> Any | None:
        value = self._live(key)
        if value is None:
            return None
        if isinstance(value.data, set):
            raise StorageError(f"key {key!r} holds a set, not a JSON document")
        return json.loads(str(value.data))

    async def set_json(self, key: str, value: Any, ttl_s: int | None = None) -> None:
        self._values[key] = _Value(json.dumps(value, ensure_ascii=False), self._expiry(ttl_s))

    async def set_json_fenced(self, fence: Fence, *documents: Document) -> None:
        held = self._locks.get(fence.name)  # an expired holding stays until someone takes it
        if held is None or held.token != fence.token:
            raise LockLost(f"lock {fence.name!r} was taken over: state not written")
        written = [(d.key, json.dumps(d.value, ensure_ascii=False), d.ttl_s) for d in documents]
        for key, text, ttl_s in written:  # all serialised first: nothing is half written
            self._values[key] = _Value(text, self._expiry(ttl_s))

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def claim(self, key: str, ttl_s: int) -> bool:
        if self._live(key) is not None:
            return False
        self._values[key] = _Value("1", self._expiry(ttl_s))
        return True

    async def incr(self, key: str, amount: int = 1, ttl_s: int | None = None) -> int:
        value = self._live(key)
        if value is None:
            value = self._values[key] = _Value(0, self._expiry(ttl_s))
        elif value.expires_at is None and ttl_s is not None:
            value.expires_at = self._expiry(ttl_s)
        try:
            value.data = int(value.data) + amount  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise StorageError(f"key {key!r} does not hold a counter") from exc
        return value.data

    async def get_counter(self, key: str) -> int:
        value = self._live(key)
        if value is None:
            return 0
        try:
            return int(value.data)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise StorageError(f"key {key!r} does not hold a counter") from exc

    def _set(self, key: str, create: bool) -> set[str] | None:
        value = self._live(key)
        if value is None:
            if not create:
                return None
            value = self._values[key] = _Value(set())
        if not isinstance(value.data, set):
            raise StorageError(f"key {key!r} does not hold a set")
        return value.data

    async def set_add(self, key: str, *members: str) -> None:
        if members:
            members_set = self._set(key, create=True)
            assert members_set is not None
            members_set.update(members)

    async def set_remove(self, key: str, *members: str) -> None:
        members_set = self._set(key, create=False)
        if members_set is not None:
            members_set.difference_update(members)
            if not members_set:
                del self._values[key]  # Redis drops empty sets too

    async def set_members(self, key: str) -> set[str]:
        return set(self._set(key, create=False) or ())

    # -- locks -------------------------------------------------------------------------------
    def lock(
        self, name: str, timeout_s: float = 30.0, blocking_timeout_s: float | None = 10.0
    ) -> AbstractAsyncContextManager[Fence]:
        return self._hold(name, timeout_s, blocking_timeout_s)

    @asynccontextmanager
    async def _hold(
        self, name: str, timeout_s: float, blocking_timeout_s: float | None
    ) -> AsyncIterator[Fence]:
        token = await self._acquire(name, timeout_s, blocking_timeout_s)

        async def renew() -> bool:
            held = self._locks.get(name)
            if held is None or held.token != token or held.expires_at <= self._clock():
                return False
            held.expires_at = self._clock() + timeout_s
            return True

        try:
            async with renewed(name, timeout_s, renew, self._renewals):
                yield Fence(name, token)
        finally:
            held = self._locks.get(name)
            if held is not None and held.token == token:
                del self._locks[name]
            else:
                log.warning("lock %s expired before its holder released it", name)
            async with self._lock_released:
                self._lock_released.notify_all()

    async def _acquire(self, name: str, timeout_s: float, blocking_timeout_s: float | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = None if blocking_timeout_s is None else loop.time() + blocking_timeout_s
        token = secrets.token_hex(8)
        async with self._lock_released:
            while True:
                now = self._clock()
                held = self._locks.get(name)
                if held is None or held.expires_at <= now:
                    self._locks[name] = _Locked(token, now + timeout_s)
                    return token
                wait = held.expires_at - now  # wake up when the holder's lease runs out
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise LockTimeout(f"lock {name!r} not acquired in {blocking_timeout_s} s")
                    wait = min(wait, remaining)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._lock_released.wait(), wait)

    # -- durable queues ------------------------------------------------------------------------
    def _stream(self, queue: str) -> _Stream:
        stream = self._streams.get(queue)
        if stream is None:
            stream = self._streams[queue] = _Stream()
        return stream

    def _append(self, queue: str, payload_json: str) -> str:
        stream = self._stream(queue)
        stream.last_seq += 1
        stream.entries[stream.last_seq] = payload_json
        stream.arrived.set()
        stream.arrived = asyncio.Event()  # the next waiters wait for the next entry
        return entry_id_of(stream.last_seq)

    async def enqueue(self, queue: str, payload: dict[str, Any]) -> str:
        return self._append(queue, json.dumps(payload, ensure_ascii=False))

    async def enqueue_once(
        self, dedup_key: str, ttl_s: int, queue: str, payload: dict[str, Any], seq_key: str
    ) -> int | None:
        if not await self.claim(dedup_key, ttl_s):
            return None
        seq = await self.incr(seq_key)
        self._append(queue, json.dumps({**payload, "seq": seq}, ensure_ascii=False))
        return seq

    async def consume(
        self, queue: str, group: str, consumer: str, count: int = 1, block_ms: int = 1000
    ) -> list[QueueEntry]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(block_ms, 0) / 1000
        while True:
            stream = self._stream(queue)
            entries = self._deliver(queue, stream, group, consumer, count)
            remaining = deadline - loop.time()
            if entries or remaining <= 0:
                return entries
            try:
                await asyncio.wait_for(stream.arrived.wait(), remaining)
            except TimeoutError:
                return []

    def _deliver(
        self, queue: str, stream: _Stream, group_name: str, consumer: str, count: int
    ) -> list[QueueEntry]:
        group = stream.groups.setdefault(group_name, _Group())
        start = max(group.next_index, _first_seq(stream))
        stop = max(start, min(start + count, stream.last_seq + 1))
        group.next_index = stop
        now = self._clock()
        delivered: list[QueueEntry] = []
        for seq in range(start, stop):
            group.pending[seq] = _Pending(consumer, now, 1)
            payload = json.loads(stream.entries[seq])
            delivered.append(QueueEntry(queue, entry_id_of(seq), payload, 1))
        return delivered

    async def ack(self, queue: str, group: str, entry_id: str) -> None:
        stream = self._streams.get(queue)
        found = stream.groups.get(group) if stream else None
        if found is not None:
            found.pending.pop(entry_seq_of(entry_id), None)

    async def touch(self, queue: str, group: str, consumer: str, entry_id: str) -> None:
        stream = self._streams.get(queue)
        found = stream.groups.get(group) if stream else None
        pending = found.pending.get(entry_seq_of(entry_id)) if found else None
        if pending is not None and pending.consumer == consumer:
            pending.delivered_at = self._clock()

    async def reclaim(
        self, queue: str, group: str, consumer: str, min_idle_ms: int, count: int = 10
    ) -> list[QueueEntry]:
        stream = self._streams.get(queue)
        found = stream.groups.get(group) if stream else None
        if stream is None or found is None:
            return []
        now = self._clock()
        taken: list[QueueEntry] = []
        for seq in sorted(found.pending):
            if len(taken) >= count:
                break
            pending = found.pending[seq]
            if (now - pending.delivered_at) * 1000 < min_idle_ms:
                continue
            pending.consumer, pending.delivered_at = consumer, now
            pending.deliveries += 1
            payload = json.loads(stream.entries[seq])  # pending entries are never trimmed
            taken.append(QueueEntry(queue, entry_id_of(seq), payload, pending.deliveries))
        return taken

    async def queue_depth(self, queue: str, group: str) -> int:
        stream = self._streams.get(queue)
        if stream is None:
            return 0
        found = stream.groups.get(group)
        if found is None:
            return len(stream.entries)  # a group created now would start at the first entry
        waiting = stream.last_seq + 1 - max(found.next_index, _first_seq(stream))
        return waiting + len(found.pending)

    async def unacknowledged(self, queue: str, group: str, count: int = 100) -> list[QueueEntry]:
        stream = self._streams.get(queue)
        if stream is None:
            return []
        found = stream.groups.get(group) or _Group()
        waiting = range(max(found.next_index, _first_seq(stream)), stream.last_seq + 1)
        owed = islice(chain(sorted(found.pending), waiting), max(count, 0))
        return [
            QueueEntry(
                queue,
                entry_id_of(seq),
                json.loads(stream.entries[seq]),
                found.pending[seq].deliveries if seq in found.pending else 0,
            )
            for seq in owed
        ]

    async def trim_acknowledged(self, queue: str) -> int:
        stream = self._streams.get(queue)
        if stream is None or not stream.groups:
            return 0
        # Each group still needs its oldest pending entry, or everything it has not been given.
        keep_from = min(
            min(group.pending) if group.pending else group.next_index
            for group in stream.groups.values()
        )
        first = _first_seq(stream)
        for seq in range(first, keep_from):  # entries are contiguous from the first one
            del stream.entries[seq]
        return max(0, keep_from - first)

    # -- scheduler ---------------------------------------------------------------------------
    async def schedule(
        self, schedule: str, item_id: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        copied = json.loads(json.dumps(payload or {}, ensure_ascii=False))
        item = ScheduledItem(schedule, item_id, utc_due(due_at), copied)
        self._schedules.setdefault(schedule, {})[item_id] = item

    async def cancel(self, schedule: str, item_id: str) -> bool:
        return self._schedules.get(schedule, {}).pop(item_id, None) is not None

    async def claim_due(
        self, schedule: str, now: datetime, limit: int = 100
    ) -> list[ScheduledItem]:
        items = self._schedules.get(schedule, {})
        cutoff = utc_due(now)
        due = sorted(
            (item for item in items.values() if item.due_at <= cutoff),
            key=lambda item: (item.due_at, item.item_id),
        )[:limit]
        for item in due:
            del items[item.item_id]
        return due

    async def scheduled(self, schedule: str) -> list[ScheduledItem]:
        items = self._schedules.get(schedule, {}).values()
        return sorted(items, key=lambda item: (item.due_at, item.item_id))

    # -- seat pools ------------------------------------------------------------------------------
    async def take_seat(self, pool: str, member: str, capacity: int) -> SeatResult:
        seated, waiting = self._seats.setdefault(pool, ([], []))
        if member in seated:
            return SeatResult(seated=True, already=True)
        if member in waiting:
            return SeatResult(False, waiting.index(member) + 1, already=True)
        if len(seated) < capacity:
            seated.append(member)
            return SeatResult(seated=True)
        waiting.append(member)
        return SeatResult(False, len(waiting))

    async def release_seat(self, pool: str, member: str, capacity: int) -> str | None:
        seated, waiting = self._seats.get(pool, ([], []))
        if member in waiting:
            waiting.remove(member)
            return None
        if member not in seated:
            return None
        seated.remove(member)
        if waiting and len(seated) < capacity:
            promoted = waiting.pop(0)
            seated.append(promoted)
            return promoted
        return None

    async def seats(self, pool: str) -> tuple[list[str], list[str]]:
        seated, waiting = self._seats.get(pool, ([], []))
        return list(seated), list(waiting)


def _first_seq(stream: _Stream) -> int:
    """Number of the oldest entry kept (entries are contiguous: trimming drops the head)."""
    return next(iter(stream.entries), stream.last_seq + 1)


def entry_id_of(seq: int) -> str:
    return f"{seq}-0"


def entry_seq_of(entry_id: str) -> int:
    try:
        return int(entry_id.partition("-")[0])
    except ValueError:
        return 0
