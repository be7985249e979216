"""The console's analytics, answered by SQL over the system of record.

Every figure is one aggregate query over an indexed time range (SQLite and PostgreSQL alike):
weeks are ``CASE`` buckets whose bounds the caller computes in business time, so no
backend-specific date function is needed. What the database cannot do portably is left to
small, bounded Python steps: splitting the ``; ``-joined product and category names of the
grouped AE rows, medians of response times, and grouping content gaps by similarity.

Scope: ``AnalyticsQuery.reps`` limits every figure to the doctors of those reps (a manager's
team) — messages and cited documents by the rep the doctor had then, cases, MI requests and
meeting registrations through the doctor's last known rep (``doctor_reps``), response times
by the rep who took the handoff. ``None`` means everyone (compliance, admins, MSLs).
"""

from __future__ import annotations

import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import (
    AECaseRecord,
    DoctorMessage,
    DoctorRep,
    DocumentUse,
    HandoffDecline,
    HandoffRecord,
    MeetingRegistration,
    MIRequestRecord,
)

GAP_ROWS = 2000  # the newest distinct gap questions grouped per view (bounded Python work)
GAP_SIMILARITY = 0.45  # Jaccard of character bigrams: same question, other words
TOP_DOCUMENTS = 20
FUNNEL_STEPS = ("invited", "registered", "reminded", "attended", "feedback")
Columns = TypeVarTuple("Columns")


@dataclass(frozen=True)
class AnalyticsQuery:
    """The period as week starts (aware, ascending; ``end`` exclusive) and the filters."""

    weeks: tuple[datetime, ...]
    end: datetime
    product: str | None = None
    reps: tuple[str, ...] | None = None

    @property
    def start(self) -> datetime:
        return self.weeks[0]


@dataclass(frozen=True)
class AEVolume:
    total: int
    serious: int
    by_product: list[tuple[str, int]]
    by_category: list[tuple[str, int]]
    per_week: list[int]


@dataclass(frozen=True)
class QuestionWeeks:
    """Doctors' messages per week: all of them, the questions (a topic was read), those
    approved content answered, the gaps; and the questions per topic and per product."""

    messages: list[int]
    questions: list[int]
    answered: list[int]
    gaps: list[int]
    by_topic: dict[str, list[int]]
    by_product: dict[str, list[int]]


@dataclass(frozen=True)
class GapGroup:
    """Similar questions approved content did not answer (or that became MI requests)."""

    question: str  # the most asked wording
    count: int
    no_information: int  # answered "no approved information"
    mi_requests: int
    last_at: datetime
    topic: str | None
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DocumentCount:
    doc_id: str
    approval_code: str | None
    uses: int


@dataclass(frozen=True)
class RepResponse:
    rep_id: str
    taken: int
    median_s: float
    p90_s: float
    slowest_s: float


@dataclass(frozen=True)
class HandoffFigures:
    requested: int
    taken: int
    sla_breached: int
    declined: int
    per_rep: list[RepResponse]
    declined_by: dict[str, int] = field(default_factory=dict)  # declines in the period, per rep


def week_bucket(column: Any, weeks: Sequence[datetime], low: int = 0, high: int = -1) -> Any:
    """The index of the week ``column`` falls in, as nested ``CASE``s that halve the weeks
    (six comparisons a row for a year, where one flat ``CASE`` per week made 52)."""
    high = len(weeks) if high < 0 else high
    if high - low == 1:
        return literal(low)
    middle = (low + high) // 2
    return case(
        (column < weeks[middle], week_bucket(column, weeks, low, middle)),
        else_=week_bucket(column, weeks, middle, high),
    )


def _period(column: Any, query: AnalyticsQuery) -> ColumnElement[bool]:
    return and_(column >= query.start, column < query.end)


def _by_doctor(statement: Select[*Columns], doctor: Any, query: AnalyticsQuery) -> Select[*Columns]:
    """Restrict to doctors whose last known rep is one of ``query.reps``."""
    if query.reps is None:
        return statement
    team = select(DoctorRep.doctor_id).where(DoctorRep.rep_id.in_(query.reps))
    return statement.where(doctor.in_(team))


def _names(joined: str) -> list[str]:
    return [name.strip() for name in joined.split(";") if name.strip()]


async def ae_volume(session: AsyncSession, query: AnalyticsQuery) -> AEVolume:
    """Cases opened in the period, by product, category, seriousness and week."""
    bucket = week_bucket(AECaseRecord.opened_at, query.weeks)
    statement = select(
        AECaseRecord.products,
        AECaseRecord.categories,
        AECaseRecord.serious,
        bucket,
        func.count(),
    ).where(_period(AECaseRecord.opened_at, query))
    if query.product:
        statement = statement.where(AECaseRecord.products.contains(query.product))
    statement = _by_doctor(statement, AECaseRecord.doctor_id, query)
    statement = statement.group_by(
        AECaseRecord.products, AECaseRecord.categories, AECaseRecord.serious, bucket
    )
    products: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    per_week = [0] * len(query.weeks)
    total = serious = 0
    for joined_products, joined_categories, is_serious, week, count in await session.execute(
        statement
    ):
        total += count
        serious += count if is_serious else 0
        if week is not None:
            per_week[week] += count
        for name in _names(joined_products) or ["—"]:
            products[name] += count
        for name in _names(joined_categories) or ["—"]:
            categories[name] += count
    return AEVolume(total, serious, products.most_common(), categories.most_common(), per_week)


def _message_filters(
    statement: Select[*Columns], model: Any, query: AnalyticsQuery
) -> Select[*Columns]:
    statement = statement.where(_period(model.at, query))
    if query.product:
        statement = statement.where(model.product == query.product)
    if query.reps is not None:
        statement = statement.where(model.rep_id.in_(query.reps))
    return statement


async def question_weeks(session: AsyncSession, query: AnalyticsQuery) -> QuestionWeeks:
    bucket = week_bucket(DoctorMessage.at, query.weeks)
    statement = select(
        bucket,
        DoctorMessage.topic,
        DoctorMessage.product,
        func.count(),
        func.sum(case((DoctorMessage.answered, 1), else_=0)),
        func.sum(case((DoctorMessage.gap, 1), else_=0)),
    )
    statement = _message_filters(statement, DoctorMessage, query).group_by(
        bucket, DoctorMessage.topic, DoctorMessage.product
    )
    size = len(query.weeks)
    found = QuestionWeeks([0] * size, [0] * size, [0] * size, [0] * size, {}, {})
    for week, topic, product, count, answered, gaps in await session.execute(statement):
        found.messages[week] += count
        found.answered[week] += answered or 0
        found.gaps[week] += gaps or 0
        if topic is None:
            continue
        found.questions[week] += count
        found.by_topic.setdefault(topic, [0] * size)[week] += count
        found.by_product.setdefault(product or "—", [0] * size)[week] += count
    return found


async def content_gaps(session: AsyncSession, query: AnalyticsQuery) -> list[GapGroup]:
    """Questions without an approved answer and MI requests, grouped by similarity, the
    largest group first."""
    latest = func.max(DoctorMessage.at)
    asked = select(DoctorMessage.question, DoctorMessage.topic, func.count(), latest).where(
        DoctorMessage.gap, DoctorMessage.question.is_not(None)
    )
    asked = _message_filters(asked, DoctorMessage, query)
    asked = asked.group_by(DoctorMessage.question, DoctorMessage.topic)
    rows: list[tuple[str, str | None, int, int, datetime]] = [
        (question, topic, count, 0, at)
        for question, topic, count, at in await session.execute(
            asked.order_by(latest.desc()).limit(GAP_ROWS)
        )
        if question is not None  # excluded by the query; mypy cannot tell
    ]
    if not query.product:  # MI requests name no product of their own
        newest = func.max(MIRequestRecord.created_at)
        requested = select(MIRequestRecord.question, func.count(), newest).where(
            _period(MIRequestRecord.created_at, query)
        )
        requested = _by_doctor(requested, MIRequestRecord.doctor_id, query)
        requested = requested.group_by(MIRequestRecord.question)
        rows += [
            (question, None, 0, count, at)
            for question, count, at in await session.execute(
                requested.order_by(newest.desc()).limit(GAP_ROWS)
            )
        ]
    return group_similar(rows)


def _shingles(text: str) -> frozenset[str]:
    """Character bigrams of the text without spaces and punctuation (works for Chinese,
    which has no word breaks, and for English alike)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    kept = "".join(ch for ch in folded if ch.isalnum())
    if len(kept) < 2:
        return frozenset({kept})
    return frozenset(kept[i : i + 2] for i in range(len(kept) - 1))


def group_similar(rows: Sequence[tuple[str, str | None, int, int, datetime]]) -> list[GapGroup]:
    """Greedy single pass: each question joins the first group whose first wording shares at
    least ``GAP_SIMILARITY`` of its character bigrams (Jaccard), else starts a group.

    ``rows`` are (question, topic, times answered "no information", MI requests, last time).
    """
    groups: list[tuple[frozenset[str], list[tuple[str, str | None, int, int, datetime]]]] = []
    # The same wording (under another topic, or also an MI request) joins the group its first
    # row joined, as the scan would find: compared once per wording, not once per row.
    joined: dict[str, list[tuple[str, str | None, int, int, datetime]]] = {}
    for row in rows:
        if (known := joined.get(row[0])) is not None:
            known.append(row)
            continue
        shingles = _shingles(row[0])
        for head, members in groups:
            union = len(head | shingles)
            if union and len(head & shingles) / union >= GAP_SIMILARITY:
                members.append(row)
                break
        else:
            members = [row]
            groups.append((shingles, members))
        joined[row[0]] = members
    found = []
    for _, members in groups:
        wordings: Counter[str] = Counter()
        topics: Counter[str] = Counter()
        for question, topic, no_info, mi, _ in members:
            wordings[question] += no_info + mi
            if topic:
                topics[topic] += no_info + mi
        found.append(
            GapGroup(
                question=wordings.most_common(1)[0][0],
                count=sum(wordings.values()),
                no_information=sum(m[2] for m in members),
                mi_requests=sum(m[3] for m in members),
                last_at=max(m[4] for m in members),
                topic=topics.most_common(1)[0][0] if topics else None,
                examples=[w for w, _ in wordings.most_common(4)[1:]],
            )
        )
    return sorted(found, key=lambda group: (-group.count, -group.last_at.timestamp()))


async def documents_used(session: AsyncSession, query: AnalyticsQuery) -> list[DocumentCount]:
    uses = func.count().label("uses")
    statement = select(DocumentUse.doc_id, func.max(DocumentUse.approval_code), uses)
    statement = _message_filters(statement, DocumentUse, query).group_by(DocumentUse.doc_id)
    statement = statement.order_by(uses.desc(), DocumentUse.doc_id).limit(TOP_DOCUMENTS)
    return [
        DocumentCount(doc, code, count) for doc, code, count in await session.execute(statement)
    ]


async def meeting_funnel(session: AsyncSession, query: AnalyticsQuery) -> dict[str, int]:
    """Doctors reaching each step, for registrations that began in the period (invited or,
    when they came on their own, registered)."""
    row = MeetingRegistration
    began = func.coalesce(row.invited_at, row.registered_at)
    statement = select(
        func.count(row.invited_at),
        func.count(row.registered_at),
        func.count(row.reminded_at),
        func.count(row.attended_at),
        func.count(row.feedback_at),
    ).where(_period(began, query))
    statement = _by_doctor(statement, row.doctor_id, query)
    counts = (await session.execute(statement)).one()
    return dict(zip(FUNNEL_STEPS, (int(count) for count in counts), strict=True))


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def handoff_figures(session: AsyncSession, query: AnalyticsQuery) -> HandoffFigures:
    """Handoffs requested in the period and, per rep who took them, how long the doctor
    waited (median, 90th percentile, slowest); per rep, the offers declined in the period.
    The console's analytics and its managers' page both read this."""
    row = HandoffRecord
    totals = select(
        func.count(),
        func.count(row.taken_at),
        func.sum(case((row.sla_breached, 1), else_=0)),
        func.sum(row.declined),
    ).where(_period(row.requested_at, query))
    taken = select(row.taken_by, row.waited_s).where(
        _period(row.requested_at, query), row.taken_by.is_not(None), row.waited_s.is_not(None)
    )
    declines = (
        select(HandoffDecline.rep_id, func.count())
        .where(_period(HandoffDecline.at, query))
        .group_by(HandoffDecline.rep_id)
    )
    if query.reps is not None:
        totals = _by_doctor(totals, row.doctor_id, query)
        taken = taken.where(row.taken_by.in_(query.reps))
        declines = declines.where(HandoffDecline.rep_id.in_(query.reps))
    requested, taken_count, breached, declined = (await session.execute(totals)).one()
    waits: defaultdict[str, list[float]] = defaultdict(list)
    for rep, waited in await session.execute(taken):
        if rep is not None and waited is not None:  # the query excludes both; mypy cannot tell
            waits[rep].append(float(waited))
    per_rep = [
        RepResponse(
            rep,
            len(values),
            statistics.median(values),
            _percentile(values, 0.9),
            max(values),
        )
        for rep, values in waits.items()
    ]
    per_rep.sort(key=lambda item: (item.median_s, item.rep_id))
    declined_by = {rep: int(count) for rep, count in await session.execute(declines)}
    return HandoffFigures(
        requested, taken_count, int(breached or 0), int(declined or 0), per_rep, declined_by
    )


@dataclass(frozen=True)
class AnalyticsReport:
    """Every figure of the analytics page for one query."""

    query: AnalyticsQuery
    ae: AEVolume
    questions: QuestionWeeks
    gaps: list[GapGroup]
    documents: list[DocumentCount]
    funnel: dict[str, int]
    handoffs: HandoffFigures
    products: list[str]


async def report(session: AsyncSession, query: AnalyticsQuery) -> AnalyticsReport:
    """All figures, one query after the other on one session (one snapshot on PostgreSQL
    would need REPEATABLE READ; these are counts, a message arriving mid-way is harmless)."""
    return AnalyticsReport(
        query,
        await ae_volume(session, query),
        await question_weeks(session, query),
        await content_gaps(session, query),
        await documents_used(session, query),
        await meeting_funnel(session, query),
        await handoff_figures(session, query),
        await products_seen(session),
    )


async def products_seen(session: AsyncSession) -> list[str]:
    """The product names questions were about (the filter's choices)."""
    statement = select(DoctorMessage.product).where(DoctorMessage.product.is_not(None))
    return sorted(p for p in (await session.scalars(statement.distinct())).all() if p)
