"""Adverse-event cases and their lifecycle events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import AECaseEvent, AECaseRecord
from records.results import CaseEventRecord, CaseQuery, CaseState, CaseSummary, QueueFilter


def to_summary(row: AECaseRecord) -> CaseSummary:
    return CaseSummary(
        case_id=row.case_id,
        status=row.status,
        doctor_id=row.doctor_id,
        day0=row.day0,
        due_at=row.due_at,
        serious=row.serious,
        incomplete=row.incomplete,
        products=row.products,
        categories=row.categories,
        delivered_at=row.delivered_at,
        dead_lettered_at=row.dead_lettered_at,
        delivery_attempts=row.delivery_attempts,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
    )


def to_event(row: AECaseEvent) -> CaseEventRecord:
    return CaseEventRecord(
        case_id=row.case_id, at=row.at, kind=row.kind, actor=row.actor, detail=row.detail
    )


def state_of(now: datetime) -> ColumnElement[str]:
    """A case's ``CaseState`` at ``now``, in SQL: acknowledged, else dead-lettered, else past
    due, else delivered, else new (the first that holds)."""
    return case(
        (AECaseRecord.acknowledged_at.is_not(None), literal(CaseState.ACKED.value)),
        (AECaseRecord.dead_lettered_at.is_not(None), literal(CaseState.DEAD.value)),
        (AECaseRecord.due_at <= now, literal(CaseState.OVERDUE.value)),
        (AECaseRecord.delivered_at.is_not(None), literal(CaseState.AWAITING.value)),
        else_=literal(CaseState.NEW.value),
    )


def _urgency(state: ColumnElement[str]) -> ColumnElement[int]:
    """The state's rank in ``CaseState`` (most urgent first)."""
    return case({item.value: rank for rank, item in enumerate(CaseState)}, value=state, else_=99)


class CaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, case_id: str) -> AECaseRecord | None:
        return await self._session.get(AECaseRecord, case_id)

    def add(self, case: AECaseRecord) -> None:
        self._session.add(case)

    def add_event(
        self, case_id: str, kind: str, at: datetime, actor: str | None, detail: dict[str, Any]
    ) -> None:
        self._session.add(
            AECaseEvent(case_id=case_id, kind=kind, at=at, actor=actor, detail=detail)
        )

    async def events_of(self, case_id: str) -> Sequence[AECaseEvent]:
        query = select(AECaseEvent).where(AECaseEvent.case_id == case_id)
        return (await self._session.scalars(query.order_by(AECaseEvent.id))).all()

    @staticmethod
    def _queue(query: CaseQuery) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        if query.status is not None:
            conditions.append(AECaseRecord.status == query.status)
        if query.unacknowledged or query.overdue_at is not None:
            conditions.append(AECaseRecord.acknowledged_at.is_(None))
        if query.overdue_at is not None:
            conditions.append(AECaseRecord.due_at <= query.overdue_at)
        if query.dead_lettered:
            conditions.append(AECaseRecord.dead_lettered_at.is_not(None))
        if query.doctor_id is not None:
            conditions.append(AECaseRecord.doctor_id == query.doctor_id)
        return and_(true(), *conditions)

    async def queue(
        self, query: CaseQuery, *, offset: int = 0, limit: int = 50
    ) -> tuple[Sequence[AECaseRecord], int]:
        """One page of cases, earliest due first, and how many match in all."""
        where = self._queue(query)
        total = await self._session.scalar(
            select(func.count()).select_from(AECaseRecord).where(where)
        )
        rows = await self._session.scalars(
            select(AECaseRecord)
            .where(where)
            .order_by(AECaseRecord.due_at, AECaseRecord.case_id)
            .offset(offset)
            .limit(limit)
        )
        return rows.all(), int(total or 0)

    async def pv_queue(
        self, wanted: QueueFilter, now: datetime, *, offset: int, limit: int
    ) -> tuple[list[tuple[AECaseRecord, CaseState]], int]:
        """One page of the PV queue: most urgent state first, then earliest due, then case id
        (a total order, so the pages of an unchanged queue neither repeat nor skip a case)."""
        state = state_of(now).label("state")
        conditions: list[ColumnElement[bool]] = []
        if wanted.state is not None:
            conditions.append(state_of(now) == wanted.state.value)
        if wanted.serious:
            conditions.append(AECaseRecord.serious.is_(True))
        if needle := wanted.product.strip().lower():
            conditions.append(func.lower(AECaseRecord.products).contains(needle, autoescape=True))
        where = and_(true(), *conditions)
        total = await self._session.scalar(
            select(func.count()).select_from(AECaseRecord).where(where)
        )
        rows = await self._session.execute(
            select(AECaseRecord, state)
            .where(where)
            .order_by(_urgency(state_of(now)), AECaseRecord.due_at, AECaseRecord.case_id)
            .offset(offset)
            .limit(limit)
        )
        return [(row, CaseState(name)) for row, name in rows.all()], int(total or 0)

    async def state_counts(self, now: datetime) -> dict[CaseState, int]:
        """How many cases stand in each state at ``now`` (every state named, 0 when none)."""
        states = select(state_of(now).label("state")).subquery()
        rows = await self._session.execute(
            select(states.c.state, func.count()).group_by(states.c.state)
        )
        found = {CaseState(name): int(count) for name, count in rows.all()}
        return {item: found.get(item, 0) for item in CaseState}

    async def expired(self, before: datetime) -> list[str]:
        """Ids of cases whose last event is older than ``before``."""
        rows = await self._session.scalars(
            select(AECaseRecord.case_id).where(AECaseRecord.last_event_at < before)
        )
        return list(rows.all())

    async def remove(self, case_ids: Sequence[str]) -> None:
        await self._session.execute(delete(AECaseEvent).where(AECaseEvent.case_id.in_(case_ids)))
        await self._session.execute(delete(AECaseRecord).where(AECaseRecord.case_id.in_(case_ids)))
