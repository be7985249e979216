"""One consumer of a durable queue, run in the background until stopped.

Used by every queue worker (inbound messages, escalations, PV deliveries): it reclaims
entries that a dead consumer left pending, blocks for new ones, and hands each entry to
``process``, which acknowledges it (or leaves it pending to be retried). Now and then it also
trims what every group has acknowledged, since enqueueing never trims (nothing may be lost).
While storage is unreachable it keeps retrying with a growing delay (``bot.outage``), so a
Redis outage stops no worker, not even one that has a ``prepare`` step to run first.

The entry in hand is touched every third of ``reclaim_idle_ms`` (``Storage.touch``), so a live
worker's entry is never reclaimed however long it takes; a dead worker's is, after that idle time.

Stopping sets a flag checked between polls and waits for the poll in hand (at most
``block_ms``); the task is cancelled only when that overruns (see ``finish_or_cancel``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.metrics import Metrics
from bot.outage import OutageBackoff
from bot.storage.base import QueueEntry, Storage, StorageError

log = logging.getLogger(__name__)

EntryHandler = Callable[[QueueEntry], Awaitable[None]]
Preparation = Callable[[], Awaitable[object]]

TRIM_INTERVAL_S = 60.0
"""Each consumer trims its queue's acknowledged entries at most this often."""


async def finish_or_cancel(task: asyncio.Task[None], grace_s: float) -> None:
    """Let a task that was asked to stop finish within ``grace_s``; then cancel it until done.

    Python 3.11's timeouts can swallow a cancellation that races with their expiry (redis-py
    reads run under one), so a single ``cancel()`` is not enough: repeat until the task ends.
    """
    await asyncio.wait({task}, timeout=grace_s)
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)


async def keep_touched(
    storage: Storage, queue: str, group: str, consumer: str, entry: QueueEntry, idle_ms: int
) -> None:
    """Touch ``entry`` (pending for ``consumer``) every third of ``idle_ms`` until cancelled,
    so it is never reclaimed as a dead consumer's while it is still being worked on."""
    while True:
        await asyncio.sleep(idle_ms / 3000)
        try:
            await storage.touch(queue, group, consumer, entry.entry_id)
        except StorageError:  # the next touch may still come in time
            log.warning("touching %s failed", entry.entry_id, exc_info=True)


class QueueConsumer:
    def __init__(
        self,
        storage: Storage,
        metrics: Metrics,
        *,
        queue: str,
        group: str,
        consumer: str,
        process: EntryHandler,
        count: int = 1,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 60_000,
        prepare: Preparation | None = None,
    ) -> None:
        """``prepare`` runs in the background before the first poll, retried until it succeeds."""
        self._storage = storage
        self._metrics = metrics
        self.queue = queue
        self._group = group
        self.consumer = consumer
        self._process = process
        self._count = count
        self._block_ms = block_ms
        self._reclaim_idle_ms = reclaim_idle_ms
        self._next_reclaim = 0.0
        self._next_trim: float | None = None  # one interval after the first poll
        self._prepare = prepare
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.consumer)

    async def stop(self, grace_s: float | None = None) -> None:
        """Finish the entry in hand, then stop (cancelling only if that takes longer than
        ``grace_s``; default: one poll plus 10 s)."""
        if self._task is None:
            return
        self._stopping = True
        await finish_or_cancel(self._task, grace_s or self._block_ms / 1000 + 10)
        self._task = None

    async def finish(self, rounds: int = 20, grace_s: float | None = None) -> None:
        """Stop, then handle what is queued already, without waiting for more: a process that
        ends right after its last message (``virtualrep chat``) leaves nothing of it behind.
        Whatever is left (more than ``rounds`` batches) stays queued for the next worker."""
        await self.stop(grace_s)
        for _ in range(rounds):
            if not await self.run_once(block_ms=0):
                return

    async def run_once(self, block_ms: int | None = None) -> int:
        """Reclaim (when due) or wait for entries, process them; returns how many."""
        loop = asyncio.get_running_loop()
        entries: list[QueueEntry] = []
        if loop.time() >= self._next_reclaim:
            self._next_reclaim = loop.time() + self._reclaim_idle_ms / 4000
            entries = await self._storage.reclaim(
                self.queue, self._group, self.consumer, self._reclaim_idle_ms, count=self._count
            )
        if not entries:
            entries = await self._storage.consume(
                self.queue,
                self._group,
                self.consumer,
                count=self._count,
                block_ms=self._block_ms if block_ms is None else block_ms,
            )
        for entry in entries:
            touching = keep_touched(
                self._storage, self.queue, self._group, self.consumer, entry, self._reclaim_idle_ms
            )
            toucher = asyncio.create_task(touching, name=f"touch {entry.entry_id}")
            try:
                await self._process(entry)
            finally:
                toucher.cancel()
        if self._next_trim is None:
            # Not on the first batch: a reader that joins the queue just after start-up (a new
            # consumer group, an operator's look) still finds what the last run left.
            self._next_trim = loop.time() + TRIM_INTERVAL_S
        elif loop.time() >= self._next_trim:
            self._next_trim = loop.time() + TRIM_INTERVAL_S
            await self._trim_acknowledged()
        return len(entries)

    async def _trim_acknowledged(self) -> None:
        """Trim the queue; a failure only postpones it, so it is logged and not raised."""
        try:
            removed = await self._storage.trim_acknowledged(self.queue)
        except StorageError:
            self._metrics.errors.labels("storage").inc()
            log.warning("trimming %s failed; trying again later", self.queue, exc_info=True)
            return
        if removed:
            log.debug("trimmed %d acknowledged entries from %s", removed, self.queue)

    async def _run(self) -> None:
        backoff = OutageBackoff(f"{self.queue} worker", self._metrics)
        while not self._stopping:
            try:
                if self._prepare is not None:
                    await self._prepare()
                    self._prepare = None
                await self.run_once()
                backoff.succeeded()
            except StorageError as error:
                await asyncio.sleep(backoff.failed(error))
            except Exception:  # a bug must not stop the worker; the entry stays pending
                self._metrics.errors.labels(f"worker:{self.queue}").inc()
                log.exception("%s worker error; continuing", self.queue)
                await asyncio.sleep(0.1)
