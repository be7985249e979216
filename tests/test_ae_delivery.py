"""Delivery to PV: webhook (HMAC, retries, down then up), crash recovery, E2B XML, ack, SLA."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

import aiohttp
import defusedxml.ElementTree as SafeET
import pytest
from aiohttp import web

from bot.audit import AUDIT_QUEUE
from bot.metrics import Metrics
from bot.models import CardReply, TextReply
from bot.queue_monitor import QueueMonitor
from skills.adverse_events.delivery import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryWorker,
    configured_sinks,
    create_delivery_worker,
    delivery_worker_here,
    sign,
)
from skills.adverse_events.service import (
    ACK_CLICK_PREFIX,
    DEAD_LETTER_QUEUE,
    DELIVERY_GROUP,
    DELIVERY_QUEUE,
    PV_DEAD_LETTER_WATCH,
    Redelivery,
    dead_lettered_cases,
    delivery_lock_key,
    redeliver,
)
from tests.ae_support import AEBot, ae_settings
from tests.local_http import serving
from tests.storage_backends import Backend

SECRET = "pv-shared-secret"


@dataclass
class Receiver:
    """PV's webhook endpoint on 127.0.0.1: verifies the signature, can be taken down."""

    url: str = ""
    up: bool = True
    received: list[str] = field(default_factory=list)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        if not self.up:
            return web.Response(status=503)
        body = await request.read()
        expected = sign(SECRET.encode(), request.headers[TIMESTAMP_HEADER], body)
        if not hmac.compare_digest(expected, request.headers[SIGNATURE_HEADER]):
            self.bad_signatures += 1
            return web.Response(status=401)
        case_id = json.loads(body)["case_id"]
        assert request.headers[IDEMPOTENCY_HEADER] == case_id
        self.received.append(case_id)
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    app = web.Application()
    app.router.add_post("/pv", made.handle)
    async with serving(app) as base_url:
        made.url = f"{base_url}/pv"
        yield made


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as made:
        yield made


def _bot(backend: Backend, tmp_path: Path, receiver: Receiver, **overrides: object) -> AEBot:
    settings = ae_settings(
        tmp_path, pv_webhook_url=receiver.url, pv_webhook_secret=SECRET, **overrides
    )
    return AEBot(settings, backend.storage)


async def _report(bot: AEBot, doctor: str = "doc1") -> str:
    await bot.say("患者ZS，45岁男性，用了XX药后出现皮疹", doctor)
    await bot.say("停止", doctor)
    [case_id] = [
        c for c in await bot.ae.store.case_ids() if (await bot.case(c)).doctor_id == doctor
    ]
    return case_id


def _worker(bot: AEBot, session: aiohttp.ClientSession, consumer: str) -> DeliveryWorker:
    sinks = configured_sinks(bot.ae, session)
    return DeliveryWorker(bot.ae, sinks, consumer=consumer, reclaim_idle_ms=50, block_ms=0)


async def test_webhook_down_then_up_is_delivered(
    backend: Backend, tmp_path: Path, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    bot = _bot(backend, tmp_path, receiver)
    case_id = await _report(bot)
    worker = _worker(bot, session, "w1")
    receiver.up = False
    assert await worker.run_once() == 1
    state = await bot.ae.store.delivery(case_id)
    assert state.attempts == 1 and state.delivered_at is None and "archive" in state.sinks
    receiver.up = True
    bot.clock.advance(seconds=bot.settings.pv_delivery_backoff_s - 1)
    assert await bot.services.scheduler.run_due() == 0  # backoff not over yet
    bot.clock.advance(seconds=2)
    assert await bot.services.scheduler.run_due() == 1  # the retry re-queues the case
    await worker.run_once()
    assert receiver.received == [case_id] and receiver.bad_signatures == 0
    assert (await bot.ae.store.delivery(case_id)).delivered_at is not None
    cards = [r for m in bot.app.sent for r in m.replies if isinstance(r, CardReply)]
    assert len(cards) == 1 and cards[0].buttons[0].key == f"{ACK_CLICK_PREFIX}{case_id}"
    assert bot.app.sent[0].recipient_id == "pv1|pv2"


async def test_crash_mid_delivery_each_case_arrives_once(
    backend: Backend, tmp_path: Path, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    bot = _bot(backend, tmp_path, receiver)
    first = await _report(bot, "doc1")
    second = await _report(bot, "doc2")
    await bot.ae.enqueue_delivery(first)  # an at-least-once duplicate of the first entry
    # A worker takes the entries and dies before delivering or acknowledging them.
    taken = await backend.storage.consume(DELIVERY_QUEUE, DELIVERY_GROUP, "dead", count=10)
    assert len(taken) == 3
    await backend.advance(0.2)
    survivor = _worker(bot, session, "survivor")
    assert await survivor.run_once() == 3
    assert sorted(receiver.received) == sorted([first, second])  # each case id once
    assert await backend.storage.queue_depth(DELIVERY_QUEUE, DELIVERY_GROUP) == 0


async def test_submitted_case_without_queue_entry_is_reconciled(
    backend: Backend, tmp_path: Path, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    bot = _bot(backend, tmp_path, receiver)
    case_id = await _report(bot)
    state = await bot.ae.store.delivery(case_id)
    state.queued_at = None  # as if the process died between saving the case and queueing it
    await bot.ae.store.save_delivery(case_id, state)
    worker = _worker(bot, session, "w")
    assert await worker.reconcile() == 1
    while await worker.run_once():
        pass
    assert receiver.received == [case_id]


async def _dead_lettered(
    bot: AEBot, receiver: Receiver, session: aiohttp.ClientSession
) -> tuple[str, DeliveryWorker]:
    """A case whose two delivery attempts (max 2) met a webhook that is down."""
    case_id = await _report(bot)
    receiver.up = False
    worker = _worker(bot, session, "w")
    await worker.run_once()
    bot.clock.advance(hours=1)
    await bot.services.scheduler.run_due()
    await worker.run_once()
    assert (await bot.ae.store.delivery(case_id)).dead_lettered_at is not None
    return case_id, worker


async def test_dead_letter_after_max_attempts_alerts_pv(
    backend: Backend, tmp_path: Path, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    bot = _bot(backend, tmp_path, receiver, pv_delivery_max_attempts=2)
    case_id, _ = await _dead_lettered(bot, receiver, session)
    dead = await backend.storage.consume(DEAD_LETTER_QUEUE, "ops", "t", block_ms=0)
    assert [entry.payload["case_id"] for entry in dead] == [case_id]
    alerts = [r.text for m in bot.app.sent for r in m.replies if isinstance(r, TextReply)]
    assert any(case_id in text and "死信" in text for text in alerts)


async def test_redeliver_after_dead_letter_reaches_pv_once(
    backend: Backend, tmp_path: Path, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    bot = _bot(backend, tmp_path, receiver, pv_delivery_max_attempts=2)
    case_id, worker = await _dead_lettered(bot, receiver, session)
    store, storage, now = bot.ae.store, backend.storage, bot.clock.now
    archived_at = (await store.delivery(case_id)).sinks["archive"]
    monitor = QueueMonitor(
        storage, Metrics(), [], alert_depth=100, dead_letters=[PV_DEAD_LETTER_WATCH]
    )
    assert await monitor.check() == [DEAD_LETTER_QUEUE]  # the alert stays up until resolved
    assert await dead_lettered_cases(storage, store) == [case_id]

    receiver.up = True  # the sink is fixed; PV asks for the case again
    assert await redeliver(storage, store, case_id, by="cli:pv", at=now) is Redelivery.QUEUED
    assert await monitor.check() == []
    assert await dead_lettered_cases(storage, store) == []
    state = await store.delivery(case_id)
    assert state.attempts == 0 and state.dead_lettered_at is None
    while await worker.run_once():
        pass
    assert receiver.received == [case_id]
    delivered = await store.delivery(case_id)
    assert delivered.delivered_at is not None
    assert delivered.sinks["archive"] == archived_at  # the sink that had it was not sent it again
    again = await redeliver(storage, store, case_id, by="cli:pv", at=now)
    assert again is Redelivery.ALREADY_DELIVERED
    assert await redeliver(storage, store, "AE-19990101-0001", by="cli:pv", at=now) is (
        Redelivery.NO_SUCH_CASE
    )
    records = await storage.consume(AUDIT_QUEUE, "redeliver-test", "t", 10_000, 0)
    resets = [e.payload for e in records if e.payload["kind"] == "ae_delivery_reset"]
    assert [(r["case_id"], r["by"], r["dead_lettered"]) for r in resets] == [
        (case_id, "cli:pv", True)
    ]


async def test_redeliver_leaves_a_case_still_being_retried_alone(
    backend: Backend, tmp_path: Path, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    bot = _bot(backend, tmp_path, receiver, pv_delivery_max_attempts=3)
    case_id = await _report(bot)
    receiver.up = False
    await _worker(bot, session, "w").run_once()  # attempt 1 failed, a retry is scheduled
    store = bot.ae.store
    outcome = await redeliver(backend.storage, store, case_id, by="cli:pv", at=bot.clock.now)
    assert outcome is Redelivery.STILL_RETRYING
    assert (await store.delivery(case_id)).attempts == 1


async def test_redeliver_waits_for_a_delivery_in_progress(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    bot = _bot(backend, tmp_path, receiver)
    case_id = await _report(bot)
    async with backend.storage.lock(delivery_lock_key(case_id), timeout_s=30):
        outcome = await redeliver(
            backend.storage, bot.ae.store, case_id, by="cli:pv", at=bot.clock.now
        )
    assert outcome is Redelivery.BUSY


def _find(root: Element, path: str) -> str:
    found = root.find(path)
    assert found is not None and found.text, path
    return found.text


async def test_e2b_xml_is_well_formed_with_the_four_criteria(
    backend: Backend, tmp_path: Path, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    bot = _bot(backend, tmp_path, receiver, pv_cn_mah_id="MAH-001")
    case_id = await _report(bot)
    await _worker(bot, session, "w").run_once()
    xml_path = tmp_path / "pv" / f"{case_id}.xml"
    root = SafeET.fromstring(xml_path.read_bytes())
    assert _find(root, "C/C.2.r/C.2.r.4") == "1"  # reporter: a physician
    assert _find(root, "C/C.2.r/C.2.r.3") == "CN"
    assert _find(root, "D/D.1") == "ZS" and _find(root, "D/D.5") == "1"  # patient
    assert "皮疹" in _find(root, "E.i/E.i.1.1a") and _find(root, "E.i/E.i.1.1b") == "zho"
    assert _find(root, "C/C.1.4").startswith("20261122")  # day 0
    assert _find(root, "C/C.1.CN.3") == "MAH-001"
    assert case_id in _find(root, "H/H.1")
    archived = json.loads((tmp_path / "pv" / f"{case_id}.json").read_text(encoding="utf-8"))
    assert "XX" in _find(root, "G.k/G.k.2.2") and _find(root, "G.k/G.k.1") == "1"  # product
    assert archived["case_id"] == case_id and archived["missing_criteria"] == []


async def test_ack_click_records_who_and_when_and_stops_overdue_alerts(
    backend: Backend, tmp_path: Path, receiver: Receiver
) -> None:
    bot = _bot(backend, tmp_path, receiver)
    acked = await _report(bot, "doc1")
    overdue = await _report(bot, "doc2")
    bot.clock.advance(hours=1)
    replies = await bot.member_click("pv2", f"{ACK_CLICK_PREFIX}{acked}")
    assert acked in replies[0]
    ack = await bot.ae.store.ack_of(acked)
    assert ack is not None and ack.by == "pv2" and ack.at == bot.clock.now
    refused = await bot.member_click("stranger", f"{ACK_CLICK_PREFIX}{overdue}")
    assert "药物警戒" in refused[0] and await bot.ae.store.ack_of(overdue) is None
    bot.app.sent.clear()
    bot.clock.advance(hours=24)
    await bot.services.scheduler.run_due()
    alerted = " ".join(
        r.text if isinstance(r, TextReply) else r.title
        for m in bot.app.sent
        for r in m.replies
        if isinstance(r, TextReply | CardReply)
    )
    assert overdue in alerted and acked not in alerted


async def test_without_the_wecom_app_chat_leaves_card_cases_to_serve_and_serve_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A case counts as delivered only once every sink took it: a process that cannot send the
    PV card (chat has no WeCom app) runs no delivery when PV users are set, and delivers to the
    archive when they are not; the server without the app says why its cards will fail."""
    from bot.models import Channel
    from bot.storage.memory import MemoryStorage

    bot = AEBot(ae_settings(tmp_path), MemoryStorage())  # PV users pv1, pv2
    assert delivery_worker_here(bot.services, None) is not None  # the app channel is open
    del bot.services.senders[Channel.APP]
    assert delivery_worker_here(bot.services, None) is None
    with caplog.at_level("WARNING", logger="skills.adverse_events.delivery"):
        create_delivery_worker(bot.services, None)
    assert [r.getMessage()[:50] for r in caplog.records] == [
        "VREP_PV_USERS is set but the WeCom app is not conf"
    ]
    caplog.clear()
    archive_only = AEBot(ae_settings(tmp_path, pv_users=""), MemoryStorage())
    del archive_only.services.senders[Channel.APP]
    assert delivery_worker_here(archive_only.services, None) is not None
    create_delivery_worker(archive_only.services, None)
    assert not caplog.records
