"""The console's analytics answered by the system of record, on SQLite and PostgreSQL: what
the audit trail projects (doctors' messages, cited documents, handoffs, meeting steps), the
figures per week, the team scope and the product filter, content gaps grouped by similarity,
and retention pruning the projections with the transcripts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.settings import Settings
from records import AnalyticsQuery, CaseSnapshot, MISnapshot, Records, RetentionPolicy
from records.analytics import group_similar
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


async def seed(records: Records) -> None:
    at = MONDAY + timedelta(hours=3)
    doc_a = message("d-a", "rep_a", "诺瓦斯的剂量？", products=["Noravex"], cited=["SR-1", "PI-1"])
    await records.append_audit("message", at, doc_a)
    second = message("d-a", "rep_a", "肝功能不全怎么用", products=["Noravex"], cited=["SR-1"])
    await records.append_audit("message", at + timedelta(weeks=1), second)
    for when, text in ((1, "诺瓦斯能和华法林一起用吗"), (2, "诺瓦斯可以和华法林一起用吗？")):
        gap = message("d-b", "rep_b", text, topic="interactions", products=["Noravex"], gap=True)
        await records.append_audit("message", at + timedelta(weeks=when), gap)
    unclear = message("d-b", "rep_b", "嗯", topic=None, gap=True)  # no retrieval: not a gap
    await records.append_audit("message", at + timedelta(weeks=2), unclear)
    await records.append_audit("message", at, {"sender": "rep_a", "text": "/help"})  # a rep's
    before = message("d-a", "rep_a", "old", cited=["SR-OLD"])
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
        ("offered", {"reps": ["rep_a"]}, 0),
        ("taken_over", {"rep": "rep_a", "waited_s": 120.0}, 2),
        ("closed", {"by": "rep_a"}, 30),
    ):
        await records.append_audit(
            "handoff", at + timedelta(minutes=minutes), handoff(event, "H-1", "d-a", **fields)
        )
    for event, fields in (
        ("requested", {}),
        ("declined", {"rep": "rep_b"}),
        ("sla_breached", {}),
        ("taken_over", {"rep": "rep_c", "waited_s": 900.0}),
    ):
        await records.append_audit("handoff", at, handoff(event, "H-2", "d-b", **fields))

    meeting = {"meeting": "M-1", "compliance_code": "CC-1"}
    steps: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("meeting_invitation", "d-a", {"sent": True, "rep": "rep_a"}),
        ("meeting_invitation", "d-b", {"sent": True, "rep": "rep_b"}),
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


async def test_every_figure_comes_from_the_projected_audit_trail(records: Records) -> None:
    await seed(records)
    found = await records.analytics(EVERYONE)

    assert found.questions.messages == [1, 2, 2, 0]  # the rep's and last week's are not counted
    assert found.questions.questions == [1, 2, 1, 0]  # "嗯" went through no retrieval
    assert found.questions.answered == [1, 1, 0, 0]
    assert found.questions.gaps == [0, 1, 1, 0]
    assert found.questions.by_topic == {"dosing": [1, 1, 0, 0], "interactions": [0, 1, 1, 0]}
    assert found.questions.by_product == {"Noravex": [1, 2, 1, 0]}
    assert found.products == ["Noravex"]

    assert [(d.doc_id, d.uses) for d in found.documents] == [("SR-1", 2), ("PI-1", 1)]
    assert found.documents[0].approval_code == "AC-SR-1"

    assert (found.ae.total, found.ae.serious) == (2, 1)
    assert found.ae.by_product == [("Noravex", 2), ("Other", 1)]
    assert found.ae.by_category == [("adverse_event", 2)]
    assert found.ae.per_week == [2, 0, 0, 0]

    assert found.funnel == {
        "invited": 2,  # the unsent invitation is no step reached
        "registered": 2,
        "reminded": 1,
        "attended": 1,
        "feedback": 1,
    }

    figures = found.handoffs
    assert (figures.requested, figures.taken, figures.sla_breached, figures.declined) == (
        2,
        2,
        1,
        1,
    )
    assert [(r.rep_id, r.taken, r.median_s) for r in figures.per_rep] == [
        ("rep_a", 1, 120.0),
        ("rep_c", 1, 900.0),
    ]

    # Two wordings of the warfarin question and the MI request about it: one group.
    assert len(found.gaps) == 1
    group = found.gaps[0]
    assert (group.count, group.no_information, group.mi_requests) == (3, 2, 1)
    assert group.topic == "interactions"
    assert len(group.examples) == 2


async def test_a_team_sees_only_its_doctors_and_the_product_filter_narrows(
    records: Records,
) -> None:
    await seed(records)
    team_a = await records.analytics(AnalyticsQuery(WEEKS, END, reps=("rep_a",)))
    assert team_a.questions.messages == [1, 1, 0, 0]
    assert team_a.gaps == []  # d-b's questions and MI request belong to rep_b
    assert (team_a.ae.total, team_a.ae.by_product) == (1, [("Noravex", 1)])
    assert team_a.funnel["invited"] == 1 and team_a.funnel["feedback"] == 1
    assert [r.rep_id for r in team_a.handoffs.per_rep] == ["rep_a"]
    assert team_a.handoffs.requested == 1

    nobody = await records.analytics(AnalyticsQuery(WEEKS, END, reps=()))
    assert nobody.questions.messages == [0, 0, 0, 0] and nobody.ae.total == 0

    other = await records.analytics(AnalyticsQuery(WEEKS, END, product="Other"))
    assert other.questions.messages == [0, 0, 0, 0] and other.documents == []
    assert (other.ae.total, other.gaps) == (1, [])  # MI requests name no product


async def test_retention_prunes_the_projections_with_the_transcripts(
    records: Records, records_settings: Settings
) -> None:
    await seed(records)
    policy = RetentionPolicy.from_settings(records_settings)
    now = END + policy.transcript + timedelta(days=1)
    report = await records.enforce_retention(policy, now)
    assert report.pruned["doctor_message"] == 6 and report.pruned["document_use"] == 4
    assert (await records.analytics(EVERYONE)).questions.messages == [0, 0, 0, 0]
    assert (await records.verify_audit()).ok


def test_similar_questions_group_and_different_ones_do_not() -> None:
    at = MONDAY
    rows = [
        ("Can Noravex be taken with warfarin?", None, 2, 0, at),
        ("can noravex be taken together with warfarin", "interactions", 1, 0, at),
        ("What is the shelf life of Noravex?", None, 1, 0, at),
        ("诺瓦斯的保存期限是多久", None, 0, 1, at),
        ("诺瓦斯保存期限多久？", None, 1, 0, at),
    ]
    groups = group_similar(rows)
    assert [(g.question, g.count) for g in groups] == [
        ("Can Noravex be taken with warfarin?", 3),
        ("诺瓦斯的保存期限是多久", 2),
        ("What is the shelf life of Noravex?", 1),
    ]
