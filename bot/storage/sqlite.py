"""``SqliteStorage``: the ``Storage`` interface in one SQLite file (the durable embedded default).

Used when ``VREP_REDIS_URL`` is unset: ``serve``, ``chat``, ``simulate`` and the ops commands
(``pv``, ``mi``, ``dead``, ...) open the same file, ``<VREP_DATA_DIR>/state.sqlite3``, so a case
reported in ``chat`` is listed by ``pv list`` and nothing is lost or numbered twice across
restarts.

Durability and sharing:
- WAL journal with ``synchronous=FULL``: a call that returned is on disk (the WAL is fsync'd at
  every commit), and readers in other processes never block the writer;
- every call is one transaction (``BEGIN IMMEDIATE`` when it writes), so each is atomic like a
  Lua script on Redis, also against a CLI process working on the same file at the same time;
  a busy file is waited for (``busy_timeout``) and then reported as ``StorageError``;
- locks are rows with an expiry (a lease, renewed in the background while held:
  ``bot.storage.lease``), so they exclude across processes too.

The semantics copy ``MemoryStorage`` / ``RedisStorage`` (one shared test suite). Expired keys
read as missing and are purged now and then by a write. One connection lives on one dedicated
thread, so the event loop never waits on the disk. Waiting (``consume(block_ms=...)``, a
blocked ``lock``) polls every ``poll_s`` seconds, and wakes at once when this handle itself
enqueued or released.

The clock (expiry, idle times, lock leases) is injectable like ``MemoryStorage``'s; it defaults
to wall-clock ``time.time`` because the file outlives the process (and the machine's uptime).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bot.storage.base import (
    HOLDER_KEPT_S,
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
from bot.storage.memory import entry_id_of, entry_seq_of, utc_due

log = logging.getLogger(__name__)

STATE_FILE = "state.sqlite3"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PURGE_EVERY_S = 60.0  # expired keys and locks are deleted at most this often
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY, is_set INTEGER NOT NULL, value TEXT, expires_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS set_members (
  key TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (key, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locks (
  name TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams (queue TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  queue TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (queue, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups (
  queue TEXT NOT NULL, grp TEXT NOT NULL, next_seq INTEGER NOT NULL, PRIMARY KEY (queue, grp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
  queue TEXT NOT NULL, grp TEXT NOT NULL, seq INTEGER NOT NULL, consumer TEXT NOT NULL,
  delivered_at REAL NOT NULL, deliveries INTEGER NOT NULL, PRIMARY KEY (queue, grp, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schedule_items (
  schedule TEXT NOT NULL, item_id TEXT NOT NULL, due_us INTEGER NOT NULL, payload TEXT NOT NULL,
  PRIMARY KEY (schedule, item_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS schedule_due ON schedule_items (schedule, due_us, item_id);
CREATE TABLE IF NOT EXISTS seats (
  pool TEXT NOT NULL, member TEXT NOT NULL, waiting INTEGER NOT NULL, pos INTEGER NOT NULL,
  PRIMARY KEY (pool, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seats_order ON seats (pool, waiting, pos);
"""

T = TypeVar("T")
Work = Callable[[sqlite3.Connection, float], T]  # (connection, clock now) -> result


def _enter_wal(connection: sqlite3.Connection, patience_s: float) -> None:
    """Switch the file to WAL. A second process (or handle) opening a new file at the same
    moment can make this fail at once with "database is locked" (the switch does not wait on
    the busy timeout), so it is tried again until ``patience_s`` has passed."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SqliteStorage:
    """``Storage`` in one SQLite file; see the module docstring for durability and sharing."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.time,
        *,
        busy_timeout_s: float = 10.0,
        poll_s: float = 0.2,
    ) -> None:
        self.path = path
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._poll_s = poll_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vrep-sqlite")
        self._connection: sqlite3.Connection | None = None  # used on the executor thread only
        self._last_purge = float("-inf")
        self._arrived: dict[str, asyncio.Event] = {}
        self._lock_freed = asyncio.Event()
        self._renewals: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SqliteStorage:
        """The deployment's state file, ``<data_dir>/state.sqlite3``."""
        return cls(data_dir / STATE_FILE)

    # -- the one thread that talks to SQLite -----------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with suppress(FileExistsError):  # personal data: readable by the service user only
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            connection = sqlite3.connect(
                self.path, timeout=self._busy_timeout_s, isolation_level=None
            )
            try:
                _enter_wal(connection, self._busy_timeout_s)
                connection.execute("PRAGMA synchronous=FULL")
                if connection.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                    connection.executescript(
                        f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={_SCHEMA_VERSION}; COMMIT;"
                    )
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _transaction(self, work: Work[T], writes: bool) -> T:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
        try:
            now = self._clock()
            result = work(connection, now)
            if writes and now - self._last_purge >= _PURGE_EVERY_S:
                _purge_expired(connection, now)
                self._last_purge = now
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
        return result

    async def _run(self, work: Work[T], *, writes: bool = True) -> T:
        if self._closed:
            raise StorageError("storage is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._transaction, work, writes)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from exc
        except OSError as exc:  # the data directory could not be created
            raise StorageError(f"{self.path}: {exc.strerror or exc}") from exc

    # -- lifecycle ---------------------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            await self._run(lambda db, now: db.execute("SELECT 1").fetchone(), writes=False)
        except StorageError:
            return False
        return True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        stop_renewals(self._renewals)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=False)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- key space ---------------------------------------------------------------------------
    async def get_json(self, key: str) -> Any | None:
        row = await self._run(lambda db, now: _live(db, key, now), writes=False)
        if row is None:
            return None
        if row[0]:
            raise StorageError(f"key {key!r} holds a set, not a JSON document")
        return json.loads(str(row[1]))

    async def set_json(self, key: str, value: Any, ttl_s: int | None = None) -> None:
        text = json.dumps(value, ensure_ascii=False)

        def work(db: sqlite3.Connection, now: float) -> None:
            _put(db, key, text, _expiry(now, ttl_s))

        await self._run(work)

    async def set_json_fenced(self, fence: Fence, *documents: Document) -> None:
        written = [(d.key, json.dumps(d.value, ensure_ascii=False), d.ttl_s) for d in documents]

        def work(db: sqlite3.Connection, now: float) -> None:
            # The lock row keeps its latest holder's token after the lease (until purged).
            held = db.execute("SELECT token FROM locks WHERE name = ?", (fence.name,)).fetchone()
            if held is None or held[0] != fence.token:
                raise LockLost(f"lock {fence.name!r} was taken over: state not written")
            for key, text, ttl_s in written:
                _put(db, key, text, _expiry(now, ttl_s))

        await self._run(work)

    async def delete(self, key: str) -> None:
        await self._run(lambda db, now: _drop(db, key))

    async def claim(self, key: str, ttl_s: int) -> bool:
        def work(db: sqlite3.Connection, now: float) -> bool:
            if _live(db, key, now) is not None:
                return False
            _put(db, key, "1", _expiry(now, ttl_s))
            return True

        return await self._run(work)

    async def incr(self, key: str, amount: int = 1, ttl_s: int | None = None) -> int:
        return await self._run(lambda db, now: _incr(db, key, amount, ttl_s, now))

    async def get_counter(self, key: str) -> int:
        row = await self._run(lambda db, now: _live(db, key, now), writes=False)
        return 0 if row is None else _counter(key, row)

    async def set_add(self, key: str, *members: str) -> None:
        if not members:
            return

        def work(db: sqlite3.Connection, now: float) -> None:
            row = _live(db, key, now)
            if row is not None and not row[0]:
                raise StorageError(f"key {key!r} does not hold a set")
            if row is None:
                _drop(db, key)
                db.execute("INSERT INTO kv (key, is_set) VALUES (?, 1)", (key,))
            db.executemany(
                "INSERT OR IGNORE INTO set_members (key, member) VALUES (?, ?)",
                [(key, member) for member in members],
            )

        await self._run(work)

    async def set_remove(self, key: str, *members: str) -> None:
        def work(db: sqlite3.Connection, now: float) -> None:
            row = _live(db, key, now)
            if row is None:
                return
            if not row[0]:
                raise StorageError(f"key {key!r} does not hold a set")
            db.executemany(
                "DELETE FROM set_members WHERE key = ? AND member = ?",
                [(key, member) for member in members],
            )
            left = db.execute("SELECT 1 FROM set_members WHERE key = ? LIMIT 1", (key,))
            if left.fetchone() is None:
                _drop(db, key)  # Redis drops empty sets too

        await self._run(work)

    async def set_members(self, key: str) -> set[str]:
        def work(db: sqlite3.Connection, now: float) -> set[str]:
            row = _live(db, key, now)
            if row is None:
                return set()
            if not row[0]:
                raise StorageError(f"key {key!r} does not hold a set")
            found = db.execute("SELECT member FROM set_members WHERE key = ?", (key,))
            return {member for (member,) in found}

        return await self._run(work, writes=False)

    # -- locks (rows with a lease, so they hold across processes) --------------------------------
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
            return await self._run(lambda db, now: _renew(db, name, token, timeout_s, now))

        try:
            async with renewed(name, timeout_s, renew, self._renewals):
                yield Fence(name, token)
        finally:
            if self._closed:  # like a process that died holding it: the lease runs out alone
                log.warning(
                    "lock %s not released (storage closed): held till its lease expired", name
                )
            elif not await self._run(lambda db, now: _unlock(db, name, token)):
                log.warning("lock %s expired before its holder released it", name)
            self._lock_freed.set()
            self._lock_freed = asyncio.Event()

    async def _acquire(self, name: str, timeout_s: float, blocking_timeout_s: float | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = None if blocking_timeout_s is None else loop.time() + blocking_timeout_s
        token = secrets.token_hex(16)
        while True:
            freed = self._lock_freed
            held_for = await self._run(lambda db, now: _try_lock(db, name, token, timeout_s, now))
            if held_for is None:
                return token
            wait = min(held_for, self._poll_s)  # another process may release it any time
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise LockTimeout(f"lock {name!r} not acquired in {blocking_timeout_s} s")
                wait = min(wait, remaining)
            with suppress(TimeoutError):
                await asyncio.wait_for(freed.wait(), wait)

    # -- durable queues ------------------------------------------------------------------------
    def _wake(self, queue: str) -> None:
        arrived = self._arrived.pop(queue, None)
        if arrived is not None:
            arrived.set()

    async def enqueue(self, queue: str, payload: dict[str, Any]) -> str:
        text = json.dumps(payload, ensure_ascii=False)
        seq = await self._run(lambda db, now: _append(db, queue, text))
        self._wake(queue)
        return entry_id_of(seq)

    async def enqueue_once(
        self, dedup_key: str, ttl_s: int, queue: str, payload: dict[str, Any], seq_key: str
    ) -> int | None:
        def work(db: sqlite3.Connection, now: float) -> int | None:
            if _live(db, dedup_key, now) is not None:
                return None
            _put(db, dedup_key, "1", _expiry(now, ttl_s))
            seq = _incr(db, seq_key, 1, None, now)
            _append(db, queue, json.dumps({**payload, "seq": seq}, ensure_ascii=False))
            return seq

        seq = await self._run(work)
        if seq is not None:
            self._wake(queue)
        return seq

    async def consume(
        self, queue: str, group: str, consumer: str, count: int = 1, block_ms: int = 1000
    ) -> list[QueueEntry]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(block_ms, 0) / 1000
        while True:
            arrived = self._arrived.setdefault(queue, asyncio.Event())
            rows = await self._run(lambda db, now: _deliver(db, queue, group, consumer, count, now))
            remaining = deadline - loop.time()
            if rows or remaining <= 0:
                return [QueueEntry(queue, entry_id_of(seq), json.loads(text)) for seq, text in rows]
            with suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), min(remaining, self._poll_s))

    async def ack(self, queue: str, group: str, entry_id: str) -> None:
        seq = entry_seq_of(entry_id)
        await self._run(
            lambda db, now: db.execute(
                "DELETE FROM pending WHERE queue = ? AND grp = ? AND seq = ?", (queue, group, seq)
            )
        )

    async def touch(self, queue: str, group: str, consumer: str, entry_id: str) -> None:
        seq = entry_seq_of(entry_id)
        await self._run(
            lambda db, now: db.execute(
                "UPDATE pending SET delivered_at = ?"
                " WHERE queue = ? AND grp = ? AND seq = ? AND consumer = ?",
                (now, queue, group, seq, consumer),
            )
        )

    async def reclaim(
        self, queue: str, group: str, consumer: str, min_idle_ms: int, count: int = 10
    ) -> list[QueueEntry]:
        def work(db: sqlite3.Connection, now: float) -> list[tuple[int, str, int]]:
            idle = db.execute(
                "SELECT p.seq, e.payload, p.deliveries + 1 FROM pending p JOIN entries e"
                " ON e.queue = p.queue AND e.seq = p.seq WHERE p.queue = ? AND p.grp = ?"
                " AND (? - p.delivered_at) * 1000 >= ? ORDER BY p.seq LIMIT ?",
                (queue, group, now, min_idle_ms, max(count, 0)),
            ).fetchall()
            db.executemany(
                "UPDATE pending SET consumer = ?, delivered_at = ?, deliveries = ?"
                " WHERE queue = ? AND grp = ? AND seq = ?",
                [(consumer, now, deliveries, queue, group, seq) for seq, _, deliveries in idle],
            )
            return idle

        taken = await self._run(work)
        return [QueueEntry(queue, entry_id_of(s), json.loads(t), d) for s, t, d in taken]

    async def queue_depth(self, queue: str, group: str) -> int:
        def work(db: sqlite3.Connection, now: float) -> int:
            last_seq = _last_seq(db, queue)
            if last_seq is None:
                return 0
            next_seq = _next_seq(db, queue, group)
            if next_seq is None:  # a group created now would start at the first entry
                return int(_scalar(db, "SELECT COUNT(*) FROM entries WHERE queue = ?", queue))
            waiting = last_seq + 1 - max(next_seq, _first_seq(db, queue, last_seq))
            pending = "SELECT COUNT(*) FROM pending WHERE queue = ? AND grp = ?"
            return waiting + int(_scalar(db, pending, queue, group))

        return await self._run(work, writes=False)

    async def unacknowledged(self, queue: str, group: str, count: int = 100) -> list[QueueEntry]:
        def work(db: sqlite3.Connection, now: float) -> list[tuple[int, str, int]]:
            last_seq = _last_seq(db, queue)
            if last_seq is None or count <= 0:
                return []
            owed = db.execute(
                "SELECT p.seq, e.payload, p.deliveries FROM pending p JOIN entries e"
                " ON e.queue = p.queue AND e.seq = p.seq WHERE p.queue = ? AND p.grp = ?"
                " ORDER BY p.seq LIMIT ?",
                (queue, group, count),
            ).fetchall()
            start = max(_next_seq(db, queue, group) or 0, _first_seq(db, queue, last_seq))
            waiting = db.execute(
                "SELECT seq, payload, 0 FROM entries WHERE queue = ? AND seq >= ?"
                " ORDER BY seq LIMIT ?",
                (queue, start, count - len(owed)),
            )
            return owed + waiting.fetchall()

        owed = await self._run(work, writes=False)
        return [QueueEntry(queue, entry_id_of(s), json.loads(t), d) for s, t, d in owed]

    async def trim_acknowledged(self, queue: str) -> int:
        def work(db: sqlite3.Connection, now: float) -> int:
            # Each group still needs its oldest pending entry, or everything it was not given.
            keep_from = _scalar(
                db,
                "SELECT MIN(COALESCE((SELECT MIN(seq) FROM pending p WHERE p.queue = g.queue"
                " AND p.grp = g.grp), g.next_seq)) FROM groups g WHERE g.queue = ?",
                queue,
            )
            if keep_from is None:  # no group yet: all of it is still owed
                return 0
            trimmed = db.execute(
                "DELETE FROM entries WHERE queue = ? AND seq < ?", (queue, keep_from)
            )
            return trimmed.rowcount

        return await self._run(work)

    # -- scheduler ---------------------------------------------------------------------------
    async def schedule(
        self, schedule: str, item_id: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        due_us = _micros(utc_due(due_at))
        text = json.dumps(payload or {}, ensure_ascii=False)
        await self._run(
            lambda db, now: db.execute(
                "INSERT OR REPLACE INTO schedule_items VALUES (?, ?, ?, ?)",
                (schedule, item_id, due_us, text),
            )
        )

    async def cancel(self, schedule: str, item_id: str) -> bool:
        def work(db: sqlite3.Connection, now: float) -> bool:
            removed = db.execute(
                "DELETE FROM schedule_items WHERE schedule = ? AND item_id = ?", (schedule, item_id)
            )
            return removed.rowcount > 0

        return await self._run(work)

    async def claim_due(
        self, schedule: str, now: datetime, limit: int = 100
    ) -> list[ScheduledItem]:
        cutoff = _micros(utc_due(now))

        def work(db: sqlite3.Connection, _: float) -> list[tuple[str, int, str]]:
            due = db.execute(
                "SELECT item_id, due_us, payload FROM schedule_items WHERE schedule = ?"
                " AND due_us <= ? ORDER BY due_us, item_id LIMIT ?",
                (schedule, cutoff, max(limit, 0)),
            ).fetchall()
            db.executemany(
                "DELETE FROM schedule_items WHERE schedule = ? AND item_id = ?",
                [(schedule, item_id) for item_id, _, _ in due],
            )
            return due

        return [_item(schedule, *row) for row in await self._run(work)]

    async def scheduled(self, schedule: str) -> list[ScheduledItem]:
        def work(db: sqlite3.Connection, now: float) -> list[tuple[str, int, str]]:
            return db.execute(
                "SELECT item_id, due_us, payload FROM schedule_items WHERE schedule = ?"
                " ORDER BY due_us, item_id",
                (schedule,),
            ).fetchall()

        return [_item(schedule, *row) for row in await self._run(work, writes=False)]

    # -- seat pools ------------------------------------------------------------------------------
    async def take_seat(self, pool: str, member: str, capacity: int) -> SeatResult:
        def work(db: sqlite3.Connection, now: float) -> SeatResult:
            seated, waiting = _seats(db, pool)
            if member in seated:
                return SeatResult(seated=True, already=True)
            if member in waiting:
                return SeatResult(False, waiting.index(member) + 1, already=True)
            sits = len(seated) < capacity
            db.execute(
                "INSERT INTO seats VALUES (?, ?, ?, ?)",
                (pool, member, 0 if sits else 1, _next_pos(db, pool)),
            )
            return SeatResult(seated=True) if sits else SeatResult(False, len(waiting) + 1)

        return await self._run(work)

    async def release_seat(self, pool: str, member: str, capacity: int) -> str | None:
        def work(db: sqlite3.Connection, now: float) -> str | None:
            seated, waiting = _seats(db, pool)
            if member not in seated and member not in waiting:
                return None
            db.execute("DELETE FROM seats WHERE pool = ? AND member = ?", (pool, member))
            if member in waiting or not waiting or len(seated) - 1 >= capacity:
                return None
            promoted = waiting[0]
            db.execute(
                "UPDATE seats SET waiting = 0, pos = ? WHERE pool = ? AND member = ?",
                (_next_pos(db, pool), pool, promoted),
            )
            return promoted

        return await self._run(work)

    async def seats(self, pool: str) -> tuple[list[str], list[str]]:
        return await self._run(lambda db, now: _seats(db, pool), writes=False)


# -- SQL helpers (run on the storage thread, inside a transaction) ---------------------------------


def _expiry(now: float, ttl_s: float | None) -> float | None:
    return None if ttl_s is None else now + ttl_s


def _live(db: sqlite3.Connection, key: str, now: float) -> tuple[int, str | None] | None:
    """(is_set, value) of ``key``, or None when it is missing or expired."""
    row: tuple[int, str | None] | None = db.execute(
        "SELECT is_set, value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
        (key, now),
    ).fetchone()
    return row


def _drop(db: sqlite3.Connection, key: str) -> None:
    db.execute("DELETE FROM kv WHERE key = ?", (key,))
    db.execute("DELETE FROM set_members WHERE key = ?", (key,))


def _put(db: sqlite3.Connection, key: str, text: str, expires_at: float | None) -> None:
    _drop(db, key)
    db.execute("INSERT INTO kv VALUES (?, 0, ?, ?)", (key, text, expires_at))


def _counter(key: str, row: tuple[int, str | None]) -> int:
    try:
        if row[0]:
            raise ValueError("a set")
        return int(str(row[1]))
    except ValueError as exc:
        raise StorageError(f"key {key!r} does not hold a counter") from exc


def _incr(db: sqlite3.Connection, key: str, amount: int, ttl_s: int | None, now: float) -> int:
    row = _live(db, key, now)
    if row is None:
        value = amount
        _put(db, key, str(value), _expiry(now, ttl_s))
        return value
    value = _counter(key, row) + amount
    db.execute(
        "UPDATE kv SET value = ?, expires_at = COALESCE(expires_at, ?) WHERE key = ?",
        (str(value), _expiry(now, ttl_s), key),
    )
    return value


def _purge_expired(db: sqlite3.Connection, now: float) -> None:
    expired = "SELECT key FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?"
    db.execute(f"DELETE FROM set_members WHERE key IN ({expired})", (now,))
    db.execute("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
    # A lock row is its latest holding, which fenced writes check: kept a while after its lease.
    db.execute("DELETE FROM locks WHERE expires_at <= ?", (now - HOLDER_KEPT_S,))


def _scalar(db: sqlite3.Connection, sql: str, *args: object) -> Any:
    return db.execute(sql, args).fetchone()[0]


def _try_lock(
    db: sqlite3.Connection, name: str, token: str, timeout_s: float, now: float
) -> float | None:
    """Take ``name`` for ``token``: None when taken, else the seconds left on the holder's lease."""
    held = db.execute("SELECT expires_at FROM locks WHERE name = ?", (name,)).fetchone()
    if held is not None and held[0] > now:
        return float(held[0]) - now
    db.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?)", (name, token, now + timeout_s))
    return None


def _renew(db: sqlite3.Connection, name: str, token: str, timeout_s: float, now: float) -> bool:
    """Extend ``token``'s lease on ``name`` by ``timeout_s``; False if the lease already ran out."""
    extended = db.execute(
        "UPDATE locks SET expires_at = ? WHERE name = ? AND token = ? AND expires_at > ?",
        (now + timeout_s, name, token, now),
    )
    return extended.rowcount > 0


def _unlock(db: sqlite3.Connection, name: str, token: str) -> bool:
    """Free ``name`` if ``token`` still holds it (its lease did not run out); True if it did."""
    freed = db.execute("DELETE FROM locks WHERE name = ? AND token = ?", (name, token))
    return freed.rowcount > 0


def _last_seq(db: sqlite3.Connection, queue: str) -> int | None:
    row = db.execute("SELECT last_seq FROM streams WHERE queue = ?", (queue,)).fetchone()
    return None if row is None else int(row[0])


def _first_seq(db: sqlite3.Connection, queue: str, last_seq: int) -> int:
    """Number of the oldest entry kept (entries are contiguous: trimming drops the head)."""
    first = _scalar(db, "SELECT MIN(seq) FROM entries WHERE queue = ?", queue)
    return last_seq + 1 if first is None else int(first)


def _next_seq(db: sqlite3.Connection, queue: str, group: str) -> int | None:
    row = db.execute(
        "SELECT next_seq FROM groups WHERE queue = ? AND grp = ?", (queue, group)
    ).fetchone()
    return None if row is None else int(row[0])


def _append(db: sqlite3.Connection, queue: str, text: str) -> int:
    db.execute(
        "INSERT INTO streams VALUES (?, 1)"
        " ON CONFLICT (queue) DO UPDATE SET last_seq = last_seq + 1",
        (queue,),
    )
    seq = _scalar(db, "SELECT last_seq FROM streams WHERE queue = ?", queue)
    db.execute("INSERT INTO entries VALUES (?, ?, ?)", (queue, seq, text))
    return int(seq)


def _deliver(
    db: sqlite3.Connection, queue: str, group: str, consumer: str, count: int, now: float
) -> list[tuple[int, str]]:
    next_seq = _next_seq(db, queue, group)
    if next_seq is None:
        db.execute("INSERT OR IGNORE INTO streams VALUES (?, 0)", (queue,))
        db.execute("INSERT INTO groups VALUES (?, ?, 0)", (queue, group))
        next_seq = 0
    rows: list[tuple[int, str]] = db.execute(
        "SELECT seq, payload FROM entries WHERE queue = ? AND seq >= ? ORDER BY seq LIMIT ?",
        (queue, next_seq, max(count, 0)),
    ).fetchall()
    if rows:
        db.execute(
            "UPDATE groups SET next_seq = ? WHERE queue = ? AND grp = ?",
            (rows[-1][0] + 1, queue, group),
        )
        db.executemany(
            "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, ?, 1)",
            [(queue, group, seq, consumer, now) for seq, _ in rows],
        )
    return rows


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _item(schedule: str, item_id: str, due_us: int, payload: str) -> ScheduledItem:
    return ScheduledItem(
        schedule, item_id, _EPOCH + timedelta(microseconds=due_us), json.loads(payload)
    )


def _seats(db: sqlite3.Connection, pool: str) -> tuple[list[str], list[str]]:
    rows = db.execute(
        "SELECT member, waiting FROM seats WHERE pool = ? ORDER BY waiting, pos", (pool,)
    )
    seated: list[str] = []
    waiting: list[str] = []
    for member, is_waiting in rows:
        (waiting if is_waiting else seated).append(member)
    return seated, waiting


def _next_pos(db: sqlite3.Connection, pool: str) -> int:
    return int(_scalar(db, "SELECT COALESCE(MAX(pos), 0) + 1 FROM seats WHERE pool = ?", pool))
