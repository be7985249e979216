"""Registration records and the seat pool of each meeting.

The seat pool (``Storage.take_seat``/``release_seat``) is the source of truth for who holds a
seat and who waits, atomically across replicas; the record keeps what the doctor confirmed
(name, hospital, department), their language, status and feedback.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from bot.models import Locale
from bot.storage.base import SeatResult, Storage

REGISTRATION_TTL_S = 2 * 365 * 24 * 3600


class Status(StrEnum):
    REGISTERED = "registered"  # holds a seat
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class Registration(BaseModel):
    meeting_id: str
    doctor_id: str
    status: Status
    name: str
    hospital: str
    department: str
    locale: Locale = Locale.ZH
    created_at: datetime
    updated_at: datetime
    invited_by: str | None = None  # the rep whose invitation led here, if any
    feedback: int | None = None


def seat_pool(meeting_id: str) -> str:
    return f"meeting:{meeting_id}"


class RegistrationStore:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    @staticmethod
    def _key(meeting_id: str, doctor_id: str) -> str:
        return f"meetings:reg:{meeting_id}:{doctor_id}"

    async def get(self, meeting_id: str, doctor_id: str) -> Registration | None:
        raw = await self._storage.get_json(self._key(meeting_id, doctor_id))
        return Registration.model_validate(raw) if raw is not None else None

    async def save(self, registration: Registration) -> None:
        await self._storage.set_json(
            self._key(registration.meeting_id, registration.doctor_id),
            registration.model_dump(mode="json"),
            REGISTRATION_TTL_S,
        )
        await self._storage.set_add(
            f"meetings:by-doctor:{registration.doctor_id}", registration.meeting_id
        )
        await self._storage.set_add(
            f"meetings:by-meeting:{registration.meeting_id}", registration.doctor_id
        )

    async def for_doctor(self, doctor_id: str) -> list[Registration]:
        meeting_ids = await self._storage.set_members(f"meetings:by-doctor:{doctor_id}")
        found = [await self.get(meeting_id, doctor_id) for meeting_id in sorted(meeting_ids)]
        return [registration for registration in found if registration is not None]

    async def take_seat(self, meeting_id: str, doctor_id: str, capacity: int) -> SeatResult:
        return await self._storage.take_seat(seat_pool(meeting_id), doctor_id, capacity)

    async def release_seat(self, meeting_id: str, doctor_id: str, capacity: int) -> str | None:
        return await self._storage.release_seat(seat_pool(meeting_id), doctor_id, capacity)

    async def seats(self, meeting_id: str) -> tuple[list[str], list[str]]:
        return await self._storage.seats(seat_pool(meeting_id))

    async def waitlist_position(self, meeting_id: str, doctor_id: str) -> int:
        """1-based place in the waitlist, 0 when not waiting."""
        _, waiting = await self.seats(meeting_id)
        return waiting.index(doctor_id) + 1 if doctor_id in waiting else 0
