"""Consumes the durable escalation queue (``bot.escalation.ESCALATION_QUEUE``).

Every replica runs one ``EscalationWorker``; they share the consumer group ``handoff``, so
each request is delivered to one of them, and a request left pending by a crashed replica is
reclaimed by another. The service keys the handoff by the queue entry id, so a redelivered
request never pages the reps twice.
"""

from __future__ import annotations

import logging
from typing import Final

from bot.escalation import ESCALATION_QUEUE
from bot.pipeline import consumer_name
from bot.queue_worker import QueueConsumer
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
        self._max_deliveries = max_deliveries
        self._loop = QueueConsumer(
            self._storage,
            self._metrics,
            queue=ESCALATION_QUEUE,
            group=ESCALATION_GROUP,
            consumer=self._consumer,
            process=self.process,
            block_ms=block_ms,
            reclaim_idle_ms=reclaim_idle_ms,
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Finish the request in hand, then stop."""
        await self._loop.stop()

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
