"""Medical-information (MI) requests: questions the bot may not answer, for an MSL to answer.

A request holds the question, a snapshot of the doctor's profile and the conversation reference.
It is stored as a document (``mi:<id>``), indexed in the ``mi:open``/``mi:all`` sets, and put on
the durable ``mi_requests`` queue; the Q&A skill also raises an escalation so the handoff skill
routes it to an MSL. ``virtualrep mi list|show|close`` manages them. With the system of record
open (``records``) every save is written there too, where the console lists them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from bot.profiles import DoctorProfile
from bot.storage.base import Storage

if TYPE_CHECKING:
    from records import Records

MI_QUEUE: Final = "mi_requests"
_TTL_S = 5 * 365 * 24 * 3600  # kept with the compliance record


class MIStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class MIRequest(BaseModel):
    mi_id: str
    question: str
    doctor_id: str
    conversation_key: str
    channel: str
    profile: dict[str, Any] = Field(default_factory=dict)  # name, hospital, department, ...
    status: MIStatus = MIStatus.OPEN
    created_at: datetime
    respond_by: datetime
    closed_at: datetime | None = None
    closed_by: str | None = None
    resolution: str = ""


def profile_snapshot(profile: DoctorProfile | None) -> dict[str, Any]:
    if profile is None:
        return {}
    return profile.model_dump(
        mode="json",
        include={"name", "hospital", "department", "title", "verified", "assigned_rep"},
    )


class MIStore:
    def __init__(self, storage: Storage, records: Records | None = None) -> None:
        self._storage = storage
        self._records = records

    async def create(
        self,
        *,
        question: str,
        doctor_id: str,
        conversation_key: str,
        channel: str,
        profile: DoctorProfile | None,
        at: datetime,
        response_hours: int,
        timezone: str,
    ) -> MIRequest:
        """Store a new open request and queue it; the id reads ``MI-YYYYMMDD-NNNN``.

        The date is the company's (``timezone``, ``VREP_TIMEZONE``), as in AE case ids, so a
        request made at 07:00 in Shanghai is not dated the day before.
        """
        number = await self._storage.incr("mi:seq")
        day = at.astimezone(ZoneInfo(timezone)).strftime("%Y%m%d")
        request = MIRequest(
            mi_id=f"MI-{day}-{number:04d}",
            question=question,
            doctor_id=doctor_id,
            conversation_key=conversation_key,
            channel=channel,
            profile=profile_snapshot(profile),
            created_at=at,
            respond_by=at + timedelta(hours=response_hours),
        )
        await self._save(request)
        await self._storage.set_add("mi:all", request.mi_id)
        await self._storage.set_add("mi:open", request.mi_id)
        await self._storage.enqueue(MI_QUEUE, request.model_dump(mode="json"))
        return request

    async def get(self, mi_id: str) -> MIRequest | None:
        raw = await self._storage.get_json(f"mi:{mi_id}")
        return MIRequest.model_validate(raw) if raw is not None else None

    async def list(self, *, include_closed: bool = False) -> list[MIRequest]:
        """Requests, oldest first (open ones only unless ``include_closed``)."""
        ids = await self._storage.set_members("mi:all" if include_closed else "mi:open")
        found = [request for mi_id in ids if (request := await self.get(mi_id)) is not None]
        return sorted(found, key=lambda request: (request.created_at, request.mi_id))

    async def close(self, mi_id: str, *, by: str, at: datetime, resolution: str = "") -> MIRequest:
        """Close an open request; raises ``KeyError`` if unknown, ``ValueError`` if closed."""
        request = await self.get(mi_id)
        if request is None:
            raise KeyError(mi_id)
        if request.status is MIStatus.CLOSED:
            raise ValueError(f"{mi_id} is already closed")
        request = request.model_copy(
            update={
                "status": MIStatus.CLOSED,
                "closed_at": at,
                "closed_by": by,
                "resolution": resolution,
            }
        )
        await self._save(request)
        await self._storage.set_remove("mi:open", mi_id)
        return request

    async def _save(self, request: MIRequest) -> None:
        document = request.model_dump(mode="json")
        await self._storage.set_json(f"mi:{request.mi_id}", document, _TTL_S)
        if self._records is not None:
            from records import MISnapshot

            await self._records.save_mi(
                MISnapshot.from_document(document), request.closed_at or request.created_at
            )
