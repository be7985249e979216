"""Dead letters: listed, shown, replayed exactly once, dropped with an audit record, alerted on.

The library tests run on both storage backends; the command-line test runs against the real
redis-server, as the command would in production.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.audit import AUDIT_QUEUE
from bot.cli import main
from bot.dead_letter_ops import OPS_GROUP
from bot.dead_letters import (
    DEAD_LETTER_WATCHES,
    DeadLetters,
    NotReplayable,
    Summary,
    summarize,
)
from bot.dispatcher import Context, Router
from bot.metrics import Metrics
from bot.models import Channel
from bot.pipeline import DEAD_LETTER_QUEUE, InboundWorkers, submit_inbound
from bot.queue_monitor import QueueMonitor
from bot.runtime import build_runtime
from bot.settings import load_settings
from bot.storage.base import QueueEntry, Storage
from bot.storage.redis import RedisStorage
from handlers import kf
from handlers.kf import KF_DEAD_LETTER_QUEUE, KfSyncer
from records import open_records
from tests.helpers import RecordingSender, drain_inbound, text_message
from tests.wecom_harness import OPEN_KFID, Stack, enqueued, wecom_stack

DOCTOR = "wmDOCTOR0001"
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LONG_TEXT = "服用XX药三天后出现全身皮疹，伴有瘙痒，请问是否需要停药？患者男，45岁，既往无过敏史。"


class Bot:
    """The real dispatcher with one skill that records every text it handles."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.handled: list[str] = []
        _, self.dispatcher = build_runtime(
            load_settings(), storage, senders={Channel.CONSOLE: RecordingSender()}
        )
        router = Router("record", priority=100)

        @router.message(lambda ctx: True)
        async def record(ctx: Context) -> None:
            self.handled.append(ctx.message.text)

        self.dispatcher.include_router(router)

    async def run_workers(self, **options: Any) -> None:
        workers = InboundWorkers(self.storage, self.dispatcher, Metrics(), workers=2, **options)
        await drain_inbound(workers, self.storage)


@pytest.fixture
def bot(storage: Storage) -> Bot:
    return Bot(storage)


def letters(storage: Storage, **options: Any) -> DeadLetters:
    return DeadLetters(
        storage, operator="ops-tester", dedup_ttl_s=3600, clock=lambda: NOW, **options
    )


async def dead_letter_a_message(bot: Bot, text: str, message_id: str) -> QueueEntry:
    """Submit a message and let workers that give up at once dead-letter it."""
    assert await submit_inbound(bot.storage, text_message("c1", text, message_id), 3600)
    await bot.run_workers(max_deliveries=0)
    unresolved = await letters(bot.storage).unresolved(DEAD_LETTER_QUEUE)
    assert unresolved, "the workers did not dead-letter the message"
    return unresolved[-1]


async def audit_records(storage: Storage, kind: str) -> list[dict[str, Any]]:
    entries = await storage.unacknowledged(AUDIT_QUEUE, "test-reader", count=1000)
    return [entry.payload for entry in entries if entry.payload["kind"] == kind]


async def test_list_and_show_both_queues(storage: Storage, bot: Bot) -> None:
    dead = await dead_letter_a_message(bot, LONG_TEXT, "m1")
    item = {"msgid": "odd-1", "origin": 3, "msgtype": "text", "open_kfid": OPEN_KFID,
            "external_userid": DOCTOR, "send_time": 1740819600,
            "text": {"content": "你好"}}  # fmt: skip
    await storage.enqueue(
        KF_DEAD_LETTER_QUEUE, {"open_kfid": OPEN_KFID, "reason": "KeyError", "item": item}
    )
    await storage.enqueue(KF_DEAD_LETTER_QUEUE, {"open_kfid": OPEN_KFID, "reason": "X", "item": 7})
    summary = summarize(dead)
    assert summary[:3] == ("too many deliveries", "console", "c1")
    assert summary.received.startswith(str(datetime.now(UTC).year))
    assert len(summary.preview) == 40 and summary.preview.endswith("…")
    assert LONG_TEXT.startswith(summary.preview[:-1])
    kf_letters = await letters(storage).unresolved(KF_DEAD_LETTER_QUEUE)
    assert [summarize(entry) for entry in kf_letters] == [
        Summary("KeyError", "kf", f"kf:{OPEN_KFID}:{DOCTOR}", "2025-03-01T09:00:00", "你好"),
        Summary("X", "kf", "", "", ""),
    ]
    found = await letters(storage).find(DEAD_LETTER_QUEUE, dead.entry_id)
    assert found is not None and found.payload["message"]["text"] == LONG_TEXT
    assert await letters(storage).find(DEAD_LETTER_QUEUE, "999999-0") is None
    assert await letters(storage).find("inbound", dead.entry_id) is None  # not a dead letter


async def test_replayed_message_is_handled_exactly_once(storage: Storage, bot: Bot) -> None:
    dead = await dead_letter_a_message(bot, "第一条", "m1")
    assert bot.handled == []
    # The conversation moved on meanwhile: m1's old seq is now below last_seq.
    await submit_inbound(storage, text_message("c1", "第二条", "m2"), 3600)
    await bot.run_workers(order_wait_s=0.01)
    assert bot.handled == ["第二条"]

    first, second = letters(storage), letters(storage)  # two operators, the same entry in hand
    assert await first.replay(dead) is True
    assert await second.replay(dead) is False  # already submitted: nothing new
    assert await first.find(DEAD_LETTER_QUEUE, dead.entry_id) is None  # resolved
    await bot.run_workers()
    assert bot.handled == ["第二条", "第一条"]
    assert await storage.queue_depth(DEAD_LETTER_QUEUE, OPS_GROUP) == 0
    replays = await audit_records(storage, "dead_letter_replayed")
    assert [(r["entry_id"], r["operator"], r["submitted"]) for r in replays] == [
        (dead.entry_id, "ops-tester", True), (dead.entry_id, "ops-tester", False)
    ]  # fmt: skip


async def test_a_malformed_entry_is_not_replayable_but_can_be_dropped(storage: Storage) -> None:
    await storage.enqueue(DEAD_LETTER_QUEUE, {"reason": "malformed", "message": {"text": "x"}})
    [entry] = await letters(storage).unresolved(DEAD_LETTER_QUEUE)
    with pytest.raises(NotReplayable, match="does not parse"):
        await letters(storage).replay(entry)
    assert await letters(storage).unresolved(DEAD_LETTER_QUEUE) == [entry]

    await letters(storage).drop(entry, "garbage from a test client")
    assert await letters(storage).unresolved(DEAD_LETTER_QUEUE) == []
    [record] = await audit_records(storage, "dead_letter_dropped")
    assert record == {
        "kind": "dead_letter_dropped",
        "at": NOW.isoformat(),
        "queue": DEAD_LETTER_QUEUE,
        "entry_id": entry.entry_id,
        "operator": "ops-tester",
        "reason": "garbage from a test client",
        "payload": entry.payload,
    }


async def test_resolving_a_later_entry_leaves_the_earlier_ones_unresolved(
    storage: Storage,
) -> None:
    ids = [await storage.enqueue(DEAD_LETTER_QUEUE, {"reason": str(n)}) for n in range(3)]
    entry = await letters(storage).find(DEAD_LETTER_QUEUE, ids[1])
    assert entry is not None and entry.deliveries == 0
    await letters(storage).drop(entry, "test")
    remaining = await letters(storage).unresolved(DEAD_LETTER_QUEUE)
    assert [e.entry_id for e in remaining] == [ids[0], ids[2]]
    assert await storage.queue_depth(DEAD_LETTER_QUEUE, OPS_GROUP) == 2


@pytest.fixture
async def kf_stack(storage: Storage) -> AsyncIterator[tuple[KfSyncer, Stack]]:
    async with wecom_stack(storage=storage) as stack:
        replica = stack.replicas[0]
        yield KfSyncer(replica.client, storage, replica.metrics, dedup_ttl_s=3600), stack


async def test_kf_item_replays_once_the_cause_is_fixed(
    storage: Storage, kf_stack: tuple[KfSyncer, Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    syncer, stack = kf_stack

    def unreadable(item: dict[str, Any]) -> Any:
        raise ValueError("unknown message shape")

    monkeypatch.setattr(kf, "customer_message", unreadable)  # a conversion bug, later fixed
    stack.api.queue_customer_text(OPEN_KFID, DOCTOR, "还能看到吗")
    await syncer.sync(OPEN_KFID, stack.api.issue_sync_token())
    assert await enqueued(storage) == []
    [entry] = await letters(storage).unresolved(KF_DEAD_LETTER_QUEUE)
    assert summarize(entry).reason == "ValueError"

    with pytest.raises(NotReplayable, match="still cannot be read"):
        await letters(storage, kf_syncer=syncer).replay(entry)
    assert await letters(storage).unresolved(KF_DEAD_LETTER_QUEUE) == [entry]
    with pytest.raises(NotReplayable, match="needs the WeCom API settings"):
        await letters(storage).replay(entry)

    monkeypatch.undo()  # the fix is deployed
    assert await letters(storage, kf_syncer=syncer).replay(entry)
    assert [m.text for m in await enqueued(storage)] == ["还能看到吗"]
    assert await letters(storage).unresolved(KF_DEAD_LETTER_QUEUE) == []


async def test_kf_event_claim_is_released_when_the_event_is_set_aside(
    storage: Storage, kf_stack: tuple[KfSyncer, Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Otherwise the replay of a set-aside event would be skipped as a repeat."""
    syncer, stack = kf_stack

    def unreadable(*args: Any) -> Any:
        raise KeyError("open_kfid")

    monkeypatch.setattr(kf, "event_message", unreadable)
    stack.api.servicer_takes_over(OPEN_KFID, DOCTOR, "rep_zhang")
    await syncer.sync(OPEN_KFID, stack.api.issue_sync_token())
    [entry] = await letters(storage).unresolved(KF_DEAD_LETTER_QUEUE)
    monkeypatch.undo()
    assert await letters(storage, kf_syncer=syncer).replay(entry)
    [event] = await enqueued(storage)
    assert event.event == "kf_session_status_change"


async def test_the_monitor_alerts_on_one_dead_letter_until_it_is_resolved(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    monitor = QueueMonitor(storage, metrics, [], alert_depth=100, dead_letters=DEAD_LETTER_WATCHES)
    assert await monitor.check() == []
    entry_id = await storage.enqueue(KF_DEAD_LETTER_QUEUE, {"reason": "X", "item": None})
    caplog.set_level(logging.INFO, logger="bot.queue_monitor")
    assert await monitor.check() == [KF_DEAD_LETTER_QUEUE]
    sample = metrics.registry.get_sample_value
    assert sample("vrep_queue_alert", {"queue": KF_DEAD_LETTER_QUEUE}) == 1
    assert sample("vrep_queue_depth", {"queue": KF_DEAD_LETTER_QUEUE}) == 1
    assert sample("vrep_queue_alert", {"queue": DEAD_LETTER_QUEUE}) == 0
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "dead letters unresolved: see `virtualrep dead list`"
    assert (record.queue, record.group, record.depth) == (KF_DEAD_LETTER_QUEUE, "ops", 1)  # type: ignore[attr-defined]

    entry = await letters(storage).find(KF_DEAD_LETTER_QUEUE, entry_id)
    assert entry is not None
    await letters(storage).drop(entry, "test")
    assert await monitor.check() == []
    assert sample("vrep_queue_alert", {"queue": KF_DEAD_LETTER_QUEUE}) == 0
    assert caplog.records[-1].getMessage() == "queue back under alert depth"


def test_dead_commands(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"cli-{uuid.uuid4().hex[:8]}:"
    monkeypatch.setenv("VREP_REDIS_URL", redis_url)
    monkeypatch.setenv("VREP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}")
    monkeypatch.setenv("VREP_REDIS_KEY_PREFIX", prefix)
    monkeypatch.setenv("VREP_WECOM_CORP_ID", "")

    async def in_redis(use: Any) -> Any:
        storage = RedisStorage.from_url(redis_url, prefix=prefix)
        try:
            return await use(storage)
        finally:
            await storage.close()

    async def dead_letter(storage: Storage) -> tuple[str, str]:
        dead = await dead_letter_a_message(Bot(storage), LONG_TEXT, "m1")
        kf_id = await storage.enqueue(
            KF_DEAD_LETTER_QUEUE, {"open_kfid": OPEN_KFID, "reason": "KeyError", "item": {}}
        )
        return dead.entry_id, kf_id

    inbound_id, kf_id = asyncio.run(in_redis(dead_letter))
    assert main(["dead", "list"]) == 0
    header, *lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert header[:4] == ["QUEUE", "ENTRY", "REASON", "CHANNEL"]
    assert [line[:4] for line in lines] == [
        [DEAD_LETTER_QUEUE, inbound_id, "too many deliveries", "console"],
        [KF_DEAD_LETTER_QUEUE, kf_id, "KeyError", "kf"],
    ]
    assert LONG_TEXT not in capsys.readouterr().out  # a preview only
    assert main(["dead", "show", DEAD_LETTER_QUEUE, inbound_id]) == 0
    assert LONG_TEXT in capsys.readouterr().out

    assert main(["dead", "replay", KF_DEAD_LETTER_QUEUE, kf_id]) == 1  # no WeCom configured
    assert "not replayed" in capsys.readouterr().err
    assert main(["dead", "drop", KF_DEAD_LETTER_QUEUE, kf_id, "--reason", "empty item"]) == 0
    assert main(["dead", "replay", DEAD_LETTER_QUEUE, inbound_id]) == 0
    assert f"{inbound_id} replayed" in capsys.readouterr().out
    assert main(["dead", "replay", DEAD_LETTER_QUEUE, inbound_id]) == 1  # resolved by now
    assert capsys.readouterr().err.strip() == (
        f"virtualrep: no unresolved dead letter {inbound_id} in {DEAD_LETTER_QUEUE}"
    )
    assert main(["dead", "show", KF_DEAD_LETTER_QUEUE, "0-1"]) == 1
    assert main(["dead", "list"]) == 0
    assert capsys.readouterr().out.startswith("no unresolved dead letter (没有未处理的死信); PV ")

    async def dropped() -> list[dict[str, Any]]:  # in the records' audit chain
        async with open_records(load_settings()) as records:
            page = await records.search_audit(kind="dead_letter_dropped")
        return [entry.payload or {} for entry in page.items]

    [record] = asyncio.run(dropped())
    assert (record["entry_id"], record["reason"]) == (kf_id, "empty item")
    assert record["operator"]  # the login running the command
