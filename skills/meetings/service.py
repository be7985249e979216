"""Registration, cancellation and waitlist promotion, with their schedules and audit records.

One ``MeetingsService`` per process (``services.extras["meetings"]``) holds the catalog source
and the registration store. Every state change is audited: ``meeting_registration``,
``meeting_cancellation``, ``meeting_promotion`` (and, elsewhere, invitations, reminders and
feedback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.models import Locale
from bot.profiles import DoctorProfile, ProfileStore
from bot.services import Services
from bot.storage.base import SeatResult
from skills.meetings.catalog import Catalog, CatalogSource, Meeting
from skills.meetings.registrations import Registration, RegistrationStore, Status

REMINDER_SCHEDULE = "meetings.reminder"
PROMOTION_SCHEDULE = "meetings.promotion"
REMINDER_LEADS = {"day": timedelta(hours=24), "hour": timedelta(hours=1)}
FOLLOWUP_KIND = "followup"
FOLLOWUP_DELAY = timedelta(minutes=15)  # after the end: materials and the feedback question
EXTRAS_KEY = "meetings"
INVITATION_TTL_S = 180 * 24 * 3600


class RegistrationClosed(Exception):
    """The deadline (or the start) has passed."""


@dataclass(frozen=True)
class Details:
    """What a registration records about the doctor (confirmed by them)."""

    name: str
    hospital: str
    department: str


def reminder_id(meeting_id: str, doctor_id: str, kind: str) -> str:
    return f"{meeting_id}|{doctor_id}|{kind}"


def reminder_due(meeting: Meeting, kind: str) -> datetime:
    if kind == FOLLOWUP_KIND:
        return meeting.end + FOLLOWUP_DELAY
    return meeting.start - REMINDER_LEADS[kind]


def invitation_key(meeting_id: str, doctor_id: str) -> str:
    """Remembers which rep invited a doctor, so the registration can credit the invitation."""
    return f"meetings:invited:{meeting_id}:{doctor_id}"


def conversation_lock(conversation_key: str) -> str:
    """The lock ``ConversationStateMiddleware`` holds while a conversation's state is in use."""
    return f"lock:conv:{conversation_key}"


class MeetingsService:
    def __init__(self, services: Services, catalog_source: CatalogSource | None = None) -> None:
        self.services = services
        self.catalog_source = catalog_source or CatalogSource(services.settings)
        self.registrations = RegistrationStore(services.storage)
        self.profiles = ProfileStore(services.storage)

    async def catalog(self) -> Catalog:
        return await self.catalog_source.get()

    async def meeting(self, meeting_id: str) -> Meeting | None:
        return (await self.catalog()).get(meeting_id)

    async def _audit(self, kind: str, meeting: Meeting, doctor_id: str, **fields: Any) -> None:
        await self.services.audit.record(
            kind,
            self.services.clock(),
            meeting=meeting.id,
            compliance_code=meeting.compliance_code,
            doctor=doctor_id,
            **fields,
        )

    # -- registration ----------------------------------------------------------------------------
    async def register(
        self,
        meeting: Meeting,
        profile: DoctorProfile,
        details: Details,
        locale: Locale,
        invited_by: str | None = None,
    ) -> tuple[Registration, SeatResult]:
        """Take a seat (or a waitlist place) atomically and record it.

        ``profile`` is the caller's in-lock profile; it gets the confirmed details and the
        meeting in ``meetings_registered``.
        """
        now = self.services.clock()
        if not meeting.registration_open(now):
            raise RegistrationClosed(meeting.id)
        doctor_id = profile.doctor_id
        seat = await self.registrations.take_seat(meeting.id, doctor_id, meeting.capacity)
        previous = await self.registrations.get(meeting.id, doctor_id)
        if invited_by is None:
            stored = await self.services.storage.get_json(invitation_key(meeting.id, doctor_id))
            invited_by = stored if isinstance(stored, str) else None
        registration = Registration(
            meeting_id=meeting.id,
            doctor_id=doctor_id,
            status=Status.REGISTERED if seat.seated else Status.WAITLISTED,
            name=details.name,
            hospital=details.hospital,
            department=details.department,
            locale=locale,
            created_at=now if previous is None else previous.created_at,
            updated_at=now,
            invited_by=invited_by,
        )
        await self.registrations.save(registration)
        profile.name, profile.hospital = details.name, details.hospital
        profile.department = details.department
        if seat.seated:
            if meeting.id not in profile.meetings_registered:
                profile.meetings_registered.append(meeting.id)
            await self.schedule_reminders(meeting, doctor_id)
        await self._audit(
            "meeting_registration",
            meeting,
            doctor_id,
            status=registration.status.value,
            waitlist_position=seat.waitlist_position,
            already=seat.already,
            invited_by=registration.invited_by,
        )
        return registration, seat

    async def cancel(self, meeting: Meeting, profile: DoctorProfile) -> Registration | None:
        """Give up the seat or waitlist place; a freed seat promotes the next in line."""
        doctor_id = profile.doctor_id
        registration = await self.registrations.get(meeting.id, doctor_id)
        if registration is None or registration.status is Status.CANCELLED:
            return None
        promoted = await self.registrations.release_seat(meeting.id, doctor_id, meeting.capacity)
        was = registration.status
        registration = registration.model_copy(
            update={"status": Status.CANCELLED, "updated_at": self.services.clock()}
        )
        await self.registrations.save(registration)
        await self.cancel_reminders(meeting.id, doctor_id)
        if meeting.id in profile.meetings_registered:
            profile.meetings_registered.remove(meeting.id)
        await self._audit("meeting_cancellation", meeting, doctor_id, previous_status=was.value)
        if promoted is not None:
            await self._promote(meeting, promoted)
        return registration

    async def _promote(self, meeting: Meeting, doctor_id: str) -> None:
        """Record the promotion now; notify (outside this conversation's lock) via the scheduler."""
        registration = await self.registrations.get(meeting.id, doctor_id)
        if registration is not None:
            await self.registrations.save(
                registration.model_copy(
                    update={"status": Status.REGISTERED, "updated_at": self.services.clock()}
                )
            )
        await self.schedule_reminders(meeting, doctor_id)
        await self.services.storage.schedule(
            PROMOTION_SCHEDULE,
            f"{meeting.id}|{doctor_id}",
            self.services.clock(),
            {"meeting_id": meeting.id, "doctor_id": doctor_id},
        )
        await self._audit("meeting_promotion", meeting, doctor_id)

    # -- schedules -------------------------------------------------------------------------------
    async def schedule_reminders(self, meeting: Meeting, doctor_id: str) -> None:
        """The 24 h and 1 h reminders still ahead, and the follow-up after the end."""
        now = self.services.clock()
        for kind in (*REMINDER_LEADS, FOLLOWUP_KIND):
            due = reminder_due(meeting, kind)
            if due > now:
                await self.services.storage.schedule(
                    REMINDER_SCHEDULE,
                    reminder_id(meeting.id, doctor_id, kind),
                    due,
                    {"meeting_id": meeting.id, "doctor_id": doctor_id, "kind": kind},
                )

    async def cancel_reminders(self, meeting_id: str, doctor_id: str) -> None:
        for kind in (*REMINDER_LEADS, FOLLOWUP_KIND):
            await self.services.storage.cancel(
                REMINDER_SCHEDULE, reminder_id(meeting_id, doctor_id, kind)
            )

    # -- profiles outside a conversation ---------------------------------------------------------
    async def update_profile(
        self, doctor_id: str, change: Callable[[DoctorProfile], None]
    ) -> DoctorProfile:
        """Change a profile from a scheduled job, under the doctor's conversation lock.

        The conversation middleware saves the profile after each message, so an update made
        outside that lock could be overwritten by a message being handled at the same time.
        """
        profile = await self.profiles.get_or_create(doctor_id)
        if profile.contact is None:
            change(profile)
            await self.profiles.save(profile)
            return profile
        conversation = conversation_lock(profile.contact.conversation_key)
        async with self.services.storage.lock(conversation) as fence:
            profile = await self.profiles.get_or_create(doctor_id)
            change(profile)
            await self.profiles.save(profile, fence)
        return profile


def meetings_service(services: Services) -> MeetingsService:
    """The process's ``MeetingsService``, created on first use."""
    existing = services.extras.get(EXTRAS_KEY)
    if isinstance(existing, MeetingsService):
        return existing
    created = MeetingsService(services)
    services.extras[EXTRAS_KEY] = created
    return created
