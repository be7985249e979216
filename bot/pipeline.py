"""Inbound pipeline: durable queue → N workers → dispatcher (which delivers the replies).

Transports call ``submit_inbound``: one storage round trip claims the dedup key, numbers the
message within its conversation and enqueues it. Workers consume the queue through a consumer
group; an entry is acknowledged only after the dispatcher handled it (or recognised it as a
redelivery), so a crashed worker's entries are reclaimed by another worker or replica.

An entry that is malformed or keeps failing goes to ``inbound-dead`` (``bot.dead_letters``).

Ordering: messages of one conversation are handled in ``seq`` order (the conversation lock
plus ``last_seq`` in the state); different conversations are handled in parallel.

Acknowledgements first: when the workers share a process (and its event loop) with the
callback handler, a worker starts a message only once no callback is being acknowledged, or
after ``yield_max_s`` (``CallbacksInFlight``). Answering runs largely on the loop itself, so
without this a flood of callbacks queued behind the answers (issue 22); with it, under a
sustained flood, answers wait up to ``yield_max_s`` each.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Final

from bot.dispatcher import Dispatcher
from bot.metrics import Metrics
from bot.middlewares import OutOfOrder
from bot.models import InboundMessage
from bot.queue_worker import QueueConsumer, finish_or_cancel, keep_touched
from bot.storage.base import LockLost, LockTimeout, QueueEntry, Storage

log = logging.getLogger(__name__)

INBOUND_QUEUE: Final = "inbound"
INBOUND_GROUP: Final = "workers"
DEAD_LETTER_QUEUE: Final = "inbound-dead"


def dedup_key(channel: str, raw_id: str) -> str:
    return f"dedup:{channel}:{raw_id}"


def sequence_key(conversation_key: str) -> str:
    return f"seq:{conversation_key}"


class CallbacksInFlight:
    """The callbacks this process is acknowledging right now, for its inbound workers to wait
    on before they start a message (the acknowledgement is what WeCom times)."""

    def __init__(self) -> None:
        self._count = 0
        self._none = asyncio.Event()
        self._none.set()

    @contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Count one callback in flight for the duration of the block."""
        self._count += 1
        self._none.clear()
        try:
            yield
        finally:
            self._count -= 1
            if not self._count:
                self._none.set()

    async def none_pending(self, max_wait_s: float) -> None:
        """Return once no callback is in flight, or after ``max_wait_s`` at the most."""
        if self._count:
            with suppress(TimeoutError):
                async with asyncio.timeout(max_wait_s):
                    await self._none.wait()


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
    """A pool of workers draining the inbound queue into the dispatcher.

    A message whose conversation already has an earlier message in hand in this process does
    not hold a worker while it waits for it: it is set aside, in order, behind that message
    (still pending in the queue and touched, so a crash loses nothing), and the worker reads
    on. So a doctor who sends several messages quickly occupies one worker, not several, and
    other doctors' messages are not queued behind theirs. At most ``4 × workers`` messages are
    set aside at once; beyond that a message waits in its worker, as before.
    """

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
        yield_to: CallbacksInFlight | None = None,
        yield_max_s: float = 1.0,
    ) -> None:
        """``order_wait_s`` must exceed ``reclaim_idle_ms``: a message that finds an earlier one
        unfinished waits until a dead worker's entry was reclaimed and handled before it gives
        up on the order (the earlier message would otherwise be skipped as already handled).
        ``yield_to``: this process's callbacks in flight; a message is started only once there
        are none, or after ``yield_max_s`` (the entry in hand is kept touched meanwhile)."""
        self._storage = storage
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._workers = workers
        self._consumer = consumer or consumer_name()
        self._reclaim_idle_ms = reclaim_idle_ms
        self._max_deliveries = max_deliveries
        self._order_wait_s = order_wait_s
        self._yield_to = yield_to
        self._yield_max_s = yield_max_s
        self._consumers: list[QueueConsumer] = []
        # Per conversation: the seq of its latest message in hand here and when that is done.
        self._tails: dict[str, tuple[int, asyncio.Future[None]]] = {}
        self._set_aside: set[asyncio.Task[None]] = set()
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        for index in range(self._workers):
            name = f"{self._consumer}-w{index}"
            consumer = QueueConsumer(
                self._storage,
                self._metrics,
                queue=INBOUND_QUEUE,
                group=INBOUND_GROUP,
                consumer=name,
                process=partial(self._take, name),
                reclaim_idle_ms=self._reclaim_idle_ms,
            )
            consumer.start()
            self._consumers.append(consumer)

    async def stop(self) -> None:
        """Stop the workers (each finishes its entry in hand); messages set aside and not
        started yet stay pending in the queue, for a later start or another replica."""
        self._stopping = True
        await asyncio.gather(*(consumer.stop() for consumer in self._consumers))
        await asyncio.gather(*(finish_or_cancel(task, 10.0) for task in list(self._set_aside)))
        self._consumers.clear()

    async def _take(self, consumer: str, entry: QueueEntry) -> None:
        """Handle ``entry`` now, or set it aside behind its conversation's message in hand."""
        if self._yield_to is not None:
            await self._yield_to.none_pending(self._yield_max_s)
        try:
            message = message_from_entry(entry)
        except (KeyError, TypeError, ValueError):
            await self.process(entry)  # dead-lettered there
            return
        key = message.conversation_key
        tail = self._tails.get(key)
        done = asyncio.get_running_loop().create_future()
        if tail is not None and tail[0] < message.seq and not tail[1].done():
            if len(self._set_aside) < 4 * self._workers:
                self._tails[key] = (message.seq, done)
                task = asyncio.create_task(self._after(tail[1], consumer, entry, key, done))
                self._set_aside.add(task)
                task.add_done_callback(self._set_aside.discard)
                return
        elif tail is None or tail[1].done():
            self._tails[key] = (message.seq, done)
        try:
            await self.process(entry, consumer=consumer)
        finally:
            self._finished(key, done)

    async def _after(
        self,
        ahead: asyncio.Future[None],
        consumer: str,
        entry: QueueEntry,
        key: str,
        done: asyncio.Future[None],
    ) -> None:
        """Handle a set-aside entry once the message ahead of it is done (``_in_order``)."""
        try:
            await self._in_order(consumer, entry, ahead)
        finally:
            self._finished(key, done)

    async def _in_order(
        self, consumer: str, entry: QueueEntry, ahead: asyncio.Future[None] | None = None
    ) -> None:
        """Handle an entry away from the worker that read it, touched meanwhile: once
        ``ahead`` (its conversation's message in hand here) is done, or at once when it was
        read before its conversation's earlier message (the order check then makes it wait).
        After ``stop`` it is left pending instead."""
        touching = keep_touched(
            self._storage, INBOUND_QUEUE, INBOUND_GROUP, consumer, entry, self._reclaim_idle_ms
        )
        toucher = asyncio.create_task(touching, name=f"touch {entry.entry_id}")
        since = time.perf_counter()
        try:
            if ahead is not None:
                await asyncio.shield(ahead)
            if not self._stopping:
                await self.process(entry, waiting_since=since)
        except Exception:  # as a worker does: the entry stays pending and is retried
            self._metrics.errors.labels(f"worker:{INBOUND_QUEUE}").inc()
            log.exception("%s worker error; continuing", INBOUND_QUEUE)
        finally:
            toucher.cancel()

    def _finished(self, key: str, done: asyncio.Future[None]) -> None:
        done.set_result(None)
        tail = self._tails.get(key)
        if tail is not None and tail[1] is done:
            del self._tails[key]

    async def process(
        self, entry: QueueEntry, waiting_since: float | None = None, consumer: str | None = None
    ) -> None:
        """Handle one entry and acknowledge it; leaves it pending when handling must be retried.

        ``waiting_since`` (``time.perf_counter``): when a set-aside entry began to wait for its
        conversation, so the conversation lock's slow-wait warning counts that wait too.
        ``consumer``: the worker that read the entry. A message read before its conversation's
        earlier one (two workers' reads can come back in either order) then waits for it set
        aside, not in that worker, so other doctors' messages are not held behind it.
        """
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
                ctx = await self._dispatcher.feed(message, waiting_since=waiting_since)
            except OutOfOrder:
                if consumer is not None and len(self._set_aside) < 4 * self._workers:
                    task = asyncio.create_task(self._in_order(consumer, entry))
                    self._set_aside.add(task)
                    task.add_done_callback(self._set_aside.discard)
                    return
                if self._stopping:
                    return  # left pending: for a later start or another replica, in order
                if loop.time() < deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                # The earlier message is stuck (e.g. dead-lettered): don't block the conversation.
                log.warning("handling out of order", extra={"message_id": message.message_id})
                ctx = await self._dispatcher.feed(
                    message, accept_gap=True, waiting_since=waiting_since
                )
            except LockTimeout:  # a skill's own lock (the conversation lock waits its turn)
                self._metrics.errors.labels("lock").inc()
                return  # left pending: reclaimed and retried later
            except LockLost:  # our conversation lease ran out and another worker took over
                self._metrics.events.labels("lock_lost").inc()
                log.warning(
                    "conversation lock lost while handling: nothing saved or sent, left pending",
                    extra={"message_id": message.message_id,
                           "conversation": message.conversation_key},
                )  # fmt: skip
                return  # redelivered: handled again, or skipped if the new holder handled it
            break
        if ctx.data.get("duplicate"):
            self._metrics.events.labels("redelivery_skipped").inc()
        await self._storage.ack(INBOUND_QUEUE, INBOUND_GROUP, entry.entry_id)

    async def _dead_letter(self, entry: QueueEntry, reason: str) -> None:
        self._metrics.errors.labels("dead_letter").inc()
        await self._storage.enqueue(DEAD_LETTER_QUEUE, {"reason": reason, **entry.payload})
        await self._storage.ack(INBOUND_QUEUE, INBOUND_GROUP, entry.entry_id)
