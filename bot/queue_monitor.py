"""Watches the worker queues' depth and alerts when a consumer group falls far behind.

Queues are trimmed only when every consumer group has acknowledged an entry, so a stalled
group (a crashed worker pool, a sink down for days) grows its queue, and Redis' memory, without
bound. Every ``CHECK_INTERVAL_S`` the monitor reads each queue's unacknowledged depth into
``vrep_queue_depth{queue}``; above ``settings.queue_alert_depth`` it logs an error (one JSON
line with ``queue``, ``group``, ``depth`` and ``alert_depth``) and sets ``vrep_queue_alert{queue}``
to 1, which an alerting rule can page on; the first check back under the depth logs the recovery.

Dead-letter queues are watched the same way with an alert depth of 0: a single unresolved entry
(one the operators' group has not acknowledged) is an error naming the command that resolves it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import NamedTuple

from bot.metrics import Metrics
from bot.outage import OutageBackoff, repeat_through_outages
from bot.queue_worker import finish_or_cancel
from bot.storage.base import Storage

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 60.0

QueueGroup = tuple[str, str]
"""A queue and the consumer group whose backlog is watched."""


class DeadLetterWatch(NamedTuple):
    """A dead-letter queue, the operators' group that resolves it, and the command to use."""

    queue: str
    group: str
    command: str


class _Watch(NamedTuple):
    queue: str
    group: str
    alert_depth: int
    command: str | None  # set for a dead-letter queue


class QueueMonitor:
    def __init__(
        self,
        storage: Storage,
        metrics: Metrics,
        queues: Sequence[QueueGroup],
        *,
        alert_depth: int,
        dead_letters: Sequence[DeadLetterWatch] = (),
        interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        """Watch ``queues`` against ``alert_depth`` and ``dead_letters`` against 0."""
        self._storage = storage
        self._metrics = metrics
        self._queues = [_Watch(queue, group, alert_depth, None) for queue, group in queues]
        self._queues += [
            _Watch(watch.queue, watch.group, 0, watch.command) for watch in dead_letters
        ]
        self._interval_s = interval_s
        self._alerting: set[str] = set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def measure(self) -> dict[str, int]:
        """Read every queue's depth into ``vrep_queue_depth``; returns depth by queue."""
        depths: dict[str, int] = {}
        for queue, group, _, _ in self._queues:
            depths[queue] = await self._storage.queue_depth(queue, group)
            self._metrics.queue_depth.labels(queue).set(depths[queue])
        return depths

    async def check(self) -> list[str]:
        """Measure, then alert on every queue over its depth; returns the queues over it."""
        depths = await self.measure()
        over: list[str] = []
        for queue, group, alert_depth, command in self._queues:
            depth = depths[queue]
            fields = {"queue": queue, "group": group, "depth": depth, "alert_depth": alert_depth}
            if depth > alert_depth:
                over.append(queue)
                self._alerting.add(queue)
                if command:
                    fields |= {"command": command}
                    log.error(f"dead letters unresolved: see `{command}`", extra=fields)
                else:
                    log.error("queue over alert depth", extra=fields)
            elif queue in self._alerting:
                self._alerting.discard(queue)
                log.info("queue back under alert depth", extra=fields)
            self._metrics.queue_alert.labels(queue).set(1 if depth > alert_depth else 0)
        return over

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="queue-monitor")

    async def stop(self) -> None:
        """Cancel the loop at once: a check only reads, so nothing is left half done."""
        if self._task is not None:
            self._stopping = True
            await finish_or_cancel(self._task, 0)
            self._task = None

    async def _run(self) -> None:
        await repeat_through_outages(
            self.check,
            interval_s=self._interval_s,
            backoff=OutageBackoff("queue monitor", self._metrics),
            stopping=lambda: self._stopping,
        )
