"""The console's analytics answered by the system of record, on SQLite and PostgreSQL: what
the audit trail projects (doctors' messages, cited documents, handoffs, meeting steps), the
figures per week, the team scope and the product filter, content gaps grouped by similarity,
and retention pruning the projections with the transcripts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.settings import Settings
from privacy.recorded import RecordsHolding
from records import Records, RetentionPolicy
from records.analytics import AnalyticsQuery, group_similar
from records.models import DoctorMessage, DoctorRep, HandoffRecord
from tests.records.analytics_support import END, EVERYONE, MONDAY, WEEKS, seed


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
    assert figures.declined_by == {"rep_b": 1}

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
    assert team_a.handoffs.declined_by == {}  # rep_b's decline is another team's
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


async def test_a_doctors_erasure_removes_them_from_the_analytics(records: Records) -> None:
    await seed(records)
    # Privacy's erasure of the system-of-record rows (its hook calls erase_doctor_projections).
    await RecordsHolding(records).erase("d-a")
    found = await records.analytics(EVERYONE)
    assert found.questions.messages == [0, 1, 2, 0]  # d-b's stay
    assert found.documents == []  # every citation was to d-a
    async with records.session() as session:
        doctors = await session.scalars(select(DoctorMessage.doctor_id).distinct())
        assert list(doctors) == ["d-b"]
        assert list(await session.scalars(select(DoctorRep.doctor_id))) == ["d-b"]
        handoffs = await session.execute(
            select(HandoffRecord.handoff_id, HandoffRecord.doctor_id).order_by("handoff_id")
        )
        assert list(handoffs) == [("H-1", ""), ("H-2", "d-b")]  # rep_a's work, doctor blanked
    assert [(r.rep_id, r.taken) for r in found.handoffs.per_rep] == [("rep_a", 1), ("rep_c", 1)]
    assert await records.erase_doctor_projections("d-a") == 0  # again: nothing left
    assert await records.erase_doctor_projections("d-b") == 5  # 3 messages, rep link, handoff
    async with records.session() as session:
        assert await session.scalar(select(func.count()).select_from(DoctorMessage)) == 0


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
