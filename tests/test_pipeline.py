"""Pipeline and dispatcher: ordering, parallelism, redelivery, failing skills (both backends)."""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator

import pytest

from bot.dispatcher import UNHANDLED, Context, Dispatcher, HandlerResult, Router
from bot.metrics import Metrics
from bot.middlewares import OutOfOrder, load_conversation
from bot.models import Channel, InboundMessage
from bot.pipeline import (
    INBOUND_GROUP,
    INBOUND_QUEUE,
    CallbacksInFlight,
    InboundWorkers,
    message_from_entry,
    submit_inbound,
)
from bot.runtime import build_runtime
from bot.settings import load_settings
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage
from tests.helpers import RecordingSender, drain_inbound, text_message
from tests.storage_backends import Backend, Renewals


def message(conversation: str, text: str, message_id: str) -> InboundMessage:
    return text_message(conversation, text, message_id)


class Probe:
    """A skill that records overlap and order, with a configurable delay.

    ``meet``: a handling waits until that many handlings are under way at once; once they
    met, nobody waits any more.
    """

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.meet = 0
        self.met = asyncio.Event()
        self.active: dict[str, int] = {}
        self.max_active_per_conversation = 0
        self.max_active_total = 0
        self.seen: dict[str, list[str]] = {}

    def router(self) -> Router:
        router = Router("probe", priority=100)

        @router.message(lambda ctx: ctx.message.text.startswith("boom"))
        async def explode(ctx: Context) -> None:
            raise RuntimeError("skill bug")

        @router.message(lambda ctx: ctx.message.text == "pass")
        async def decline(ctx: Context) -> HandlerResult:
            return UNHANDLED

        @router.message(lambda ctx: ctx.message.text != "pass")
        async def record(ctx: Context) -> None:
            key = ctx.message.conversation_key
            self.active[key] = self.active.get(key, 0) + 1
            total = sum(self.active.values())
            self.max_active_per_conversation = max(
                self.max_active_per_conversation, self.active[key]
            )
            self.max_active_total = max(self.max_active_total, total)
            if self.meet and total >= self.meet:
                self.met.set()
            if self.meet:
                async with asyncio.timeout(60):  # only stops a hang (handlings never overlap)
                    await self.met.wait()
            await asyncio.sleep(self.delay_s)
            self.seen.setdefault(key, []).append(ctx.message.text)
            ctx.conversation.data["count"] = ctx.conversation.data.get("count", 0) + 1
            ctx.reply(f"echo {ctx.message.text}")
            self.active[key] -= 1

        return router


@pytest.fixture
async def bot(storage: Storage) -> AsyncIterator[tuple[Dispatcher, RecordingSender, Probe]]:
    sender = RecordingSender()
    probe = Probe()
    settings = load_settings(workers=4)
    _, dispatcher = build_runtime(settings, storage, senders={Channel.CONSOLE: sender})
    dispatcher.include_router(probe.router())
    yield dispatcher, sender, probe


async def test_one_conversation_is_serialised_in_order(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    dispatcher, sender, probe = bot
    probe.delay_s = 0.005
    for index in range(12):
        assert await submit_inbound(storage, message("c1", f"m{index}", f"id{index}"), 3600)
    workers = InboundWorkers(storage, dispatcher, Metrics(), workers=4)
    await drain_inbound(workers, storage)
    assert probe.seen["c1"] == [f"m{index}" for index in range(12)]
    assert probe.max_active_per_conversation == 1
    assert sender.texts("c1") == [f"echo m{index}" for index in range(12)]


async def test_two_conversations_run_in_parallel(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    """Two conversations' messages are handled at the same time: each handling waits until the
    other conversation's is under way too (an event, however slow the machine), which would
    never happen were they serialised; one conversation's never overlap."""
    dispatcher, _, probe = bot
    probe.meet = 2
    for index in range(3):
        await submit_inbound(storage, message("a", f"a{index}", f"a{index}"), 3600)
        await submit_inbound(storage, message("b", f"b{index}", f"b{index}"), 3600)
    workers = InboundWorkers(storage, dispatcher, Metrics(), workers=4)
    await drain_inbound(workers, storage)
    assert probe.seen == {"a": ["a0", "a1", "a2"], "b": ["b0", "b1", "b2"]}
    assert probe.max_active_total == 2
    assert probe.max_active_per_conversation == 1


async def test_a_message_waiting_for_its_conversation_holds_no_worker(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    """Two workers; doctor a's first message is still in hand when a's second and then b's
    message arrive: b is answered meanwhile (a's second is set aside, not holding the other
    worker), and a's second follows a's first, in order."""
    dispatcher, sender, _ = bot
    release, in_hand = asyncio.Event(), asyncio.Event()
    gate = Router("gate", priority=1000)

    @gate.message(lambda ctx: ctx.message.text == "slow")
    async def slow(ctx: Context) -> None:
        in_hand.set()
        await release.wait()
        ctx.reply("echo slow")

    dispatcher.include_router(gate)
    await submit_inbound(storage, message("a", "slow", "a0"), 3600)
    workers = InboundWorkers(storage, dispatcher, Metrics(), workers=2)
    workers.start()
    try:
        # a's first message is in hand before the others arrive: with all three queued at
        # once, the two workers' reads could come back in either order on a loaded machine,
        # and a1 taken first waits for a0 in its worker (the order check), not set aside.
        async with asyncio.timeout(60):  # only stops a hang
            await in_hand.wait()
        await submit_inbound(storage, message("a", "a1", "a1"), 3600)
        await submit_inbound(storage, message("b", "b0", "b0"), 3600)
        async with asyncio.timeout(20):  # only stops a hang
            while sender.texts("b") != ["echo b0"]:  # noqa: ASYNC110 (the sender has no event)
                await asyncio.sleep(0.01)
        assert sender.texts("a") == []
        release.set()
        while await storage.queue_depth(INBOUND_QUEUE, INBOUND_GROUP):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    finally:
        release.set()
        await workers.stop()
    assert sender.texts("a") == ["echo slow", "echo a1"]


async def test_a_message_read_before_its_earlier_one_holds_no_worker(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    """Two workers' reads can come back in either order: a's second message may be in hand
    before a's first. It waits for the first set aside, not in its worker, so the one worker
    here still answers b meanwhile (a's first is held by another, silent consumer)."""
    dispatcher, sender, _ = bot
    await submit_inbound(storage, message("a", "a0", "a0"), 3600)
    await submit_inbound(storage, message("a", "a1", "a1"), 3600)
    [held] = await storage.consume(INBOUND_QUEUE, INBOUND_GROUP, "elsewhere", count=1)
    assert message_from_entry(held).message_id == "a0"
    workers = InboundWorkers(
        storage, dispatcher, Metrics(), workers=1, reclaim_idle_ms=600_000, order_wait_s=900.0
    )
    workers.start()
    try:
        await submit_inbound(storage, message("b", "b0", "b0"), 3600)
        async with asyncio.timeout(60):  # only stops a hang
            while sender.texts("b") != ["echo b0"]:  # noqa: ASYNC110 (the sender has no event)
                await asyncio.sleep(0.01)
        assert sender.texts("a") == []  # a1 still waits for a0, in order
    finally:
        await workers.stop()
    assert sender.texts("a") == []
    assert await storage.queue_depth(INBOUND_QUEUE, INBOUND_GROUP) == 2  # a0 and a1 pending


async def _answered(sender: RecordingSender, expected: list[str]) -> None:
    async with asyncio.timeout(20):  # only stops a hang
        while sender.texts() != expected:  # noqa: ASYNC110 (the sender has no event)
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("yield_max_s", [3600.0, 0.05])
async def test_workers_start_a_message_only_once_no_callback_is_being_acknowledged(
    yield_max_s: float,
) -> None:
    """In-process workers yield to the callbacks (issue 22): a message waits while one is in
    flight — until it is acknowledged, or ``yield_max_s`` at the most under a steady flood."""
    storage, sender = MemoryStorage(), RecordingSender()
    _, dispatcher = build_runtime(load_settings(), storage, senders={Channel.CONSOLE: sender})
    dispatcher.include_router(Probe().router())
    in_flight = CallbacksInFlight()
    await submit_inbound(storage, message("a", "a0", "a0"), 3600)
    workers = InboundWorkers(
        storage, dispatcher, Metrics(), workers=2, yield_to=in_flight, yield_max_s=yield_max_s
    )
    try:
        with in_flight.acknowledging():
            workers.start()
            if yield_max_s > 60:  # waits for the acknowledgement (a late answer cannot fail this)
                await asyncio.sleep(0.2)
                assert sender.texts() == []
            else:  # a callback that never ends holds answering back only so long
                await _answered(sender, ["echo a0"])
        await _answered(sender, ["echo a0"])
    finally:
        await workers.stop()


async def test_a_stalled_holder_taken_over_saves_and_sends_nothing(
    storage: Storage, backend: Backend, renewals: Renewals, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 22: worker A stalls mid-message past its conversation lease (no renewal runs);
    worker B reclaims the message and handles it. When A wakes, its save is refused: the final
    state is B's, the doctor got one answer, and A left the entry to B (acknowledged once)."""
    sender = RecordingSender()
    settings = load_settings(conversation_lock_lease_s=30.0)
    services, dispatcher = build_runtime(settings, storage, senders={Channel.CONSOLE: sender})
    stalled, wake = asyncio.Event(), asyncio.Event()
    handlings: list[str] = []
    gate = Router("gate", priority=1000)

    @gate.message(lambda ctx: ctx.message.text == "question")
    async def answer(ctx: Context) -> None:
        worker = "A" if not handlings else "B"
        handlings.append(worker)
        if worker == "A":
            stalled.set()
            await wake.wait()  # starved: its lease runs out meanwhile
        ctx.conversation.data["answered_by"] = worker
        ctx.reply(f"answer from {worker}")

    dispatcher.include_router(gate)
    await submit_inbound(storage, message("c", "question", "m1"), 3600)
    worker_a = InboundWorkers(storage, dispatcher, services.metrics, workers=1, consumer="A")
    worker_b = InboundWorkers(storage, dispatcher, services.metrics, workers=1, consumer="B")
    [entry] = await storage.consume(INBOUND_QUEUE, INBOUND_GROUP, "A-w0", count=1)
    handling_a = asyncio.create_task(worker_a.process(entry))
    await stalled.wait()
    await backend.lapse("lock:conv:c", 30.0)
    [reclaimed] = await storage.reclaim(INBOUND_QUEUE, INBOUND_GROUP, "B-w0", min_idle_ms=0)
    await worker_b.process(reclaimed)
    assert sender.texts() == ["answer from B"]
    with caplog.at_level(logging.WARNING):
        wake.set()
        await handling_a
    assert "conversation lock lost while handling" in caplog.text
    assert services.metrics.events.labels("lock_lost")._value.get() == 1
    conversation = await load_conversation(storage, "c")
    assert conversation is not None
    assert (conversation.data["answered_by"], conversation.last_seq) == ("B", 1)
    assert sender.texts() == ["answer from B"]  # A sent nothing, nothing twice
    assert await storage.queue_depth(INBOUND_QUEUE, INBOUND_GROUP) == 0
    assert handlings == ["A", "B"]


async def test_duplicate_submission_is_handled_once(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    dispatcher, sender, _ = bot
    first = message("c", "hello", "same-id")
    assert await submit_inbound(storage, first, 3600)
    assert not await submit_inbound(storage, first, 3600)
    await drain_inbound(InboundWorkers(storage, dispatcher, Metrics(), workers=2), storage)
    assert sender.texts() == ["echo hello"]


async def test_redelivered_entry_is_not_handled_twice(
    storage: Storage, backend: Backend, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    """A worker that handled a message but died before acking: the reclaimer skips it."""
    dispatcher, sender, probe = bot
    await submit_inbound(storage, message("c", "once", "m1"), 3600)
    [entry] = await storage.consume(INBOUND_QUEUE, INBOUND_GROUP, "dying-worker", count=1)
    await dispatcher.feed(message_from_entry(entry))
    # ... the worker dies here, without acking; another worker reclaims the entry.
    workers = InboundWorkers(storage, dispatcher, Metrics(), workers=1, reclaim_idle_ms=1)
    await backend.advance(0.01)
    await drain_inbound(workers, storage)
    assert probe.seen["c"] == ["once"]
    assert sender.texts() == ["echo once"]


async def test_crashed_worker_entry_is_reclaimed_and_processed(
    storage: Storage, backend: Backend, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    dispatcher, sender, _ = bot
    await submit_inbound(storage, message("c", "lost?", "m1"), 3600)
    await storage.consume(INBOUND_QUEUE, INBOUND_GROUP, "crashed-before-handling", count=1)
    workers = InboundWorkers(storage, dispatcher, Metrics(), workers=1, reclaim_idle_ms=1)
    await backend.advance(0.01)
    await drain_inbound(workers, storage)
    assert sender.texts() == ["echo lost?"]


async def test_raising_skill_gets_apology_and_worker_continues(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    dispatcher, sender, _ = bot
    await submit_inbound(storage, message("c", "boom 你好", "m1"), 3600)
    await submit_inbound(storage, message("c", "after", "m2"), 3600)
    metrics = dispatcher.services.metrics
    await drain_inbound(InboundWorkers(storage, dispatcher, metrics, workers=1), storage)
    texts = sender.texts()
    assert texts[0].startswith("抱歉")
    assert texts[1] == "echo after"
    assert metrics.errors.labels("skill")._value.get() == 1


async def test_declining_handler_passes_to_next_router(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    dispatcher, sender, _ = bot
    ctx = await dispatcher.feed(message("c", "pass", "m1"))
    assert ctx.skill == "qa"  # the next router for text: the Q&A catch-all (asks with a menu)
    assert sender.sent[0].replies[0].type == "menu"


async def test_state_persists_between_messages(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    dispatcher, _, _ = bot
    for index in range(3):
        ctx = await dispatcher.feed(message("c", f"n{index}", f"m{index}"))
    assert ctx.conversation.data["count"] == 3


async def test_message_that_overtook_its_predecessor_is_refused_until_allowed(
    storage: Storage, bot: tuple[Dispatcher, RecordingSender, Probe]
) -> None:
    dispatcher, _, _ = bot
    for index in (1, 2):
        await submit_inbound(storage, message("c", f"m{index}", f"m{index}"), 3600)
    entries = await storage.consume(INBOUND_QUEUE, INBOUND_GROUP, "w", count=2)
    first, second = (message_from_entry(e) for e in entries)
    await dispatcher.feed(first)
    assert (await dispatcher.feed(second)).conversation.last_seq == 2
    overtaking = second.model_copy(update={"seq": 5, "message_id": "m5"})
    with pytest.raises(OutOfOrder):
        await dispatcher.feed(overtaking)
    assert (await dispatcher.feed(overtaking, accept_gap=True)).conversation.last_seq == 5


async def test_rapid_messages_wait_their_turn_and_a_long_wait_is_logged(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """Messages queued behind a slow one are answered in order, none dropped on the lock."""
    sender = RecordingSender()
    probe = Probe(delay_s=0.3)
    settings = load_settings(conversation_lock_lease_s=0.2, lock_wait_warn_s=0.05)
    services, dispatcher = build_runtime(settings, storage, senders={Channel.CONSOLE: sender})
    dispatcher.include_router(probe.router())
    for index in range(3):
        await submit_inbound(storage, message("c", f"long {index}", f"id{index}"), 3600)
    with caplog.at_level(logging.WARNING, logger="virtualrep.messages"):
        await drain_inbound(
            InboundWorkers(storage, dispatcher, services.metrics, workers=3), storage
        )
    assert sender.texts() == [f"echo long {index}" for index in range(3)]
    assert services.metrics.errors.labels("lock")._value.get() == 0
    assert "message waited for its conversation" in caplog.text


KILLED_WORKER = """
import asyncio, sys
from bot.storage.redis import RedisStorage

async def main() -> None:
    url, prefix, conversation = sys.argv[1:4]
    storage = RedisStorage.from_url(url, prefix=prefix)
    await storage.consume("inbound", "workers", "killed-worker", count=1)
    async with storage.lock(f"lock:conv:{conversation}", timeout_s=1.0, blocking_timeout_s=None):
        print("holding", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_killed_workers_conversation_resumes_after_one_lease(redis_url: str) -> None:
    """A worker killed (SIGKILL) mid-message holds the conversation only until its lease ends;
    the message it had is reclaimed and handled first, then the next one, nothing lost."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    storage = RedisStorage.from_url(redis_url, prefix=prefix)
    sender = RecordingSender()
    settings = load_settings(conversation_lock_lease_s=1.0)
    services, dispatcher = build_runtime(settings, storage, senders={Channel.CONSOLE: sender})
    dispatcher.include_router(Probe().router())
    try:
        await submit_inbound(storage, message("doc", "first", "m1"), 3600)
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", KILLED_WORKER, redis_url, prefix, "doc", stdout=PIPE
        )
        assert worker.stdout is not None
        assert await asyncio.wait_for(worker.stdout.readline(), 60) == b"holding\n"
        worker.kill()
        await worker.wait()
        await submit_inbound(storage, message("doc", "second", "m2"), 3600)
        workers = InboundWorkers(
            storage, dispatcher, services.metrics, workers=2, reclaim_idle_ms=500
        )
        await drain_inbound(workers, storage, timeout_s=60)
        assert sender.texts() == ["echo first", "echo second"]
    finally:
        await storage.close()
