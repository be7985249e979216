"""Doctor-facing replies built from catalog entries and registrations (no state changes)."""

from __future__ import annotations

from bot.dispatcher import Context
from bot.models import FileReply, MenuOption, MenuReply, Reply, TextReply
from bot.storage.base import SeatResult
from skills.meetings import texts
from skills.meetings.catalog import Meeting
from skills.meetings.ics import ics_filename, meeting_ics
from skills.meetings.ranking import relevance
from skills.meetings.registrations import Registration, Status
from skills.meetings.reminders import access_text

MAX_LISTED = 8  # kf menus take at most 10 options; keep room for "my registrations"


def meeting_label(ctx: Context, meeting: Meeting) -> str:
    """Title and local start with its year ("· 2027-01-14 19:30"); the list's tail names the
    time zone (trial #35: "01-14 19:30" had neither)."""
    local = meeting.start.astimezone(meeting.zone)
    return f"{meeting.title.get(ctx.locale)} · {local:%Y-%m-%d %H:%M}"


def _zones(meetings: list[Meeting]) -> str:
    return "、".join(sorted({meeting.timezone for meeting in meetings}))


def meeting_list(ctx: Context, meetings: list[Meeting], head: str | None = None) -> MenuReply:
    """The meetings as options (details and registration), "my registrations" last; ``head``
    in place of the default ("ranked for your specialty" when the profile ranks them)."""
    options = [
        MenuOption(id=f"meetings:detail:{meeting.id}", label=meeting_label(ctx, meeting))
        for meeting in meetings[:MAX_LISTED]
    ]
    options.append(MenuOption(id="meetings:mine", label=texts.OPTION_MINE.get(ctx.locale)))
    shown = meetings[:MAX_LISTED]
    # "ranked for your specialty" only when the profile ranked something (trial #45: a doctor
    # with no known specialty was told so of a list by date)
    ranks = any(relevance(meeting, ctx.profile) for meeting in shown)
    ranked = texts.LIST_HEAD if ranks else texts.LIST_HEAD_BY_DATE
    tail = texts.LIST_TAIL.get(ctx.locale, zones=_zones(shown)) if meetings else ""
    return MenuReply(
        head=head or (ranked if meetings else texts.LIST_EMPTY).get(ctx.locale),
        options=tuple(options),
        tail=tail,
    )


def calendar_file(ctx: Context, meeting: Meeting) -> FileReply:
    return FileReply(
        filename=ics_filename(meeting),
        content=meeting_ics(meeting, ctx.locale, ctx.now),
        caption=texts.CALENDAR_CAPTION.get(ctx.locale, title=meeting.title.get(ctx.locale)),
    )


def details(
    ctx: Context,
    meeting: Meeting,
    registration: Registration | None,
    seats: tuple[list[str], list[str]],
) -> list[Reply]:
    """The meeting's card and what the doctor can do with it now."""
    locale = ctx.locale
    seated, waiting = seats
    left = max(0, meeting.capacity - len(seated))
    seat_text = (
        texts.SEATS_LEFT.get(locale, left=left, capacity=meeting.capacity)
        if left
        else texts.SEATS_FULL.get(locale, waiting=len(waiting))
    )
    speakers = "、" if locale.value == "zh" else ", "
    body = texts.DETAILS.get(
        locale,
        title=meeting.title.get(locale),
        when=meeting.when(),
        format=texts.FORMAT_NAMES[meeting.format].get(locale),
        access=access_text(meeting, locale),
        speakers=speakers.join(
            f"{s.name}（{s.affiliation}）" if s.affiliation else s.name for s in meeting.speakers
        )
        or "-",
        summary=meeting.summary.get(locale),
        closes=meeting.local(meeting.closes_at),
        seats=seat_text,
        code=meeting.compliance_code,
    )
    status = registration.status if registration else Status.CANCELLED
    options: list[MenuOption] = []
    if status is Status.REGISTERED:
        head = texts.STATUS_REGISTERED.get(locale)
    elif status is Status.WAITLISTED:
        position = (
            waiting.index(ctx.message.sender_id) + 1 if ctx.message.sender_id in waiting else 0
        )
        head = texts.STATUS_WAITLISTED.get(locale, position=position)
    elif meeting.registration_open(ctx.now):
        head = texts.DETAILS_HEAD.get(locale)
        options.append(
            MenuOption(
                id=f"meetings:register:{meeting.id}", label=texts.OPTION_REGISTER.get(locale)
            )
        )
    else:
        head = texts.STATUS_CLOSED.get(locale)
    if status in (Status.REGISTERED, Status.WAITLISTED) and ctx.now < meeting.start:
        options.append(
            MenuOption(id=f"meetings:cancel:{meeting.id}", label=texts.OPTION_CANCEL.get(locale))
        )
    options.append(
        MenuOption(id=f"meetings:ics:{meeting.id}", label=texts.OPTION_CALENDAR.get(locale))
    )
    options.append(MenuOption(id="meetings:list", label=texts.OPTION_BACK.get(locale)))
    return [TextReply(text=body), MenuReply(head=head, options=tuple(options))]


def registration_outcome(
    ctx: Context, meeting: Meeting, status: Status, seat: SeatResult
) -> list[Reply]:
    """What a doctor hears after registering: the seat (with the calendar file) or the waitlist."""
    locale = ctx.locale
    title = meeting.title.get(locale)
    if status is Status.REGISTERED:
        template = texts.ALREADY_REGISTERED if seat.already else texts.REGISTERED
        text = template.get(
            locale, title=title, when=meeting.when(), access=access_text(meeting, locale)
        )
        return [TextReply(text=text), calendar_file(ctx, meeting)]
    template = texts.ALREADY_WAITLISTED if seat.already else texts.WAITLISTED
    return [TextReply(text=template.get(locale, title=title, position=seat.waitlist_position))]
