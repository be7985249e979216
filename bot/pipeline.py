"""Inbound pipeline: durable queue → N workers → dispatcher (which delivers the replies).

Transports call ``submit_inbound``: one storage round trip claims the dedup key, numbers the
message within its conversation and enqueues it. Workers consume the queue through a consumer
group; an entry is acknowledged only after the dispatcher handled it (or recognised it as a
redelivery), so a crashed worker's entries are reclaimed by another worker or replica.

An entry that is malformed or keeps failing goes to ``inbound-dead`` (``bot.dead_letters``).

Ordering: messages of one conversation are handled in ``seq`` order (the conversation lock
plus ``last_seq`` in the state); different conversations are handled in parallel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Final

from bot.dispatcher import Dispatcher
from bot.metrics import Metrics
from bot.middlewares import OutOfOrder
from bot.models import InboundMessage
from bot.queue_worker import QueueConsumer
from bot.storage.base import LockTimeout, QueueEntry, Storage

log = logging.getLogger(__name__)

INBOUND_QUEUE: Final = "inbound"
INBOUND_GROUP: Final = "workers"
DEAD_LETTER_QUEUE: Final = "inbound-dead"


def dedup_key(channel: str, raw_id: str) -> str:
    return f"dedup:{channel}:{raw_id}"


def sequence_key(conversation_key: str) -> str:
    return f"seq:{conversation_key}"


async def submit_inbound(
    storage: Storage, message: InboundMessage, dedup_ttl_s: int, *, dedup: str | None = None
) -> bool:
    """Enqueue ``message`` unless its dedup key was seen; True when it was accepted.

    The key is the channel's message id, or ``dedup`` when given: a replayed dead letter claims
    one of its own, since its message id was claimed when it first arrived.
    """
    seq = await storage.enqueue_once(
        dedup or dedup_key(message.channel.value, message.message_id),
        dedup_ttl_s,
        INBOUND_QUEUE,
        {"message": message.model_dump(mode="json")},
        sequence_key(message.conversation_key),
    )
    return seq is not None


def message_from_entry(entry: QueueEntry) -> InboundMessage:
    """The queued message with the sequence number ``enqueue_once`` gave it."""
    return InboundMessage.model_validate(
        {**entry.payload["message"], "seq": int(entry.payload.get("seq", 0))}
    )


def consumer_name() -> str:
    """A consumer id unique to this process (host, pid and a random part)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class InboundWorkers:
    """A pool of workers draining the inbound queue into the dispatcher."""

    def __init__(
        self,
        storage: Storage,
        dispatcher: Dispatcher,
        metrics: Metrics,
        *,
        workers: int,
        consumer: str | None = None,
        reclaim_idle_ms: int = 10_000,
        max_deliveries: int = 5,
        order_wait_s: float = 30.0,
    ) -> None:
        """``order_wait_s`` must exceed ``reclaim_idle_ms``: a message that finds an earlier one
        unfinished waits until a dead worker's entry was reclaimed and handled before it gives
        up on the order (the earlier message would otherwise be skipped as already handled)."""
        self._storage = storage
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._workers = workers
        self._consumer = consumer or consumer_name()
        self._reclaim_idle_ms = reclaim_idle_ms
        self._max_deliveries = max_deliveries
        self._order_wait_s = order_wait_s
        self._consumers: list[QueueConsumer] = []

    def start(self) -> None:
        for index in range(self._workers):
            consumer = QueueConsumer(
                self._storage,
                self._metrics,
                queue=INBOUND_QUEUE,
                group=INBOUND_GROUP,
                consumer=f"{self._consumer}-w{index}",
                process=self.process,
                reclaim_idle_ms=self._reclaim_idle_ms,
            )
            consumer.start()
            self._consumers.append(consumer)

    async def stop(self) -> None:
        await asyncio.gather(*(consumer.stop() for consumer in self._consumers))
        self._consumers.clear()

    async def process(self, entry: QueueEntry) -> None:
        """Handle one entry and acknowledge it; leaves it pending when handling must be retried."""
        try:
            message = message_from_entry(entry)
        except (KeyError, TypeError, ValueError):
            log.error("dropping malformed queue entry", extra={"entry": entry.entry_id})
            await self._dead_letter(entry, "malformed")
            return
        if entry.deliveries > self._max_deliveries:
            log.error("giving up on message", extra={"message_id": message.message_id})
            await self._dead_letter(entry, "too many deliveries")
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._order_wait_s
        delay = 0.01
        while True:
            try:
                ctx = await self._dispatcher.feed(message)
            except OutOfOrder:
                if loop.time() < deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                # The earlier message is stuck (e.g. dead-lettered): don't block the conversation.
                log.warning("handling out of order", extra={"message_id": message.message_id})
                ctx = await self._dispatcher.feed(message, accept_gap=True)
            except LockTimeout:  # a skill's own lock (the conversation lock waits its turn)
                self._metrics.errors.labels("lock").inc()
                return  # left pending: reclaimed and retried later
            break
        if ctx.data.get("duplicate"):
            self._metrics.events.labels("redelivery_skipped").inc()
        await self._storage.ack(INBOUND_QUEUE, INBOUND_GROUP, entry.entry_id)

    async def _dead_letter(self, entry: QueueEntry, reason: str) -> None:
        self._metrics.errors.labels("dead_letter").inc()
        await self._storage.enqueue(DEAD_LETTER_QUEUE, {"reason": reason, **entry.payload})
        await self._storage.ack(INBOUND_QUEUE, INBOUND_GROUP, entry.entry_id)
