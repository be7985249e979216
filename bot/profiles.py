"""Doctor profiles: identity as declared, verification, contact route and interests.

One profile per doctor (keyed by the sender id: the kf external_userid, or the console user).
Used by Q&A (HCP verification gates HCP-only content), meetings (registration details,
ranking by specialty) and handoff (the rep's card, the interest profile). Never holds
adverse-event case details: those live with the cases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from bot.models import Channel, InboundMessage, utcnow
from bot.storage.base import Document, Fence, Storage

PROFILE_TTL_S = 3 * 365 * 24 * 3600


class ContactRoute(BaseModel):
    """How to reach the doctor proactively: the last conversation they wrote in."""

    channel: Channel
    conversation_key: str
    recipient_id: str
    extra: dict[str, Any] = Field(default_factory=dict)  # e.g. open_kfid
    last_inbound_at: datetime


class DoctorProfile(BaseModel):
    doctor_id: str
    name: str | None = None
    hospital: str | None = None
    department: str | None = None
    title: str | None = None
    specialties: list[str] = Field(default_factory=list)
    verified: bool = False
    verified_by: str | None = None
    verified_at: datetime | None = None
    assigned_rep: str | None = None
    contact: ContactRoute | None = None
    # Interest profile (handoff issue): counts per topic / product / therapeutic area.
    topics: dict[str, int] = Field(default_factory=dict)
    products: dict[str, int] = Field(default_factory=dict)
    therapeutic_areas: dict[str, int] = Field(default_factory=dict)
    meetings_registered: list[str] = Field(default_factory=list)
    meetings_attended: list[str] = Field(default_factory=list)
    last_contact_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # Set from the consent records on each of the doctor's messages (privacy/): without consent
    # to the current notice no interest profile is built and no unsolicited message is sent;
    # after a personalisation opt-out no interest profile is built or used.
    contact_consented: bool = True
    personalised: bool = True

    @property
    def display_name(self) -> str:
        return self.name or self.doctor_id

    def note_inbound(self, message: InboundMessage) -> None:
        """Remember the route for proactive messages and the time of last contact.

        Both keep the latest message's: a message handled late (a retry, a redelivery after a
        crash, a slow replica) that was received before the stored one changes neither, so it
        cannot move ``last_inbound_at`` back (and shut the reply window early) nor send the
        next proactive message to an older conversation.
        """
        if self.contact is not None and message.received_at < self.contact.last_inbound_at:
            return
        self.contact = ContactRoute(
            channel=message.channel,
            conversation_key=message.conversation_key,
            recipient_id=message.sender_id,
            extra=dict(message.extra),
            last_inbound_at=message.received_at,
        )
        self.last_contact_at = max(self.last_contact_at or message.received_at, message.received_at)


class ProfileStore:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    @staticmethod
    def _key(doctor_id: str) -> str:
        return f"profile:{doctor_id}"

    async def get(self, doctor_id: str) -> DoctorProfile | None:
        raw = await self._storage.get_json(self._key(doctor_id))
        return DoctorProfile.model_validate(raw) if raw is not None else None

    async def get_or_create(self, doctor_id: str) -> DoctorProfile:
        return await self.get(doctor_id) or DoctorProfile(doctor_id=doctor_id)

    def document(self, profile: DoctorProfile) -> Document:
        """The profile as stored (for a fenced write together with other documents)."""
        return Document(
            self._key(profile.doctor_id), profile.model_dump(mode="json"), PROFILE_TTL_S
        )

    async def save(self, profile: DoctorProfile, fence: Fence | None = None) -> None:
        """Store ``profile``; with ``fence`` (the conversation lock held) only while that holding
        was not taken over, else ``LockLost`` and nothing changed."""
        document = self.document(profile)
        if fence is None:
            await self._storage.set_json(document.key, document.value, document.ttl_s)
        else:
            await self._storage.set_json_fenced(fence, document)
        await self.listed(profile)

    async def listed(self, profile: DoctorProfile) -> None:
        """Add the profile to the index of every profile (idempotent)."""
        await self._storage.set_add("profiles", profile.doctor_id)

    async def all_ids(self) -> set[str]:
        return await self._storage.set_members("profiles")

    async def find(self, id_or_name: str) -> DoctorProfile | None:
        """A profile by doctor id, else the one profile whose declared name is ``id_or_name``
        (None when no profile or several share that name: a rep command must not guess)."""
        profile = await self.get(id_or_name)
        if profile is not None:
            return profile
        named = []
        for doctor_id in await self.all_ids():
            candidate = await self.get(doctor_id)
            if candidate is not None and candidate.name == id_or_name:
                named.append(candidate)
        return named[0] if len(named) == 1 else None
