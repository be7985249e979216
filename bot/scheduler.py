"""Runs the handlers of due scheduled items (reminders, SLAs, idle-form submission).

Items live in the storage scheduler, so they survive restarts, and ``claim_due`` hands each
due item to exactly one process. A handler that fails has its item rescheduled with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.metrics import Metrics
from bot.outage import OutageBackoff, repeat_through_outages
from bot.queue_worker import finish_or_cancel
from bot.storage.base import ScheduledItem, Storage

log = logging.getLogger(__name__)

ItemHandler = Callable[[ScheduledItem], Awaitable[None]]
Clock = Callable[[], datetime]


class ScheduleRunner:
    def __init__(
        self, storage: Storage, clock: Clock, metrics: Metrics, poll_interval_s: float = 1.0
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._metrics = metrics
        self._poll_interval_s = poll_interval_s
        self._handlers: dict[str, ItemHandler] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def register(self, schedule: str, handler: ItemHandler) -> None:
        if schedule in self._handlers:
            raise ValueError(f"schedule {schedule!r} already has a handler")
        self._handlers[schedule] = handler

    async def run_due(self) -> int:
        """Claim and handle every item due now; returns how many were handled."""
        handled = 0
        now = self._clock()
        for schedule, handler in self._handlers.items():
            for item in await self._storage.claim_due(schedule, now):
                try:
                    await handler(item)
                    handled += 1
                except Exception:
                    self._metrics.errors.labels(f"schedule:{schedule}").inc()
                    log.exception("scheduled item failed", extra={"item": item.item_id})
                    attempt = int(item.payload.get("_attempt", 0)) + 1
                    retry_at = now + timedelta(seconds=min(3600, 10 * 2**attempt))
                    payload = {**item.payload, "_attempt": attempt}
                    await self._storage.schedule(schedule, item.item_id, retry_at, payload)
        return handled

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="schedule-runner")

    async def stop(self) -> None:
        """Finish the items in hand, then stop."""
        if self._task is not None:
            self._stopping = True
            await finish_or_cancel(self._task, self._poll_interval_s + 10)
            self._task = None

    async def _loop(self) -> None:
        await repeat_through_outages(
            self.run_due,
            interval_s=self._poll_interval_s,
            backoff=OutageBackoff("scheduler", self._metrics),
            stopping=lambda: self._stopping,
        )
