"""Doctor flows: upcoming meetings, details, register, cancel, my registrations, calendar, feedback.

Choices are kf menu clicks with ids ``meetings:<action>[:<meeting>[:<score>]]``; a few short
texts ("会议", "我的报名", "meetings", ...) open the same menus; longer ones are read by the Q&A
skill's category head (``skills.qa``'s meeting route).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.dispatcher import Context, Router
from bot.models import MessageKind, SenderType
from skills.meetings import texts
from skills.meetings.catalog import Meeting
from skills.meetings.form import start_registration
from skills.meetings.intents import REGISTER_WORDS, position_to_register, withdraws
from skills.meetings.lists import (
    LISTED_KEY,
    asks_for_meetings_on_a_topic,
    show_list,
    show_registrations,
)
from skills.meetings.registrations import Status
from skills.meetings.service import MeetingsService
from skills.meetings.views import calendar_file, details

# The menus' own words typed alone ("会议", "学术会议", "我的报名", "my registrations") open them
# at once. Anything longer goes to the Q&A skill, whose category head tells the meeting list from
# the doctor's registrations (where one cancels) from a question about a meeting's approved
# content ("查一下我报名的会议", "卫星会讲了什么要点"): a keyword here cannot.
_LIST_TEXT = re.compile(
    r"(?:学术)?(?:会议|研讨会)(?:列表)?|(?:academic\s+)?(?:meetings?|webinars?|symposi(?:um|a))"
    r"(?:\s+list)?",
    re.IGNORECASE,
)
_MINE_TEXT = re.compile(
    r"我的(?:报名|会议)|取消报名|my\s+(?:registrations?|meetings)|cancel\s+(?:my\s+)?registration",
    re.IGNORECASE,
)
_EDGES = " \t\n.。!！?？~～"


Check = Callable[[Context], bool]


def _menu_words(pattern: re.Pattern[str]) -> Check:
    """Filter: a text that is nothing but ``pattern`` (punctuation around it aside)."""

    def check(ctx: Context) -> bool:
        message = ctx.message
        return message.kind is MessageKind.TEXT and bool(
            pattern.fullmatch(message.text.strip(_EDGES))
        )

    return check


def _click(action: str, with_args: bool = True) -> Check:
    """Filter: a click on ``meetings:<action>`` (followed by arguments when ``with_args``)."""

    def check(ctx: Context) -> bool:
        click = ctx.message.click_id or ""
        if ctx.message.kind is not MessageKind.CLICK:
            return False
        return (
            click.startswith(f"meetings:{action}:") if with_args else click == f"meetings:{action}"
        )

    return check


def _either(*checks: Check) -> Check:
    return lambda ctx: any(check(ctx) for check in checks)


def _doctor(ctx: Context) -> bool:
    return ctx.message.sender_type is SenderType.EXTERNAL and ctx.profile is not None


def _arguments(ctx: Context) -> list[str]:
    return (ctx.message.click_id or "").split(":")[2:]


async def _clicked_meeting(ctx: Context, service: MeetingsService) -> Meeting | None:
    """The meeting a menu click names; tells the doctor when it no longer exists."""
    meeting = await service.meeting(_arguments(ctx)[0])
    if meeting is None:
        ctx.reply(texts.UNKNOWN_MEETING.get(ctx.locale))
    return meeting


SHOWN_KEY = "meeting_shown"  # Conversation.data: the meeting whose details were shown last


def _on_a_topic(ctx: Context) -> bool:
    """ "有没有糖尿病的会议": the list filtered by that topic (the category head reads some of
    these as questions, which got "no approved information")."""
    return ctx.message.kind is MessageKind.TEXT and asks_for_meetings_on_a_topic(ctx.message.text)


def _withdraws(ctx: Context) -> bool:
    """ "这个会我去不了了", "cancel my registration": the registrations, each with its cancel."""
    return ctx.message.kind is MessageKind.TEXT and withdraws(ctx.message.text)


def _picked(ctx: Context) -> str | None:
    """The meeting a typed registration request picks: "register me for the first one" after
    a list, a bare "报名" / "sign me up" at a meeting's details (its option, in words)."""
    message = ctx.message
    if message.kind is not MessageKind.TEXT:
        return None
    data = ctx.conversation.data
    shown = data.get(SHOWN_KEY)
    if isinstance(shown, str) and REGISTER_WORDS.fullmatch(message.text.strip(_EDGES)):
        return shown
    listed = data.get(LISTED_KEY)
    position = position_to_register(message.text)
    if position is None or not isinstance(listed, list) or not listed:
        return None
    return str(listed[position]) if -len(listed) <= position < len(listed) else None


async def _register(ctx: Context, service: MeetingsService, meeting: Meeting) -> None:
    """Open the registration form, unless registration is closed or the doctor already has a
    seat or a waitlist place."""
    assert ctx.profile is not None
    title = meeting.title.get(ctx.locale)
    if not meeting.registration_open(ctx.now):
        ctx.reply(texts.REGISTRATION_CLOSED.get(ctx.locale, title=title))
        return
    registration = await service.registrations.get(meeting.id, ctx.profile.doctor_id)
    if registration is not None and registration.status is Status.REGISTERED:
        ctx.reply(texts.ALREADY_REGISTERED.get(ctx.locale, title=title))
        return
    if registration is not None and registration.status is Status.WAITLISTED:
        position = await service.registrations.waitlist_position(meeting.id, ctx.profile.doctor_id)
        ctx.reply(texts.ALREADY_WAITLISTED.get(ctx.locale, title=title, position=position))
        return
    start_registration(ctx, meeting)


def add_doctor_routes(router: Router, service: MeetingsService) -> None:
    @router.message(
        _doctor, _either(_click("list", with_args=False), _menu_words(_LIST_TEXT), _on_a_topic)
    )
    async def list_meetings(ctx: Context) -> None:
        await show_list(ctx, service)

    @router.message(
        _doctor, _either(_click("mine", with_args=False), _menu_words(_MINE_TEXT), _withdraws)
    )
    async def my_registrations(ctx: Context) -> None:
        await show_registrations(ctx, service)

    @router.message(_doctor, lambda ctx: _picked(ctx) is not None)
    async def register_picked(ctx: Context) -> None:
        meeting = await service.meeting(str(_picked(ctx)))
        if meeting is None:
            ctx.reply(texts.UNKNOWN_MEETING.get(ctx.locale))
            return
        await _register(ctx, service, meeting)

    @router.message(_doctor, _click("detail"))
    async def meeting_details(ctx: Context) -> None:
        assert ctx.profile is not None
        meeting = await _clicked_meeting(ctx, service)
        if meeting is None:
            return
        registration = await service.registrations.get(meeting.id, ctx.profile.doctor_id)
        seats = await service.registrations.seats(meeting.id)
        ctx.conversation.data[SHOWN_KEY] = meeting.id
        ctx.reply(*details(ctx, meeting, registration, seats))

    @router.message(_doctor, _click("register"))
    async def register(ctx: Context) -> None:
        meeting = await _clicked_meeting(ctx, service)
        if meeting is not None:
            await _register(ctx, service, meeting)

    @router.message(_doctor, _click("cancel"))
    async def cancel(ctx: Context) -> None:
        assert ctx.profile is not None
        meeting = await _clicked_meeting(ctx, service)
        if meeting is None:
            return
        title = meeting.title.get(ctx.locale)
        if await service.cancel(meeting, ctx.profile) is None:
            ctx.reply(texts.NOT_REGISTERED.get(ctx.locale, title=title))
            return
        ctx.data["audit_meeting"] = meeting.id
        ctx.reply(texts.CANCELLED.get(ctx.locale, title=title))

    @router.message(_doctor, _click("ics"))
    async def calendar(ctx: Context) -> None:
        meeting = await _clicked_meeting(ctx, service)
        if meeting is None:
            return
        ctx.reply(calendar_file(ctx, meeting))

    @router.message(_doctor, _click("feedback"))
    async def feedback(ctx: Context) -> None:
        assert ctx.profile is not None
        arguments = _arguments(ctx)
        meeting = await service.meeting(arguments[0]) if len(arguments) == 2 else None
        registration = (
            await service.registrations.get(meeting.id, ctx.profile.doctor_id) if meeting else None
        )
        if meeting is None or registration is None or not arguments[1].isdigit():
            ctx.reply(texts.UNKNOWN_MEETING.get(ctx.locale))
            return
        if ctx.now < meeting.end:
            ctx.reply(texts.FEEDBACK_NOT_OPEN.get(ctx.locale))
            return
        score = min(5, max(1, int(arguments[1])))
        await service.registrations.save(
            registration.model_copy(update={"feedback": score, "updated_at": ctx.now})
        )
        await service.services.audit.record(
            "meeting_feedback",
            ctx.now,
            meeting=meeting.id,
            compliance_code=meeting.compliance_code,
            doctor=ctx.profile.doctor_id,
            score=score,
        )
        ctx.reply(texts.FEEDBACK_THANKS.get(ctx.locale, score=score))
