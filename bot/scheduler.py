"""Runs the handlers of due scheduled items (reminders, SLAs, idle-form submission).

Items live in the storage scheduler, so they survive restarts, and ``claim_due`` hands each
due item to exactly one process. A handler that fails has its item rescheduled with backoff.

An item whose handler needs a channel this process has no sender for (``NoSender``: e.g. a
handoff reminder to a rep made in ``virtualrep chat``, whose reps are in the terminal, claimed
by ``serve`` without the WeCom app) is no failure to retry here: it is parked for a process that
has that sender (``chat`` on the same store runs the scheduler too). It is marked with the
channel it needs and looked at again every ``PARK_S``; a process without that sender puts it
back without running it, so the item is neither lost nor retried (nor logged) forever — one
warning line says where it waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.metrics import Metrics
from bot.models import Channel
from bot.outage import OutageBackoff, repeat_through_outages
from bot.queue_worker import finish_or_cancel
from bot.storage.base import ScheduledItem, Storage

log = logging.getLogger(__name__)

ItemHandler = Callable[[ScheduledItem], Awaitable[None]]
Clock = Callable[[], datetime]
NEEDS_CHANNEL = "_needs_channel"
"""Payload key of a parked item: the channel whose sender it waits for."""
PARK_S = 600
"""How often a parked item is looked at again (cheap: a claim and a put-back)."""


class NoSender(LookupError):
    """This process has no sender for ``channel`` (``Services.sender``)."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(f"no sender configured for channel {channel.value}")
        self.channel = channel


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
        self.can_send: Callable[[Channel], bool] = lambda channel: False
        """Whether this process has a sender for the channel (set by ``Services``)."""

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
                waits_for = _parked_for(item)
                if waits_for is not None and not self.can_send(waits_for):
                    await self._park(item, waits_for, now)
                    continue
                try:
                    await handler(item)
                    handled += 1
                except NoSender as exc:
                    log.warning(
                        "scheduled item needs the %s channel, which this process cannot send on;"
                        " left for a process that can (e.g. `virtualrep chat` on this store)",
                        exc.channel.value,
                        extra={"schedule": schedule, "item": item.item_id},
                    )
                    await self._park(item, exc.channel, now)
                except Exception:
                    self._metrics.errors.labels(f"schedule:{schedule}").inc()
                    log.exception("scheduled item failed", extra={"item": item.item_id})
                    attempt = int(item.payload.get("_attempt", 0)) + 1
                    retry_at = now + timedelta(seconds=min(3600, 10 * 2**attempt))
                    payload = {**item.payload, "_attempt": attempt}
                    await self._storage.schedule(schedule, item.item_id, retry_at, payload)
        return handled

    async def _park(self, item: ScheduledItem, channel: Channel, now: datetime) -> None:
        payload = {**item.payload, NEEDS_CHANNEL: channel.value}
        due = now + timedelta(seconds=PARK_S)
        await self._storage.schedule(item.schedule, item.item_id, due, payload)

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


def _parked_for(item: ScheduledItem) -> Channel | None:
    """The channel a parked item waits for, if it is parked (and the channel is known)."""
    value = item.payload.get(NEEDS_CHANNEL)
    try:
        return Channel(value) if isinstance(value, str) else None
    except ValueError:
        return None
