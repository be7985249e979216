"""What is kept about people: consent records, HCP verifications, meeting registrations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import ConsentRecord, HCPVerification, MeetingRegistration

PersonRecord = type[ConsentRecord] | type[HCPVerification] | type[MeetingRegistration]


class PeopleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add_consent(self, record: ConsentRecord) -> None:
        self._session.add(record)

    def add_verification(self, record: HCPVerification) -> None:
        self._session.add(record)

    async def consents_of(self, subject_id: str) -> Sequence[ConsentRecord]:
        query = select(ConsentRecord).where(ConsentRecord.subject_id == subject_id)
        return (await self._session.scalars(query.order_by(ConsentRecord.id))).all()

    async def verifications_of(self, doctor_id: str) -> Sequence[HCPVerification]:
        query = select(HCPVerification).where(HCPVerification.doctor_id == doctor_id)
        return (await self._session.scalars(query.order_by(HCPVerification.id))).all()

    async def registration(self, meeting_id: str, doctor_id: str) -> MeetingRegistration | None:
        query = select(MeetingRegistration).where(
            MeetingRegistration.meeting_id == meeting_id,
            MeetingRegistration.doctor_id == doctor_id,
        )
        return await self._session.scalar(query)

    def add_registration(self, record: MeetingRegistration) -> None:
        self._session.add(record)

    async def registrations_for(self, meeting_id: str) -> Sequence[MeetingRegistration]:
        query = select(MeetingRegistration).where(MeetingRegistration.meeting_id == meeting_id)
        return (await self._session.scalars(query.order_by(MeetingRegistration.id))).all()

    async def remove_expired(self, model: PersonRecord, before: datetime) -> list[str]:
        """Delete rows of ``model`` whose last event is older than ``before``; their ids."""
        ids: list[Any] = list(
            (
                await self._session.scalars(select(model.id).where(model.last_event_at < before))
            ).all()
        )
        if ids:
            await self._session.execute(delete(model).where(model.id.in_(ids)))
        return [str(found) for found in ids]
