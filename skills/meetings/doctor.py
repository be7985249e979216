"""Doctor flows: upcoming meetings, details, register, cancel, my registrations, calendar, feedback.

Choices are kf menu clicks with ids ``meetings:<action>[:<meeting>[:<score>]]``; a few short
texts ("会议", "我的报名", "meetings", ...) open the same menus; longer ones are read by the Q&A
skill's category head (``skills.qa``'s meeting route).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.dispatcher import Context, Router
from bot.models import MenuOption, MenuReply, MessageKind, SenderType
from skills.meetings import texts
from skills.meetings.catalog import Meeting
from skills.meetings.form import start_registration
from skills.meetings.ranking import rank_meetings
from skills.meetings.registrations import Status
from skills.meetings.service import MeetingsService
from skills.meetings.views import calendar_file, details, meeting_label, meeting_list

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


async def show_list(ctx: Context, service: MeetingsService) -> None:
    """Upcoming meetings, ranked for the doctor."""
    catalog = await service.catalog()
    upcoming = [m for m in catalog.upcoming(ctx.now) if m.start > ctx.now]
    ctx.reply(meeting_list(ctx, rank_meetings(upcoming, ctx.profile)))


async def show_registrations(ctx: Context, service: MeetingsService) -> None:
    """The doctor's current registrations and waitlist places (each opens its details, where
    it is cancelled); the meeting list when there are none."""
    assert ctx.profile is not None
    catalog = await service.catalog()
    lines, options = [], []
    for registration in await service.registrations.for_doctor(ctx.profile.doctor_id):
        meeting = catalog.get(registration.meeting_id)
        if meeting is None or meeting.end <= ctx.now or registration.status is Status.CANCELLED:
            continue
        title = meeting.title.get(ctx.locale)
        if registration.status is Status.REGISTERED:
            lines.append(texts.MINE_REGISTERED.get(ctx.locale, title=title, when=meeting.when()))
        else:
            position = await service.registrations.waitlist_position(
                meeting.id, ctx.profile.doctor_id
            )
            lines.append(
                texts.MINE_WAITLISTED.get(
                    ctx.locale, title=title, when=meeting.when(), position=position
                )
            )
        options.append(
            MenuOption(id=f"meetings:detail:{meeting.id}", label=meeting_label(ctx, meeting))
        )
    if not lines:
        ctx.reply(texts.MINE_EMPTY.get(ctx.locale))
        await show_list(ctx, service)
        return
    head = texts.MINE_HEAD.get(ctx.locale) + "\n" + "\n".join(lines)
    options.append(MenuOption(id="meetings:list", label=texts.OPTION_BACK.get(ctx.locale)))
    ctx.reply(MenuReply(head=head, options=tuple(options)))


def add_doctor_routes(router: Router, service: MeetingsService) -> None:
    @router.message(_doctor, _either(_click("list", with_args=False), _menu_words(_LIST_TEXT)))
    async def list_meetings(ctx: Context) -> None:
        await show_list(ctx, service)

    @router.message(_doctor, _either(_click("mine", with_args=False), _menu_words(_MINE_TEXT)))
    async def my_registrations(ctx: Context) -> None:
        await show_registrations(ctx, service)

    @router.message(_doctor, _click("detail"))
    async def meeting_details(ctx: Context) -> None:
        assert ctx.profile is not None
        meeting = await _clicked_meeting(ctx, service)
        if meeting is None:
            return
        registration = await service.registrations.get(meeting.id, ctx.profile.doctor_id)
        seats = await service.registrations.seats(meeting.id)
        ctx.reply(*details(ctx, meeting, registration, seats))

    @router.message(_doctor, _click("register"))
    async def register(ctx: Context) -> None:
        assert ctx.profile is not None
        meeting = await _clicked_meeting(ctx, service)
        if meeting is None:
            return
        title = meeting.title.get(ctx.locale)
        if not meeting.registration_open(ctx.now):
            ctx.reply(texts.REGISTRATION_CLOSED.get(ctx.locale, title=title))
            return
        registration = await service.registrations.get(meeting.id, ctx.profile.doctor_id)
        if registration is not None and registration.status is Status.REGISTERED:
            ctx.reply(texts.ALREADY_REGISTERED.get(ctx.locale, title=title))
            return
        if registration is not None and registration.status is Status.WAITLISTED:
            position = await service.registrations.waitlist_position(
                meeting.id, ctx.profile.doctor_id
            )
            ctx.reply(texts.ALREADY_WAITLISTED.get(ctx.locale, title=title, position=position))
            return
        start_registration(ctx, meeting)

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
