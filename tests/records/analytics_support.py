"""Seed data for the analytics tests: what the bot's audit records look like for two reps'
doctors over four weeks (messages, cases, an MI request, handoffs, a meeting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from records import CaseSnapshot, MISnapshot, Records
from records.analytics import AnalyticsQuery
from tests.records.test_records import case_document

MONDAY = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # Monday 2 Nov 00:00 in Asia/Shanghai
WEEKS = tuple(MONDAY + timedelta(weeks=n) for n in range(4))
END = MONDAY + timedelta(weeks=4)
EVERYONE = AnalyticsQuery(WEEKS, END)


def message(
    doctor: str,
    rep: str | None,
    text: str,
    *,
    topic: str | None = "dosing",
    products: list[str] | None = None,
    cited: list[str] | None = None,
    gap: bool = False,
) -> dict[str, Any]:
    """A ``message`` audit record as ``AuditMiddleware`` writes it for a doctor."""
    qa: dict[str, Any] = {"intent": "question", "products": products or []}
    if topic:
        qa["topic"] = {"label": topic, "p": 0.9}
    if cited:
        qa["cited"] = [{"doc_id": d, "approval_code": f"AC-{d}", "version": "1"} for d in cited]
    annotations: dict[str, Any] = {"audit_rep": rep, "audit_qa": qa}
    if gap:
        annotations["audit_not_helped"] = text
    return {"sender": doctor, "channel": "kf", "text": text, "annotations": annotations}


async def seed(
    records: Records, rep_a: str = "rep_a", rep_b: str = "rep_b", rep_c: str = "rep_c"
) -> None:
    """Doctor d-a is rep_a's, d-b rep_b's; rep_c (no team) took d-b's handoff."""
    at = MONDAY + timedelta(hours=3)
    doc_a = message("d-a", rep_a, "诺瓦斯的剂量？", products=["Noravex"], cited=["SR-1", "PI-1"])
    await records.append_audit("message", at, doc_a)
    second = message("d-a", rep_a, "肝功能不全怎么用", products=["Noravex"], cited=["SR-1"])
    await records.append_audit("message", at + timedelta(weeks=1), second)
    for when, text in ((1, "诺瓦斯能和华法林一起用吗"), (2, "诺瓦斯可以和华法林一起用吗？")):
        gap = message("d-b", rep_b, text, topic="interactions", products=["Noravex"], gap=True)
        await records.append_audit("message", at + timedelta(weeks=when), gap)
    unclear = message("d-b", rep_b, "嗯", topic=None, gap=True)  # no retrieval: not a gap
    await records.append_audit("message", at + timedelta(weeks=2), unclear)
    await records.append_audit("message", at, {"sender": rep_a, "text": "/help"})  # a rep's
    entered = message("d-a", rep_a, "", topic=None) | {"inbound_kind": "event"}
    await records.append_audit("message", at, entered)  # entering the kf session: no message
    before = message("d-a", rep_a, "old", cited=["SR-OLD"])
    await records.append_audit("message", MONDAY - timedelta(seconds=1), before)

    for doctor, case_id, serious, products in (
        ("d-a", "AE-1", True, ["Noravex"]),
        ("d-b", "AE-2", False, ["Noravex", "Other"]),
    ):
        doc = case_document(case_id, doctor_id=doctor, opened_at=at.isoformat())
        doc["products"] = [{"name": name} for name in products]
        snapshot = CaseSnapshot.from_document(doc)
        await records.save_case(
            CaseSnapshot(**{**snapshot.__dict__, "serious": serious, "products": tuple(products)})
        )
    mi = {
        "mi_id": "MI-1",
        "status": "open",
        "doctor_id": "d-b",
        "question": "诺瓦斯能不能和华法林一起用",
        "created_at": at.isoformat(),
        "respond_by": (at + timedelta(days=2)).isoformat(),
    }
    await records.save_mi(MISnapshot.from_document(mi), at)

    def handoff(event: str, handoff_id: str, doctor: str, **fields: Any) -> dict[str, Any]:
        return {"event": event, "handoff_id": handoff_id, "doctor": doctor, "reason": "x", **fields}

    for event, fields, minutes in (
        ("requested", {}, 0),
        ("offered", {"reps": [rep_a]}, 0),
        ("taken_over", {"rep": rep_a, "waited_s": 120.0}, 2),
        ("closed", {"by": rep_a}, 30),
    ):
        await records.append_audit(
            "handoff", at + timedelta(minutes=minutes), handoff(event, "H-1", "d-a", **fields)
        )
    for event, fields in (
        ("requested", {}),
        ("declined", {"rep": rep_b}),
        ("sla_breached", {}),
        ("taken_over", {"rep": rep_c, "waited_s": 900.0}),
    ):
        await records.append_audit("handoff", at, handoff(event, "H-2", "d-b", **fields))

    meeting = {"meeting": "M-1", "compliance_code": "CC-1"}
    steps: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("meeting_invitation", "d-a", {"sent": True, "rep": rep_a}),
        ("meeting_invitation", "d-b", {"sent": True, "rep": rep_b}),
        ("meeting_invitation", "d-c", {"sent": False, "reason": "unreachable"}),
        ("meeting_registration", "d-a", {"status": "registered"}),
        ("meeting_registration", "d-b", {"status": "registered"}),
        ("meeting_reminder", "d-a", {"reminder": "day"}),
        ("meeting_reminder", "d-a", {"reminder": "hour"}),
        ("meeting_reminder", "d-a", {"reminder": "followup"}),
        ("meeting_feedback", "d-a", {"score": 5}),
    )
    for kind, doctor, step in steps:
        await records.append_audit(kind, at, {**meeting, "doctor": doctor, **step})
