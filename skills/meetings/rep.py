"""Rep commands on the self-built app: ``/meetings``, ``/invite``, ``/attendees``.

Who may run them, and on which doctors, is decided by ``skills.roles`` (each route declares
its action): ``/invite`` only names doctors the caller reaches, ``/attendees`` lists only them
(all for admins, the meeting's owner, and managers/MSLs when the owner shares the list).

Invitations go only to doctors the bot may message now (kf: within 48 h of their last message);
the rep is told who was not invited and why, so they can reach them another way.
"""

from __future__ import annotations

import csv
import io
import re

from bot.dispatcher import Context, Filter, Router
from bot.models import FileReply, MenuOption, MenuReply, MessageKind, TextReply
from bot.proactive import Unreachable, reachability, send_to_doctor
from skills.handoff.roster import Role
from skills.meetings import texts
from skills.meetings.catalog import Meeting
from skills.meetings.registrations import Status
from skills.meetings.reminders import doctor_locale
from skills.meetings.service import INVITATION_TTL_S, MeetingsService, invitation_key
from skills.roles.actions import Action, Subject, rep_action
from skills.roles.policy import access_of

_COMMAND = re.compile(r"^\s*/(meetings|invite|attendees)\b(.*)$", re.IGNORECASE | re.DOTALL)
CSV_COLUMNS = (
    "doctor_id",
    "name",
    "hospital",
    "department",
    "status",
    "waitlist_position",
    "registered_at",
    "invited_by",
    "feedback",
)


_ACTIONS = {"meetings": Action.MEETINGS, "invite": Action.INVITE, "attendees": Action.ATTENDEES}


def _rep_command(command: str) -> Filter:
    def check(ctx: Context) -> bool:
        match = _COMMAND.match(ctx.message.text)
        return (
            ctx.message.kind is MessageKind.TEXT
            and match is not None
            and match.group(1).lower() == command
        )

    return check


def _arguments(ctx: Context) -> list[str]:
    match = _COMMAND.match(ctx.message.text)
    return match.group(2).split() if match else []


def add_rep_routes(router: Router, service: MeetingsService) -> None:
    async def invited_doctors(ctx: Context) -> Subject:
        """The known doctors ``/invite MEETING DOCTOR…`` names: the caller must reach each."""
        named = _arguments(ctx)[1:]
        profiles = [await service.profiles.get(doctor_id) for doctor_id in named]
        doctors = tuple(profile for profile in profiles if profile is not None)
        return Subject(target="doctors:" + ",".join(named), doctors=doctors)

    async def rep_command(ctx: Context) -> None:
        match = _COMMAND.match(ctx.message.text)
        assert match is not None
        command, arguments = match.group(1).lower(), match.group(2).split()
        if command == "meetings":
            await _list(ctx, service)
        elif command == "invite":
            await _invite(ctx, service, arguments)
        else:
            await _attendees(ctx, service, arguments)

    for command, action in _ACTIONS.items():
        subject = invited_doctors if action is Action.INVITE else None
        router.message(_rep_command(command), flags=rep_action(action, subject))(rep_command)


async def _meeting_argument(
    ctx: Context, service: MeetingsService, meeting_id: str
) -> Meeting | None:
    meeting = await service.meeting(meeting_id)
    if meeting is None:
        ctx.reply(texts.REP_UNKNOWN_MEETING.get(ctx.locale, id=meeting_id))
    return meeting


async def _list(ctx: Context, service: MeetingsService) -> None:
    catalog = await service.catalog()
    lines = [texts.REP_LIST_HEAD.get(ctx.locale)]
    for meeting in catalog.upcoming(ctx.now):
        seated, waiting = await service.registrations.seats(meeting.id)
        lines.append(
            texts.REP_LIST_LINE.get(
                ctx.locale,
                id=meeting.id,
                title=meeting.title.get(ctx.locale),
                when=meeting.when(),
                seated=len(seated),
                capacity=meeting.capacity,
                waiting=len(waiting),
            )
        )
    if len(lines) == 1:
        lines.append(texts.LIST_EMPTY.get(ctx.locale))
    if catalog.problems:
        lines.append(texts.REP_LIST_PROBLEMS.get(ctx.locale, count=len(catalog.problems)))
    ctx.reply("\n".join(lines))


async def _invite(ctx: Context, service: MeetingsService, arguments: list[str]) -> None:
    if len(arguments) < 2:
        ctx.reply(texts.REP_INVITE_USAGE.get(ctx.locale))
        return
    meeting = await _meeting_argument(ctx, service, arguments[0])
    if meeting is None:
        return
    rep = ctx.message.sender_id
    invited: list[str] = []
    refused: list[tuple[str, str]] = []
    for doctor_id in dict.fromkeys(arguments[1:]):  # each doctor once, in the given order
        reason = await _invite_one(ctx, service, meeting, doctor_id, rep)
        await service.services.audit.record(
            "meeting_invitation",
            ctx.now,
            meeting=meeting.id,
            compliance_code=meeting.compliance_code,
            doctor=doctor_id,
            rep=rep,
            sent=reason is None,
            reason=reason,
        )
        if reason is None:
            invited.append(doctor_id)
        else:
            refused.append((doctor_id, reason))
    lines = []
    if invited:
        lines.append(
            texts.REP_INVITED.get(ctx.locale, count=len(invited), doctors=", ".join(invited))
        )
    if refused:
        lines.append(texts.REP_NOT_INVITED.get(ctx.locale))
        lines += [
            f"- {doctor}: {texts.REASONS[reason].get(ctx.locale)}" for doctor, reason in refused
        ]
    ctx.data["audit_meeting"] = meeting.id
    ctx.reply("\n".join(lines))


async def _invite_one(
    ctx: Context, service: MeetingsService, meeting: Meeting, doctor_id: str, rep: str
) -> str | None:
    """Send one invitation; the reason it was not sent, or None."""
    if not meeting.registration_open(ctx.now):
        return "closed"
    profile = await service.profiles.get(doctor_id)
    if profile is None:
        return "unknown_doctor"
    registration = await service.registrations.get(meeting.id, doctor_id)
    if registration is not None and registration.status is not Status.CANCELLED:
        return "already_registered"
    unreachable = reachability(profile, ctx.now, unsolicited=True)
    if unreachable is not None:
        return unreachable.value
    locale = await doctor_locale(service, profile)
    invitation = texts.INVITATION.get(
        locale,
        title=meeting.title.get(locale),
        when=meeting.when(),
        summary=meeting.summary.get(locale),
    )
    menu = MenuReply(
        head=texts.DETAILS_HEAD.get(locale),
        options=(
            MenuOption(id=f"meetings:detail:{meeting.id}", label=texts.OPTION_DETAILS.get(locale)),
            MenuOption(
                id=f"meetings:register:{meeting.id}", label=texts.OPTION_REGISTER.get(locale)
            ),
        ),
    )
    try:
        await send_to_doctor(
            service.services,
            profile,
            (TextReply(text=invitation), menu),
            reference=f"meetings:invite:{meeting.id}:{doctor_id}:{ctx.message.message_id}",
            unsolicited=True,
        )
    except Unreachable as err:  # the window closed between the check and the send
        return err.reason.value
    await service.services.storage.set_json(
        invitation_key(meeting.id, doctor_id), rep, ttl_s=INVITATION_TTL_S
    )
    return None


async def _visible_attendees(
    ctx: Context, service: MeetingsService, meeting: Meeting, doctor_ids: list[str]
) -> set[str]:
    """The attendees the caller may see: their own doctors (assigned, offered, team); all of
    them for an admin, the meeting's owner, and managers and MSLs when the owner shares the
    list (``share_attendees``)."""
    caller = ctx.message.sender_id
    access = access_of(service.services)
    roles = access.roles(caller)
    if (
        Role.ADMIN in roles
        or caller == meeting.owner
        or (meeting.share_attendees and roles & {Role.MANAGER, Role.MSL})
    ):
        return set(doctor_ids)
    visible = set()
    for doctor_id in doctor_ids:
        profile = await service.profiles.get(doctor_id)
        if profile is not None and await access.may_act_on(caller, profile):
            visible.add(doctor_id)
    return visible


async def _attendees(ctx: Context, service: MeetingsService, arguments: list[str]) -> None:
    if len(arguments) != 1:
        ctx.reply(texts.REP_ATTENDEES_USAGE.get(ctx.locale))
        return
    meeting = await _meeting_argument(ctx, service, arguments[0])
    if meeting is None:
        return
    seated, waiting = await service.registrations.seats(meeting.id)
    visible = await _visible_attendees(ctx, service, meeting, [*seated, *waiting])
    hidden = len(seated) + len(waiting) - len(visible)
    seated = [doctor for doctor in seated if doctor in visible]
    waiting = [doctor for doctor in waiting if doctor in visible]
    lines = [
        texts.REP_ATTENDEES_HEAD.get(
            ctx.locale,
            title=meeting.title.get(ctx.locale),
            seated=len(seated),
            capacity=meeting.capacity,
            waiting=len(waiting),
        )
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    ordered = [(doctor, Status.REGISTERED, 0) for doctor in seated]
    ordered += [(doctor, Status.WAITLISTED, n) for n, doctor in enumerate(waiting, 1)]
    for number, (doctor_id, status, position) in enumerate(ordered, 1):
        registration = await service.registrations.get(meeting.id, doctor_id)
        name = registration.name if registration else doctor_id
        hospital = registration.hospital if registration else ""
        department = registration.department if registration else ""
        lines.append(
            texts.REP_ATTENDEE_LINE.get(
                ctx.locale,
                number=number,
                name=name,
                hospital=hospital or "-",
                department=department or "-",
                status=texts.STATUS_NAMES[status.value].get(ctx.locale)
                + (f" #{position}" if position else ""),
            )
        )
        writer.writerow(
            (
                doctor_id,
                name,
                hospital,
                department,
                status.value,
                position or "",
                registration.created_at.isoformat() if registration else "",
                (registration.invited_by or "") if registration else "",
                (registration.feedback or "") if registration else "",
            )
        )
    if hidden:
        lines.append(
            ctx.t(
                f"另有 {hidden} 位参会医生不属于您负责的范围，未列出。",
                f"{hidden} more attendees are not yours to see and are not listed.",
            )
        )
    ctx.data["audit_meeting"] = meeting.id
    ctx.reply(
        "\n".join(lines),
        FileReply(
            filename=f"{meeting.id}-attendees.csv",
            content=buffer.getvalue().encode("utf-8-sig"),  # BOM: Excel opens Chinese correctly
            caption=texts.REP_CSV_CAPTION.get(ctx.locale),
        ),
    )
