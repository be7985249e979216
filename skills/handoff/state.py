"""Handoff records: one per escalation, from the first card to the hand-back.

A record lives under ``handoff:<id>``; ``handoff:open:<lane>:<conversation_key>`` points at
the one open handoff of a conversation per lane (reps; MI requests), so a second request while
one is running joins it instead of paging more reps. ``handoff:doctor:<doctor_id>`` is the set
of the doctor's handoff ids (a record's ``detail`` may hold the doctor's words), so privacy
requests and retention find them (``for_doctor``); it is written before the record, so no
record is ever missing from it. Changes to one record happen under ``lock:handoff:<id>``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from bot.escalation import EscalationReason
from bot.models import Channel
from bot.storage.base import Storage

HANDOFF_TTL_S = 90 * 24 * 3600
LANE_REP = "rep"
LANE_MI = "mi"


class HandoffStatus(StrEnum):
    OFFERED = "offered"  # cards out, waiting for a rep
    ACTIVE = "active"  # a rep has the conversation
    UNANSWERED = "unanswered"  # every stage passed without a taker (cards still accept)
    CLOSED = "closed"  # handed back to the bot


class StageRecord(BaseModel):
    kind: str
    userids: list[str]


class Handoff(BaseModel):
    handoff_id: str
    conversation_key: str
    doctor_id: str
    reason: EscalationReason
    detail: str = ""
    reference: str | None = None
    requested_at: datetime
    status: HandoffStatus = HandoffStatus.OFFERED
    stages: list[StageRecord] = Field(default_factory=list)
    stage_index: int = -1
    offered_to: list[str] = Field(default_factory=list)  # the current stage's recipients
    offered_at: datetime | None = None
    ever_offered: list[str] = Field(default_factory=list)
    declined_by: list[str] = Field(default_factory=list)
    taken_by: str | None = None
    taken_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    # the doctor's route when the handoff started (for the kf service state)
    channel: Channel | None = None
    recipient_id: str = ""
    route_extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in (HandoffStatus.OFFERED, HandoffStatus.ACTIVE)

    @property
    def lane(self) -> str:
        """MI requests run beside a rep handoff of the same conversation, not inside it."""
        return LANE_MI if self.reason is EscalationReason.MEDICAL_INFORMATION else LANE_REP

    @property
    def stage_kind(self) -> str:
        return (
            self.stages[self.stage_index].kind if 0 <= self.stage_index < len(self.stages) else ""
        )


class HandoffStore:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    @staticmethod
    def lock_name(handoff_id: str) -> str:
        return f"lock:handoff:{handoff_id}"

    @staticmethod
    def _key(handoff_id: str) -> str:
        return f"handoff:{handoff_id}"

    @staticmethod
    def doctor_key(doctor_id: str) -> str:
        return f"handoff:doctor:{doctor_id}"

    @staticmethod
    def _open_key(conversation_key: str, lane: str) -> str:
        return f"handoff:open:{lane}:{conversation_key}"

    async def get(self, handoff_id: str) -> Handoff | None:
        raw = await self._storage.get_json(self._key(handoff_id))
        return Handoff.model_validate(raw) if raw is not None else None

    async def save(self, handoff: Handoff) -> None:
        await self._storage.set_add(self.doctor_key(handoff.doctor_id), handoff.handoff_id)
        await self._storage.set_json(
            self._key(handoff.handoff_id), handoff.model_dump(mode="json"), HANDOFF_TTL_S
        )
        open_key = self._open_key(handoff.conversation_key, handoff.lane)
        if handoff.is_open:
            await self._storage.set_json(open_key, handoff.handoff_id, HANDOFF_TTL_S)
        elif await self._storage.get_json(open_key) == handoff.handoff_id:
            await self._storage.delete(open_key)

    async def open_for(
        self, conversation_key: str, lanes: tuple[str, ...] = (LANE_REP,)
    ) -> Handoff | None:
        """The conversation's open handoff (offered or active) in the first of ``lanes``."""
        for lane in lanes:
            handoff_id = await self._storage.get_json(self._open_key(conversation_key, lane))
            handoff = await self.get(handoff_id) if isinstance(handoff_id, str) else None
            if handoff is not None and handoff.is_open:
                return handoff
        return None

    async def for_doctor(self, doctor_id: str) -> list[Handoff]:
        """The doctor's handoff records still stored (expired ones are skipped)."""
        found = [
            await self.get(handoff_id)
            for handoff_id in sorted(await self._storage.set_members(self.doctor_key(doctor_id)))
        ]
        return [handoff for handoff in found if handoff is not None]

    async def forget(self, handoff: Handoff) -> None:
        """Delete a record, the conversation's pointer to it and its index entry (erasure,
        retention); a card or timer that comes later finds nothing, as after the TTL."""
        await self._storage.delete(self._key(handoff.handoff_id))
        open_key = self._open_key(handoff.conversation_key, handoff.lane)
        if await self._storage.get_json(open_key) == handoff.handoff_id:
            await self._storage.delete(open_key)
        await self._storage.set_remove(self.doctor_key(handoff.doctor_id), handoff.handoff_id)
