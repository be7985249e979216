"""Consumes the durable escalation queue (``bot.escalation.ESCALATION_QUEUE``).

Every replica runs one ``EscalationWorker``; they share the consumer group ``handoff``, so
each request is delivered to one of them, and a request left pending by a crashed replica is
reclaimed by another. The service keys the handoff by the queue entry id, so a redelivered
request never pages the reps twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from bot.escalation import ESCALATION_QUEUE
from bot.pipeline import consumer_name
from bot.storage.base import QueueEntry, StorageError
from skills.handoff.service import HandoffService

log = logging.getLogger(__name__)

ESCALATION_GROUP: Final = "handoff"
DEAD_ESCALATIONS: Final = "escalations-dead"


class EscalationWorker:
    def __init__(
        self,
        service: HandoffService,
        *,
        consumer: str | None = None,
        reclaim_idle_ms: int = 60_000,
        max_deliveries: int = 5,
        block_ms: int = 1000,
    ) -> None:
        self._service = service
        self._storage = service.services.storage
        self._metrics = service.services.metrics
        self._consumer = consumer or f"{consumer_name()}-handoff"
        self._reclaim_idle_ms = reclaim_idle_ms
        self._max_deliveries = max_deliveries
        self._block_ms = block_ms
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self._consumer)

    async def stop(self) -> None:
        """Finish the request in hand, then stop (cancelling only if that takes too long).

        Cancelling a task blocked in ``consume`` can hang on Python 3.11's ``wait_for``; a
        flag checked between polls (at most ``block_ms`` apart) avoids relying on it.
        """
        if self._task is None:
            return
        self._stopping = True
        done, _ = await asyncio.wait({self._task}, timeout=self._block_ms / 1000 + 10)
        if not done:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_reclaim = 0.0
        while not self._stopping:
            try:
                entries: list[QueueEntry] = []
                if loop.time() >= next_reclaim:
                    next_reclaim = loop.time() + self._reclaim_idle_ms / 4000
                    entries = await self._storage.reclaim(
                        ESCALATION_QUEUE, ESCALATION_GROUP, self._consumer, self._reclaim_idle_ms
                    )
                if not entries:
                    entries = await self._storage.consume(
                        ESCALATION_QUEUE,
                        ESCALATION_GROUP,
                        self._consumer,
                        count=1,
                        block_ms=self._block_ms,
                    )
                for entry in entries:
                    await self.process(entry)
            except asyncio.CancelledError:
                raise
            except StorageError:
                self._metrics.errors.labels("storage").inc()
                log.warning("storage unavailable; escalation worker retrying", exc_info=True)
                await asyncio.sleep(1.0)

    async def process(self, entry: QueueEntry) -> None:
        """Handle one request and acknowledge it; a failure leaves it pending for a retry."""
        if entry.deliveries > self._max_deliveries:
            log.error("giving up on escalation", extra={"entry": entry.entry_id})
            self._metrics.errors.labels("escalation_dead_letter").inc()
            await self._storage.enqueue(DEAD_ESCALATIONS, entry.payload)
            await self._storage.ack(ESCALATION_QUEUE, ESCALATION_GROUP, entry.entry_id)
            return
        try:
            await self._service.handle_request(entry.entry_id, entry.payload)
        except (KeyError, ValueError, TypeError):
            log.exception("malformed escalation dropped", extra={"entry": entry.entry_id})
            self._metrics.errors.labels("escalation_malformed").inc()
            await self._storage.enqueue(DEAD_ESCALATIONS, entry.payload)
        except StorageError:  # includes LockTimeout: left pending, the loop backs off
            raise
        except Exception:  # a bug or a failing sender: leave pending, reclaimed later
            log.exception("escalation failed; will be retried", extra={"entry": entry.entry_id})
            self._metrics.errors.labels("escalation").inc()
            return
        await self._storage.ack(ESCALATION_QUEUE, ESCALATION_GROUP, entry.entry_id)
