"""Scheduled jobs: waitlist promotion notices, the 24 h / 1 h reminders and the follow-up.

The storage scheduler hands each due item to exactly one process (``claim_due``), so a
reminder is handled once however many replicas run and whatever restarted in between. A
"sent" marker guards the retry the runner makes when a handler fails after the message left.
Items of cancelled registrations, or of meetings withdrawn from the catalog, are skipped.
"""

from __future__ import annotations

import logging

from bot.middlewares import load_conversation
from bot.models import Locale, MenuOption, MenuReply, Reply, TextReply
from bot.profiles import DoctorProfile
from bot.storage.base import ScheduledItem
from skills.meetings import texts
from skills.meetings.catalog import Meeting
from skills.meetings.delivery import Route, deliver_or_forward
from skills.meetings.materials import material_lines
from skills.meetings.registrations import Status
from skills.meetings.service import (
    FOLLOWUP_KIND,
    PROMOTION_SCHEDULE,
    REMINDER_SCHEDULE,
    MeetingsService,
    reminder_due,
)

log = logging.getLogger(__name__)

SENT_MARKER_TTL_S = 90 * 24 * 3600
FEEDBACK_SCORES = range(1, 6)


def access_text(meeting: Meeting, locale: Locale) -> str:
    """The join link and/or the venue, one line each."""
    lines = ""
    if meeting.join_url:
        lines += texts.ACCESS_ONLINE.get(locale, url=meeting.join_url)
    if meeting.location:
        lines += texts.ACCESS_OFFLINE.get(locale, location=meeting.location)
    return lines


def feedback_menu(meeting: Meeting, locale: Locale) -> MenuReply:
    return MenuReply(
        head=texts.FEEDBACK_HEAD.get(locale),
        options=tuple(
            MenuOption(id=f"meetings:feedback:{meeting.id}:{score}", label=str(score))
            for score in FEEDBACK_SCORES
        ),
    )


async def doctor_locale(service: MeetingsService, profile: DoctorProfile) -> Locale:
    """The language of the doctor's last conversation (Chinese when unknown)."""
    if profile.contact is None:
        return Locale.ZH
    conversation = await load_conversation(
        service.services.storage, profile.contact.conversation_key
    )
    return conversation.locale if conversation is not None else Locale.ZH


class MeetingJobs:
    """The handlers registered on the storage scheduler."""

    def __init__(self, service: MeetingsService) -> None:
        self._service = service

    def register(self) -> None:
        scheduler = self._service.services.scheduler
        scheduler.register(REMINDER_SCHEDULE, self.on_reminder)
        scheduler.register(PROMOTION_SCHEDULE, self.on_promotion)

    async def _first_time(self, item: ScheduledItem) -> bool:
        marker = f"meetings:sent:{item.schedule}:{item.item_id}"
        return await self._service.services.storage.get_json(marker) is None

    async def _mark_sent(self, item: ScheduledItem) -> None:
        marker = f"meetings:sent:{item.schedule}:{item.item_id}"
        await self._service.services.storage.set_json(marker, True, SENT_MARKER_TTL_S)

    async def _send(
        self,
        item: ScheduledItem,
        profile: DoctorProfile,
        replies: tuple[Reply, ...],
        locale: Locale,
    ) -> Route:
        forward = "\n".join(reply.text for reply in replies if isinstance(reply, TextReply))
        route = await deliver_or_forward(
            self._service.services,
            profile,
            replies,
            forward_text=forward,
            locale=locale,
            reference=f"{item.schedule}:{item.item_id}",
        )
        await self._mark_sent(item)
        return route

    async def on_promotion(self, item: ScheduledItem) -> None:
        meeting_id, doctor_id = item.payload["meeting_id"], item.payload["doctor_id"]
        service = self._service
        meeting = await service.meeting(meeting_id)
        registration = await service.registrations.get(meeting_id, doctor_id)
        if meeting is None or registration is None or registration.status is not Status.REGISTERED:
            log.info("promotion notice skipped", extra={"item": item.item_id})
            return
        if not await self._first_time(item):
            return

        def add_meeting(profile: DoctorProfile) -> None:
            if meeting_id not in profile.meetings_registered:
                profile.meetings_registered.append(meeting_id)

        profile = await service.update_profile(doctor_id, add_meeting)
        locale = registration.locale
        text = texts.PROMOTED.get(
            locale,
            title=meeting.title.get(locale),
            when=meeting.when(),
            access=access_text(meeting, locale),
        )
        route = await self._send(item, profile, (TextReply(text=text.strip()),), locale)
        await service.services.audit.record(
            "meeting_promotion_notice",
            service.services.clock(),
            meeting=meeting_id,
            compliance_code=meeting.compliance_code,
            doctor=doctor_id,
            route=route.to,
            unreachable=route.reason,
            rep=route.rep,
        )

    async def on_reminder(self, item: ScheduledItem) -> None:
        meeting_id = item.payload["meeting_id"]
        doctor_id, kind = item.payload["doctor_id"], item.payload["kind"]
        service = self._service
        meeting = await service.meeting(meeting_id)
        registration = await service.registrations.get(meeting_id, doctor_id)
        if meeting is None or registration is None or registration.status is not Status.REGISTERED:
            log.info("meeting reminder skipped", extra={"item": item.item_id})
            return
        due = reminder_due(meeting, kind)
        if due > service.services.clock():  # the meeting moved later in the catalog
            await service.services.storage.schedule(
                REMINDER_SCHEDULE, item.item_id, due, item.payload
            )
            return
        if not await self._first_time(item):
            return
        locale = registration.locale
        if kind == FOLLOWUP_KIND:

            def attended(profile: DoctorProfile) -> None:
                if meeting_id not in profile.meetings_attended:
                    profile.meetings_attended.append(meeting_id)

            profile = await service.update_profile(doctor_id, attended)
            lines = await material_lines(service.services.knowledge, meeting, locale)
            materials = "\n".join(f"- {line}" for line in lines) or texts.NO_MATERIALS.get(locale)
            text = texts.FOLLOWUP.get(locale, title=meeting.title.get(locale), materials=materials)
            replies: tuple[Reply, ...] = (TextReply(text=text), feedback_menu(meeting, locale))
        else:
            profile = await service.profiles.get_or_create(doctor_id)
            template = texts.REMINDER_DAY if kind == "day" else texts.REMINDER_HOUR
            text = template.get(
                locale,
                title=meeting.title.get(locale),
                when=meeting.local(meeting.start),
                access=access_text(meeting, locale),
            )
            replies = (TextReply(text=text.strip()),)
        route = await self._send(item, profile, replies, locale)
        await service.services.audit.record(
            "meeting_reminder",
            service.services.clock(),
            meeting=meeting_id,
            compliance_code=meeting.compliance_code,
            doctor=doctor_id,
            reminder=kind,
            route=route.to,
            unreachable=route.reason,
            rep=route.rep,
        )
