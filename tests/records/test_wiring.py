"""The existing writers write through the system of record: a doctor's report in the chat
becomes a case with its lifecycle, the transcript and every case read land in the audit
chain, a PV acknowledgement is recorded, an MI request is listed."""

from __future__ import annotations

from pathlib import Path

from bot.storage.memory import MemoryStorage
from records import Records
from records.sink import AUDIT_GROUP, audit_sink
from skills.adverse_events.delivery import DeliveryWorker, configured_sinks
from skills.adverse_events.service import ACK_CLICK_PREFIX
from skills.qa.mi import MIStore
from tests.ae_support import AEBot, ae_settings


async def drain_audit(bot: AEBot, records: Records) -> None:
    """What the app's audit sink does in the background."""
    sink = audit_sink(records, bot.storage, bot.services.metrics)
    while await sink.run_once(block_ms=0):
        pass


async def test_a_reported_case_is_recorded_from_report_to_acknowledgement(
    records: Records, tmp_path: Path
) -> None:
    bot = AEBot(ae_settings(tmp_path), MemoryStorage(), records=records)
    await bot.say("患者ZS，45岁男性，用了XX药后出现皮疹")
    await bot.say("停止")
    case = await bot.only_case()
    worker = DeliveryWorker(bot.ae, configured_sinks(bot.ae, None), consumer="w", block_ms=0)
    assert await worker.run_once() == 1
    await bot.member_click("pv1", f"{ACK_CLICK_PREFIX}{case.case_id}")

    await drain_audit(bot, records)
    detail = await records.case_detail(case.case_id)
    assert detail is not None
    kinds = [event.kind for event in detail.events]
    assert kinds[0] == "created" and kinds[-1] == "acknowledged"
    for step in ("submitted", "queued", "delivered_to_sink", "delivered"):
        assert step in kinds
    assert kinds.index("submitted") < kinds.index("queued") < kinds.index("delivered")
    assert detail.summary.acknowledged_by == "pv1" and detail.summary.status == "submitted"

    trail = (await records.search_audit(limit=200)).items
    messages = [entry for entry in trail if entry.kind == "message"]
    assert len(messages) >= 3 and messages[0].doctor_id == "doc1"
    assert any(e.kind == "ae_case_read" and e.case_id == case.case_id for e in trail)
    assert any(e.kind == "ae_case_ack" and e.actor == "pv1" for e in trail)
    assert (await records.verify_audit()).ok
    assert await bot.storage.unacknowledged("audit", AUDIT_GROUP) == []  # all in the chain
    await drain_audit(bot, records)  # a second pass appends nothing twice
    assert (await records.search_audit(limit=200)).total == len(trail)


async def test_an_mi_request_is_recorded(records: Records, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path), MemoryStorage(), records=records)
    store = MIStore(bot.storage, bot.services.records)
    created = await store.create(
        question="儿童用药剂量？",
        doctor_id="doc1",
        conversation_key="doc1",
        channel="console",
        profile=None,
        at=bot.clock(),
        response_hours=48,
        timezone="Asia/Shanghai",
    )
    [listed] = (await records.mi_requests()).items
    assert listed.mi_id == created.mi_id and listed.question == "儿童用药剂量？"
    await store.close(created.mi_id, by="msl1", at=bot.clock(), resolution="answered")
    assert (await records.mi_requests(status="closed")).items[0].closed_by == "msl1"
