"""Medical-information requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import MIRequestRecord
from records.results import MIRecord


def to_mi(row: MIRequestRecord) -> MIRecord:
    return MIRecord(
        mi_id=row.mi_id,
        status=row.status,
        doctor_id=row.doctor_id,
        question=row.question,
        created_at=row.created_at,
        respond_by=row.respond_by,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        assigned_to=row.assigned_to,
        resolution=row.resolution,
        profile=dict(row.document.get("profile") or {}),
    )


class MIRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, mi_id: str) -> MIRequestRecord | None:
        return await self._session.get(MIRequestRecord, mi_id)

    def add(self, request: MIRequestRecord) -> None:
        self._session.add(request)

    async def by_status(
        self, status: str | None, *, offset: int = 0, limit: int = 50
    ) -> tuple[Sequence[MIRequestRecord], int]:
        """One page, earliest due first, and how many match in all."""
        query = select(MIRequestRecord)
        counted = select(func.count()).select_from(MIRequestRecord)
        if status is not None:
            query = query.where(MIRequestRecord.status == status)
            counted = counted.where(MIRequestRecord.status == status)
        rows = await self._session.scalars(
            query.order_by(MIRequestRecord.respond_by, MIRequestRecord.mi_id)
            .offset(offset)
            .limit(limit)
        )
        return rows.all(), int(await self._session.scalar(counted) or 0)

    async def expired(self, before: datetime) -> list[str]:
        rows = await self._session.scalars(
            select(MIRequestRecord.mi_id).where(MIRequestRecord.last_event_at < before)
        )
        return list(rows.all())

    async def remove(self, mi_ids: Sequence[str]) -> None:
        await self._session.execute(
            delete(MIRequestRecord).where(MIRequestRecord.mi_id.in_(mi_ids))
        )
