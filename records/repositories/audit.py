"""The audit trail: append at the head of the chain, read in order, search, redact."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from records.chain import GENESIS, ChainLink, link_hash, payload_digest
from records.models import AuditEntry
from records.results import AuditQuery, AuditRecord


def to_record(row: AuditEntry) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        at=row.at,
        kind=row.kind,
        doctor_id=row.doctor_id,
        case_id=row.case_id,
        actor=row.actor,
        payload=row.payload,
        hash=row.hash,
        prev_hash=row.prev_hash,
    )


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def head(self) -> tuple[int, str]:
        """(last position, its hash); (0, GENESIS) for an empty trail."""
        row = (
            await self._session.execute(
                select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
            )
        ).first()
        return (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)

    async def has_source(self, source_id: str) -> bool:
        found = await self._session.scalar(
            select(AuditEntry.seq).where(AuditEntry.source_id == source_id)
        )
        return found is not None

    async def append(
        self,
        *,
        at: datetime,
        kind: str,
        payload: dict[str, Any],
        doctor_id: str | None,
        case_id: str | None,
        actor: str | None,
        source_id: str | None = None,
    ) -> AuditEntry:
        """Insert at the head; a concurrent append of the same position fails on flush."""
        seq, prev = await self.head()
        digest = payload_digest(payload)
        entry = AuditEntry(
            seq=seq + 1,
            at=at,
            kind=kind,
            doctor_id=doctor_id,
            case_id=case_id,
            actor=actor,
            payload=payload,
            digest=digest,
            prev_hash=prev,
            hash=link_hash(prev, seq + 1, at, kind, digest),
            source_id=source_id,
        )
        self._session.add(entry)
        await self._session.flush()
        return entry

    async def links(self, after_seq: int, limit: int) -> list[ChainLink]:
        rows = await self._session.execute(
            select(
                AuditEntry.seq,
                AuditEntry.at,
                AuditEntry.kind,
                AuditEntry.payload,
                AuditEntry.digest,
                AuditEntry.prev_hash,
                AuditEntry.hash,
                AuditEntry.redacted_at,
            )
            .where(AuditEntry.seq > after_seq)
            .order_by(AuditEntry.seq)
            .limit(limit)
        )
        return [ChainLink(*row) for row in rows]

    @staticmethod
    def _filters(query: AuditQuery) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = []
        if query.start is not None:
            conditions.append(AuditEntry.at >= query.start)
        if query.end is not None:
            conditions.append(AuditEntry.at < query.end)
        if query.doctor_id is not None:
            conditions.append(AuditEntry.doctor_id == query.doctor_id)
        if query.case_id is not None:
            conditions.append(AuditEntry.case_id == query.case_id)
        if query.kind is not None:
            conditions.append(AuditEntry.kind == query.kind)
        return and_(true(), *conditions)

    async def find(
        self, query: AuditQuery, *, after_seq: int = 0, offset: int = 0, limit: int = 100
    ) -> Sequence[AuditEntry]:
        """Matching entries in chain order, from ``after_seq`` (keyset) or ``offset``."""
        statement = select(AuditEntry).where(self._filters(query), AuditEntry.seq > after_seq)
        statement = statement.order_by(AuditEntry.seq).offset(offset).limit(limit)
        return (await self._session.scalars(statement)).all()

    async def count(self, query: AuditQuery) -> int:
        statement = select(func.count()).select_from(AuditEntry).where(self._filters(query))
        return int(await self._session.scalar(statement) or 0)

    async def redact(self, where: ColumnElement[bool], at: datetime) -> int:
        """Blank the payload of matching entries (digest and hash stay: the chain holds)."""
        result = await self._session.execute(
            update(AuditEntry)
            .where(where, AuditEntry.payload.is_not(None), AuditEntry.redacted_at.is_(None))
            .values(payload=None, redacted_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def redact_uncased(self, kind: str | None, before: datetime, at: datetime) -> int:
        """Redact records older than ``before`` that belong to no case: of ``kind``, or
        (None) of every kind but the conversation transcript's ``message``."""
        condition = AuditEntry.kind == kind if kind is not None else AuditEntry.kind != "message"
        return await self.redact(
            and_(condition, AuditEntry.case_id.is_(None), AuditEntry.at < before), at
        )
