"""One behaviour suite for every ``Storage`` backend (memory, SQLite and a real redis-server)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot import queue_worker
from bot.metrics import Metrics
from bot.queue_worker import QueueConsumer
from bot.settings import load_settings
from bot.storage.base import (
    Document,
    LockLost,
    LockTimeout,
    QueueEntry,
    Storage,
    StorageError,
)
from bot.storage.factory import create_storage
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage
from bot.storage.sqlite import SqliteStorage
from tests.storage_backends import Backend, Renewals, free_port

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


async def test_implements_the_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    assert await storage.ping()


# -- JSON documents, claims, counters, sets ---------------------------------------------------


async def test_json_round_trip_and_delete(storage: Storage) -> None:
    document = {"医生": "张三", "tags": ["心内科", "hcp"], "n": 1.5, "none": None}
    await storage.set_json("doc", document)
    assert await storage.get_json("doc") == document
    assert await storage.get_json("missing") is None
    await storage.delete("doc")
    await storage.delete("doc")  # deleting twice is harmless
    assert await storage.get_json("doc") is None


async def test_ttl_expiry(backend: Backend) -> None:
    storage = backend.storage
    await storage.set_json("short", {"v": 1}, ttl_s=1)
    await storage.set_json("long", {"v": 2}, ttl_s=600)
    await storage.set_json("forever", {"v": 3})
    assert await storage.claim("claim", ttl_s=1)
    assert await storage.incr("window", ttl_s=1) == 1
    assert await storage.incr("window", ttl_s=1) == 2  # later increments keep the first expiry
    await backend.advance(1.2)
    assert await storage.get_json("short") is None
    assert await storage.get_json("long") == {"v": 2}
    assert await storage.get_json("forever") == {"v": 3}
    assert await storage.claim("claim", ttl_s=1)  # the old claim expired: won again
    assert await storage.get_counter("window") == 0
    assert await storage.incr("window", ttl_s=1) == 1


async def test_claim_first_caller_wins(backend: Backend) -> None:
    callers = [backend.storage, backend.sibling()] * 10
    results = await asyncio.gather(*(caller.claim("msg:42", ttl_s=60) for caller in callers))
    assert results.count(True) == 1
    assert not await backend.storage.claim("msg:42", ttl_s=60)
    assert await backend.storage.claim("msg:43", ttl_s=60)


async def test_counters(storage: Storage) -> None:
    assert await storage.get_counter("c") == 0
    assert await storage.incr("c") == 1
    assert await storage.incr("c", 5) == 6
    assert await storage.incr("c", -2) == 4
    assert await storage.get_counter("c") == 4
    await asyncio.gather(*(storage.incr("race") for _ in range(50)))
    assert await storage.get_counter("race") == 50


async def test_counter_on_a_document_is_a_storage_error(storage: Storage) -> None:
    await storage.set_json("doc", {"a": 1})
    with pytest.raises(StorageError):
        await storage.incr("doc")


async def test_sets(storage: Storage) -> None:
    assert await storage.set_members("open") == set()
    await storage.set_add("open", "case-1", "case-2", "病例-3")
    await storage.set_add("open", "case-1")
    await storage.set_add("open")  # nothing to add is fine
    assert await storage.set_members("open") == {"case-1", "case-2", "病例-3"}
    await storage.set_remove("open", "case-2", "never-there")
    await storage.set_remove("open")
    assert await storage.set_members("open") == {"case-1", "病例-3"}
    await storage.set_remove("open", "case-1", "病例-3")
    assert await storage.set_members("open") == set()


# -- locks ---------------------------------------------------------------------------------------


async def test_lock_excludes_and_times_out(backend: Backend) -> None:
    storage, other = backend.storage, backend.sibling()
    async with storage.lock("token-refresh"):
        with pytest.raises(LockTimeout):
            async with other.lock("token-refresh", blocking_timeout_s=0.05):
                pytest.fail("the lock was held twice")
        async with other.lock("another-name", blocking_timeout_s=0):
            pass
    async with other.lock("token-refresh", blocking_timeout_s=0):
        pass


async def test_lock_waiter_gets_it_after_release(backend: Backend) -> None:
    storage, other = backend.storage, backend.sibling()
    order: list[str] = []
    holding = asyncio.Event()

    async def first() -> None:
        async with storage.lock("l"):
            holding.set()
            await asyncio.sleep(0.05)
            order.append("first done")

    async def second() -> None:
        await holding.wait()
        async with other.lock("l", blocking_timeout_s=None):
            order.append("second in")

    await asyncio.gather(first(), second())
    assert order == ["first done", "second in"]


async def test_lock_of_a_stopped_holder_expires(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    holder, other = backend.sibling(), backend.sibling()
    async with AsyncExitStack() as crashed:
        await crashed.enter_async_context(holder.lock("l", timeout_s=0.2))
        await holder.close()  # the holder's process "died": nothing renews its lease any more
        await backend.advance(0.3)
        async with other.lock("l", timeout_s=30, blocking_timeout_s=0):
            with caplog.at_level(logging.WARNING):
                await crashed.aclose()  # the late release must not free the new holder's lock
            assert "expired" in caplog.text
            with pytest.raises(LockTimeout):
                async with backend.sibling().lock("l", blocking_timeout_s=0):
                    pytest.fail("a late release freed someone else's lock")


async def test_a_lease_that_ran_out_is_not_renewed(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A holder whose lease ran out before a renewal got to it has lost the lock for good."""
    if backend.clock is None:
        pytest.skip("Redis expires keys on its own clock, which a test cannot jump past a renewal")
    with caplog.at_level(logging.WARNING):
        async with backend.storage.lock("l", timeout_s=0.3):
            await backend.advance(0.4)  # the lease ran out before its first renewal (0.1 s)
            await asyncio.sleep(0.2)  # that renewal runs and finds it lost
            assert "was lost" in caplog.text
            async with backend.sibling().lock("l", timeout_s=30, blocking_timeout_s=0):
                pass  # free for anyone


async def test_lock_is_renewed_while_its_holder_works(backend: Backend, renewals: Renewals) -> None:
    """A holder at work keeps the lock for many leases; a waiter gets it right after release.

    Renewals run when the test says (``renewals.tick``), not on the event loop's timers, so a
    starved machine cannot make this fail: each renewal pushes the lease's end further, and
    on the fake clocks the holder works past two whole leases."""
    storage, other = backend.storage, backend.sibling()
    order: list[str] = []
    holding = asyncio.Event()

    async def waiter() -> None:
        await holding.wait()
        async with other.lock("l", timeout_s=30.0, blocking_timeout_s=None):
            order.append("waiter in")

    waiting = asyncio.create_task(waiter())
    async with storage.lock("l", timeout_s=30.0):
        holding.set()
        end = await backend.lease_end("l")
        for _ in range(4):  # fake clocks: 80 s of work on a 30 s lease
            await backend.advance(20.0 if backend.clock is not None else 0.01)
            await renewals.tick()
            renewed = await backend.lease_end("l")
            assert renewed > end
            end = renewed
            with pytest.raises(LockTimeout):
                async with other.lock("l", blocking_timeout_s=0):
                    pytest.fail("a renewed lease expired")
        order.append("holder done")
    await waiting
    assert order == ["holder done", "waiter in"]


# -- writes fenced by a lock (issue 22) -----------------------------------------------------------


async def test_a_holder_taken_over_cannot_write_state(
    backend: Backend, renewals: Renewals, caplog: pytest.LogCaptureFixture
) -> None:
    """A stalled holder whose lease ran out and was taken over writes nothing, during the new
    holding or after it; the new holder's state survives whole."""
    stalled, other = backend.storage, backend.sibling()
    async with stalled.lock("lock:conv:c", timeout_s=30.0) as old:
        await stalled.set_json_fenced(old, Document("conv:c", {"by": "old", "seq": 1}))
        await backend.lapse("lock:conv:c", 30.0)  # the holder stalled: no renewal ran
        async with other.lock("lock:conv:c", timeout_s=30.0, blocking_timeout_s=0) as new:
            assert new != old
            await other.set_json_fenced(
                new, Document("conv:c", {"by": "new", "seq": 2}), Document("profile:d", 2, 600)
            )
            with pytest.raises(LockLost):
                await stalled.set_json_fenced(
                    old, Document("profile:d", 1), Document("conv:c", {"by": "old", "seq": 2})
                )
        with pytest.raises(LockLost):  # the new holder released: still not the old one's
            await stalled.set_json_fenced(old, Document("conv:c", {"by": "old", "seq": 3}))
    assert "expired before its holder released it" in caplog.text
    assert await other.get_json("conv:c") == {"by": "new", "seq": 2}
    assert await other.get_json("profile:d") == 2
    assert issubclass(LockLost, StorageError)  # callers that only know StorageError stop too


async def test_a_holder_within_its_lease_writes_and_renewal_keeps_it_valid(
    backend: Backend, renewals: Renewals
) -> None:
    storage, other = backend.storage, backend.sibling()
    async with storage.lock("lock:conv:c", timeout_s=30.0) as fence:
        await storage.set_json_fenced(fence, Document("conv:c", {"seq": 1}, 600))
        first_end = await backend.lease_end("lock:conv:c")
        await backend.advance(10.0 if backend.clock is not None else 0.01)
        await renewals.tick()
        assert await backend.lease_end("lock:conv:c") > first_end
        if backend.clock is not None:  # past the first lease, within the renewed one
            await backend.advance(25.0)
        with pytest.raises(LockTimeout):
            async with other.lock("lock:conv:c", blocking_timeout_s=0):
                pytest.fail("a renewed lease was taken")
        await storage.set_json_fenced(fence, Document("conv:c", {"seq": 2}, 600))
    assert await other.get_json("conv:c") == {"seq": 2}


async def test_a_lease_that_ran_out_untaken_still_fences(
    backend: Backend, renewals: Renewals
) -> None:
    """Nobody took the lock while its holder stalled: nothing newer exists, so it writes."""
    storage = backend.storage
    async with storage.lock("lock:conv:c", timeout_s=30.0) as fence:
        await backend.lapse("lock:conv:c", 30.0)
        await storage.set_json_fenced(fence, Document("conv:c", {"seq": 1}))
    assert await storage.get_json("conv:c") == {"seq": 1}
    async with storage.lock("lock:conv:c", blocking_timeout_s=0):
        pass  # released and free


# -- durable queues ------------------------------------------------------------------------------


async def test_queue_delivers_in_order_and_ack_removes(storage: Storage) -> None:
    ids = [await storage.enqueue("inbound", {"n": n, "text": "你好"}) for n in range(3)]
    assert len(set(ids)) == 3
    assert await storage.queue_depth("inbound", "workers") == 3  # group not created yet
    first = await storage.consume("inbound", "workers", "w1", count=2, block_ms=0)
    assert [e.payload["n"] for e in first] == [0, 1]
    assert [e.entry_id for e in first] == ids[:2]
    assert all(e.deliveries == 1 and e.queue == "inbound" for e in first)
    assert await storage.queue_depth("inbound", "workers") == 3  # two pending + one waiting
    second = await storage.consume("inbound", "workers", "w2", count=5, block_ms=0)
    assert [e.payload for e in second] == [{"n": 2, "text": "你好"}]
    for entry in first + second:
        await storage.ack("inbound", "workers", entry.entry_id)
    assert await storage.queue_depth("inbound", "workers") == 0
    assert await storage.consume("inbound", "workers", "w1", block_ms=0) == []
    # another group sees every entry from the start
    assert await storage.queue_depth("inbound", "audit") == 3
    audit = await storage.consume("inbound", "audit", "a1", count=10, block_ms=0)
    assert [e.payload["n"] for e in audit] == [0, 1, 2]


async def test_unacked_entry_is_reclaimed_after_its_consumer_dies(backend: Backend) -> None:
    storage, other = backend.storage, backend.sibling()
    await storage.enqueue("inbound", {"n": 1})
    [delivered] = await storage.consume("inbound", "workers", "dies", block_ms=0)
    # not idle long enough yet: nothing to take over, and no new entry for anyone
    assert await other.reclaim("inbound", "workers", "rescuer", min_idle_ms=60_000) == []
    assert await other.consume("inbound", "workers", "rescuer", block_ms=0) == []
    await backend.advance(0.15)
    [rescued] = await other.reclaim("inbound", "workers", "rescuer", min_idle_ms=100)
    assert rescued.entry_id == delivered.entry_id
    assert rescued.payload == {"n": 1}
    assert rescued.deliveries == 2
    assert await storage.queue_depth("inbound", "workers") == 1
    await backend.advance(0.15)
    [again] = await storage.reclaim("inbound", "workers", "third", min_idle_ms=100)
    assert again.deliveries == 3
    await storage.ack("inbound", "workers", again.entry_id)
    await backend.advance(0.15)
    assert await other.reclaim("inbound", "workers", "rescuer", min_idle_ms=100) == []
    assert await storage.queue_depth("inbound", "workers") == 0


async def test_reclaim_respects_count_and_unknown_group(backend: Backend) -> None:
    storage = backend.storage
    assert await storage.reclaim("nothing", "workers", "c", min_idle_ms=0) == []
    for n in range(5):
        await storage.enqueue("q", {"n": n})
    await storage.consume("q", "workers", "dies", count=5, block_ms=0)
    await backend.advance(0.15)
    taken = await storage.reclaim("q", "workers", "c", min_idle_ms=100, count=3)
    assert [e.payload["n"] for e in taken] == [0, 1, 2]
    rest = await storage.reclaim("q", "workers", "c", min_idle_ms=100, count=10)
    assert [e.payload["n"] for e in rest] == [3, 4]


async def test_trim_removes_only_what_every_group_acknowledged(backend: Backend) -> None:
    storage = backend.storage
    assert await storage.trim_acknowledged("nothing") == 0
    ids = [await storage.enqueue("q", {"n": n}) for n in range(6)]
    assert await storage.trim_acknowledged("q") == 0  # no group yet: all of it is still owed
    workers = await storage.consume("q", "workers", "w", count=4, block_ms=0)
    for entry in workers:
        if entry.payload["n"] != 2:
            await storage.ack("q", "workers", entry.entry_id)
    [first] = await storage.consume("q", "audit", "a", block_ms=0)
    await storage.ack("q", "audit", first.entry_id)
    # workers still have n=2 pending; the lagging audit group has only acknowledged n=0
    assert await storage.trim_acknowledged("q") == 1
    audit = await storage.consume("q", "audit", "a", count=10, block_ms=0)
    assert [e.payload["n"] for e in audit] == [1, 2, 3, 4, 5]
    for entry in audit:
        await storage.ack("q", "audit", entry.entry_id)
    assert await storage.trim_acknowledged("q") == 1  # n=1; n=2 is pending for workers
    await backend.advance(0.15)
    [rescued] = await storage.reclaim("q", "workers", "w2", min_idle_ms=100)
    assert (rescued.entry_id, rescued.deliveries) == (ids[2], 2)
    await storage.ack("q", "workers", rescued.entry_id)
    assert await storage.trim_acknowledged("q") == 2  # n=2, 3; n=4, 5 never reached workers
    assert await storage.queue_depth("q", "workers") == 2
    assert await storage.queue_depth("q", "audit") == 0
    rest = await storage.consume("q", "workers", "w", count=10, block_ms=0)
    assert [e.entry_id for e in rest] == ids[4:]
    for entry in rest:
        await storage.ack("q", "workers", entry.entry_id)
    assert await storage.trim_acknowledged("q") == 2
    assert await storage.trim_acknowledged("q") == 0
    # the emptied queue keeps its groups and works as before
    late = await storage.enqueue("q", {"n": 6})
    assert await storage.queue_depth("q", "workers") == 1
    [entry] = await storage.consume("q", "workers", "w", count=10, block_ms=0)
    assert (entry.entry_id, entry.payload) == (late, {"n": 6})
    assert await storage.trim_acknowledged("q") == 0  # pending
    assert await storage.queue_depth("q", "audit") == 1


async def test_trim_keeps_pending_and_undelivered_entries(storage: Storage) -> None:
    ids = [await storage.enqueue("q", {"n": n}) for n in range(3)]
    [pending] = await storage.consume("q", "workers", "w", block_ms=0)
    assert await storage.trim_acknowledged("q") == 0
    await storage.ack("q", "workers", pending.entry_id)
    assert await storage.trim_acknowledged("q") == 1
    assert [e.entry_id for e in await storage.consume("q", "workers", "w", count=5)] == ids[1:]
    assert await storage.queue_depth("q", "workers") == 2
    assert await storage.queue_depth("q", "new-group") == 2  # a new group starts at what is left


async def test_unacknowledged_reads_what_a_group_owes_without_delivering(storage: Storage) -> None:
    assert await storage.unacknowledged("nothing", "ops") == []
    ids = [await storage.enqueue("q", {"n": n, "text": "皮疹"}) for n in range(5)]
    owed = await storage.unacknowledged("q", "ops")  # no group yet: it owes everything
    assert [(e.entry_id, e.deliveries) for e in owed] == [(i, 0) for i in ids]
    assert owed[0] == QueueEntry("q", ids[0], {"n": 0, "text": "皮疹"}, 0)
    assert await storage.queue_depth("q", "ops") == 5  # reading created nothing
    delivered = await storage.consume("q", "ops", "o", count=3, block_ms=0)
    assert [e.entry_id for e in delivered] == ids[:3]  # reading delivered nothing
    await storage.ack("q", "ops", ids[1])
    owed = await storage.unacknowledged("q", "ops")
    assert [(e.entry_id, e.deliveries) for e in owed] == [
        (ids[0], 1), (ids[2], 1), (ids[3], 0), (ids[4], 0)
    ]  # fmt: skip
    assert [e.entry_id for e in await storage.unacknowledged("q", "ops", count=3)] == [
        ids[0], ids[2], ids[3]
    ]  # fmt: skip
    assert await storage.unacknowledged("q", "ops", count=0) == []
    assert [e.entry_id for e in await storage.consume("q", "ops", "o", count=5, block_ms=0)] == (
        ids[3:]
    )  # the read did not move the group on
    for entry_id in ids:
        await storage.ack("q", "ops", entry_id)
    assert await storage.unacknowledged("q", "ops") == []
    assert [e.entry_id for e in await storage.unacknowledged("q", "other")] == ids


async def test_queue_consumer_trims_what_it_acknowledged(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not after the first batch (a reader that joins just after start-up still finds what the
    last run left), then once the trim interval has passed."""

    async def process(entry: QueueEntry) -> None:
        await storage.ack("q", "workers", entry.entry_id)

    monkeypatch.setattr(queue_worker, "TRIM_INTERVAL_S", 0.0)
    for n in range(3):
        await storage.enqueue("q", {"n": n})
    consumer = QueueConsumer(
        storage, Metrics(), queue="q", group="workers", consumer="w", process=process, count=3
    )
    assert await consumer.run_once(block_ms=0) == 3
    assert await storage.queue_depth("q", "audit") == 3  # the first batch trims nothing
    await storage.enqueue("q", {"n": 3})
    assert await consumer.run_once(block_ms=0) == 1
    assert await storage.queue_depth("q", "audit") == 0  # the interval passed: all four trimmed


async def test_consume_waits_for_an_entry(storage: Storage) -> None:
    assert await storage.consume("empty", "g", "c", block_ms=30) == []

    async def produce_later() -> None:
        await asyncio.sleep(0.05)
        await storage.enqueue("slow", {"late": True})

    producer = asyncio.create_task(produce_later())
    entries = await storage.consume("slow", "g", "c", block_ms=4000)
    await producer
    assert [e.payload for e in entries] == [{"late": True}]


async def test_enqueue_once_dedups_and_numbers(backend: Backend) -> None:
    storage = backend.storage
    seqs = [
        await storage.enqueue_once(f"dedup:{msg}", 60, "inbound", {"msg": msg}, "seq:conv-a")
        for msg in ("m1", "m2", "m1", "m3")
    ]
    assert seqs == [1, 2, None, 3]
    assert await storage.enqueue_once("dedup:x", 60, "inbound", {"msg": "x"}, "seq:conv-b") == 1
    entries = await storage.consume("inbound", "g", "c", count=10, block_ms=0)
    assert [e.payload for e in entries] == [
        {"msg": "m1", "seq": 1},
        {"msg": "m2", "seq": 2},
        {"msg": "m3", "seq": 3},
        {"msg": "x", "seq": 1},
    ]
    # a burst of duplicates from two replicas: one winner, numbers stay dense
    callers = [storage, backend.sibling()] * 5
    results = await asyncio.gather(
        *(c.enqueue_once("dedup:burst", 60, "inbound", {}, "seq:conv-a") for c in callers)
    )
    assert sorted(results, key=lambda r: r or 0) == [None] * 9 + [4]


# -- scheduler -----------------------------------------------------------------------------------


async def test_schedule_cancel_and_replace(storage: Storage) -> None:
    await storage.schedule("followups", "b", NOW + timedelta(hours=2), {"doctor": "李医生"})
    await storage.schedule("followups", "a", NOW + timedelta(hours=1))
    await storage.schedule("followups", "c", NOW + timedelta(hours=3))
    listed = await storage.scheduled("followups")
    assert [item.item_id for item in listed] == ["a", "b", "c"]
    assert listed[1].payload == {"doctor": "李医生"}
    assert listed[0].payload == {}
    assert listed[1].due_at == NOW + timedelta(hours=2)
    assert listed[1].schedule == "followups"
    assert await storage.cancel("followups", "c")
    assert not await storage.cancel("followups", "c")
    await storage.schedule("followups", "a", NOW + timedelta(hours=5), {"moved": True})
    assert [item.item_id for item in await storage.scheduled("followups")] == ["b", "a"]
    assert await storage.claim_due("followups", NOW + timedelta(hours=4)) == [listed[1]]
    [moved] = await storage.claim_due("followups", NOW + timedelta(hours=6))
    assert moved.payload == {"moved": True}
    assert await storage.scheduled("followups") == []


async def test_claim_due_takes_only_due_items_in_order(storage: Storage) -> None:
    shanghai = timezone(timedelta(hours=8))
    await storage.schedule("s", "later", NOW + timedelta(seconds=1))
    await storage.schedule("s", "due", NOW.astimezone(shanghai))
    await storage.schedule("s", "earlier", NOW - timedelta(minutes=1))
    claimed = await storage.claim_due("s", NOW)
    assert [item.item_id for item in claimed] == ["earlier", "due"]
    assert claimed[1].due_at == NOW
    assert [item.item_id for item in await storage.scheduled("s")] == ["later"]
    assert await storage.claim_due("s", NOW) == []


async def test_claim_due_limit(storage: Storage) -> None:
    for n in range(5):
        await storage.schedule("s", f"item-{n}", NOW - timedelta(seconds=5 - n))
    assert [i.item_id for i in await storage.claim_due("s", NOW, limit=2)] == ["item-0", "item-1"]
    assert len(await storage.claim_due("s", NOW, limit=10)) == 3


async def test_naive_datetimes_are_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await storage.schedule("s", "x", datetime(2025, 1, 1, 9, 0))


async def test_concurrent_claimers_each_get_an_item_exactly_once(backend: Backend) -> None:
    storage = backend.storage
    for n in range(200):
        await storage.schedule("reminders", f"r{n:03}", NOW - timedelta(seconds=n % 7))
    await storage.schedule("reminders", "future", NOW + timedelta(days=1))

    async def claimer(handle: Storage) -> list[str]:
        mine: list[str] = []
        while batch := await handle.claim_due("reminders", NOW, limit=7):
            mine += [item.item_id for item in batch]
        return mine

    claimers = [storage, storage, backend.sibling(), backend.sibling()]
    results = await asyncio.gather(*(claimer(handle) for handle in claimers))
    every = [item_id for result in results for item_id in result]
    assert len(every) == 200
    assert set(every) == {f"r{n:03}" for n in range(200)}
    assert [item.item_id for item in await storage.scheduled("reminders")] == ["future"]


# -- seat pools ----------------------------------------------------------------------------------


async def test_seat_pool_capacity_under_a_race(backend: Backend) -> None:
    storage = backend.storage
    handles = [storage, backend.sibling()]
    members = [f"doctor-{n:02}" for n in range(20)]
    results = await asyncio.gather(
        *(handles[n % 2].take_seat("webinar", m, 5) for n, m in enumerate(members))
    )
    seated, waiting = await storage.seats("webinar")
    assert len(seated) == 5
    assert len(waiting) == 15
    assert set(seated) | set(waiting) == set(members)
    for member, result in zip(members, results, strict=True):
        assert not result.already
        if result.seated:
            assert member in seated and result.waitlist_position == 0
        else:
            assert waiting[result.waitlist_position - 1] == member

    again = await storage.take_seat("webinar", seated[0], 5)
    assert again.seated and again.already
    queued = await storage.take_seat("webinar", waiting[2], 5)
    assert (queued.seated, queued.waitlist_position, queued.already) == (False, 3, True)


async def test_release_promotes_the_first_waiting(storage: Storage) -> None:
    for member in ("a", "b", "c", "d"):
        await storage.take_seat("p", member, 2)
    assert await storage.seats("p") == (["a", "b"], ["c", "d"])
    assert await storage.release_seat("p", "a", 2) == "c"
    assert await storage.seats("p") == (["b", "c"], ["d"])
    assert await storage.release_seat("p", "d", 2) is None  # leaving the waitlist frees no seat
    assert await storage.release_seat("p", "nobody", 2) is None
    assert await storage.release_seat("p", "b", 2) is None  # nobody left waiting
    assert await storage.seats("p") == (["c"], [])
    result = await storage.take_seat("p", "e", 2)
    assert result.seated and not result.already
    assert await storage.seats("empty") == ([], [])


# -- Redis specifics and the factory -------------------------------------------------------------


async def test_redis_outage_is_a_storage_error() -> None:
    down = RedisStorage.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        async with asyncio.timeout(10):  # guards against a hang, not a performance check
            assert not await down.ping()
            with pytest.raises(StorageError):
                await down.get_json("k")
            with pytest.raises(StorageError):
                await down.enqueue_once("d", 60, "q", {}, "s")
            with pytest.raises(StorageError):
                async with down.lock("l", blocking_timeout_s=0):
                    pass
    finally:
        await down.close()


async def test_redis_batches_concurrent_enqueue_once_exactly(redis_url: str) -> None:
    """Concurrent calls share one pipeline, yet each keeps the meaning of a separate call."""
    storage = RedisStorage.from_url(redis_url, prefix=f"batch-{uuid.uuid4().hex[:12]}:")
    observer = Redis.from_url(redis_url)
    try:
        before = (await observer.info("stats"))["total_connections_received"]
        dedup_keys = [f"dedup:{n % 5}" for n in range(20)]  # five keys, each four times
        seqs = await asyncio.gather(
            *(
                storage.enqueue_once(key, 60, "inbound", {"n": n}, "seq:conv")
                for n, key in enumerate(dedup_keys)
            )
        )
        after = (await observer.info("stats"))["total_connections_received"]
        assert after - before == 1  # one connection: the twenty calls went as one pipeline
        assert seqs == [1, 2, 3, 4, 5] + [None] * 15  # the first call of each key wins
        entries = await storage.consume("inbound", "g", "c", count=30, block_ms=0)
        assert [e.payload for e in entries] == [{"n": n, "seq": n + 1} for n in range(5)]
        # The server forgot its scripts (restart, SCRIPT FLUSH): reloaded, not an error.
        await observer.script_flush()
        assert await storage.enqueue_once("dedup:lone", 60, "inbound", {}, "seq:conv") == 6
        await observer.script_flush()
        again = await asyncio.gather(
            *(storage.enqueue_once("dedup:new", 60, "inbound", {}, "seq:conv") for _ in "ab")
        )
        assert again == [7, None]
    finally:
        await observer.aclose()
        await storage.close()


async def test_redis_prefixes_separate_deployments(redis_url: str) -> None:
    first = RedisStorage.from_url(redis_url, prefix="deploy-a:")
    second = RedisStorage.from_url(redis_url, prefix="deploy-b:")
    try:
        await first.set_json("k", 1)
        assert await second.get_json("k") is None
        await first.enqueue("q", {"n": 1})
        assert await second.queue_depth("q", "g") == 0
    finally:
        await first.delete("k")
        await first.close()
        await second.close()


async def test_factory_picks_the_backend(redis_url: str, tmp_path: Path) -> None:
    memory = create_storage(load_settings(redis_url=None, embedded_storage="memory"))
    assert isinstance(memory, MemoryStorage)
    await memory.close()
    durable = create_storage(
        load_settings(redis_url=None, embedded_storage="sqlite", data_dir=tmp_path)
    )
    assert isinstance(durable, SqliteStorage)
    assert durable.path == tmp_path / "state.sqlite3"
    await durable.close()
    shared = create_storage(load_settings(redis_url=redis_url, redis_key_prefix="factory:"))
    try:
        assert isinstance(shared, RedisStorage)
        await shared.set_json("k", "v")
        same_prefix = RedisStorage.from_url(redis_url, prefix="factory:")
        assert await same_prefix.get_json("k") == "v"
        await same_prefix.close()
        await shared.delete("k")
    finally:
        await shared.close()


def test_entries_are_plain_values() -> None:
    entry = QueueEntry("q", "1-0", {"a": 1})
    assert entry.deliveries == 1


async def test_touch_keeps_an_entry_in_hand_from_being_reclaimed(backend: Backend) -> None:
    storage = backend.storage
    await storage.enqueue("q", {"n": 1})
    [entry] = await storage.consume("q", "g", "worker", count=1, block_ms=0)
    for _ in range(5):  # 2.5 s in all, more than the idle time, touched every 0.5 s
        await backend.advance(0.5)
        await storage.touch("q", "g", "worker", entry.entry_id)
        assert await storage.reclaim("q", "g", "thief", min_idle_ms=2000) == []
    await backend.advance(2.2)  # the worker died: only someone else touches it now
    await storage.touch("q", "g", "someone-else", entry.entry_id)
    [taken] = await storage.reclaim("q", "g", "thief", min_idle_ms=2000)
    assert taken.deliveries == 2  # touches counted no delivery
