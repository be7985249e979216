"""HCP verification requests: the doctor's declaration reaches a rep, who approves or declines.

After the verification form (``verification``), ``submit`` stores an open request
(``hcp:request:<doctor id>``, indexed in ``hcp:pending``) and sends a card with approve /
decline buttons to the doctor's rep, or to the on-duty pool when the doctor has none. The card
buttons, the rep command ``/verify DOCTOR`` and ``virtualrep doctor verify ID`` all end in
``decide``: the profile is marked (or left unverified), the request is closed, and the doctor
is told. Who may decide is checked by ``skills.roles`` (the doctor's rep, those the request
was offered to, their manager, an admin). ``virtualrep doctor pending`` lists open requests.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, Field

from bot.dispatcher import Context, Router
from bot.i18n import pick
from bot.middlewares import load_conversation
from bot.models import CardButton, CardReply, Locale, MessageKind, TextReply
from bot.proactive import Unreachable, send_to_doctor
from bot.profiles import DoctorProfile, ProfileStore
from bot.services import Services
from bot.storage.base import Storage
from skills import handoff
from skills.qa.answer import verified_notice
from skills.qa.verification import mark_verified
from skills.roles.actions import Action, Subject, rep_action

APPROVE_PREFIX: Final = "hcp:approve:"
DECLINE_PREFIX: Final = "hcp:decline:"
_VERIFY_COMMAND: Final = re.compile(r"^\s*/verify\s+(\S.*?)\s*$", re.IGNORECASE)
_PENDING: Final = "hcp:pending"
_TTL_S: Final = 365 * 24 * 3600


class Decision(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    DECLINED = "declined"


class HcpRequest(BaseModel):
    doctor_id: str
    name: str | None = None
    hospital: str | None = None
    department: str | None = None
    title: str | None = None
    requested_at: datetime
    offered_to: list[str] = Field(default_factory=list)
    status: Decision = Decision.OPEN
    decided_by: str | None = None
    decided_at: datetime | None = None


class HcpRequests:
    """The requests in storage: one per doctor (a new declaration replaces the open one)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def get(self, doctor_id: str) -> HcpRequest | None:
        raw = await self._storage.get_json(f"hcp:request:{doctor_id}")
        return HcpRequest.model_validate(raw) if raw is not None else None

    async def save(self, request: HcpRequest) -> None:
        key = f"hcp:request:{request.doctor_id}"
        await self._storage.set_json(key, request.model_dump(mode="json"), _TTL_S)
        if request.status is Decision.OPEN:
            await self._storage.set_add(_PENDING, request.doctor_id)
        else:
            await self._storage.set_remove(_PENDING, request.doctor_id)

    async def pending(self) -> list[HcpRequest]:
        """Open requests, oldest first."""
        found = [
            await self.get(doctor_id) for doctor_id in await self._storage.set_members(_PENDING)
        ]
        open_ = [r for r in found if r is not None and r.status is Decision.OPEN]
        return sorted(open_, key=lambda request: (request.requested_at, request.doctor_id))

    async def close(self, doctor_id: str, decision: Decision, by: str, at: datetime) -> None:
        request = await self.get(doctor_id)
        if request is not None and request.status is Decision.OPEN:
            update = {"status": decision, "decided_by": by, "decided_at": at}
            await self.save(request.model_copy(update=update))


async def submit(services: Services, profile: DoctorProfile, at: datetime) -> HcpRequest:
    """Store the request and send the card to the doctor's rep (else the on-duty pool)."""
    service = handoff.get_service(services)
    roster = service.roster
    assigned = roster.assigned_rep(profile)
    offered = (assigned,) if assigned else roster.on_duty_among(roster.pool, at)
    request = HcpRequest(
        doctor_id=profile.doctor_id,
        name=profile.name,
        hospital=profile.hospital,
        department=profile.department,
        title=profile.title,
        requested_at=at,
        offered_to=list(offered),
    )
    await HcpRequests(services.storage).save(request)
    await services.audit.record(
        "hcp_verification", at, event="requested", doctor=profile.doctor_id, offered=offered
    )
    for userid in offered:
        await service.tell_rep(
            userid, review_card(request), reference=f"hcp-{profile.doctor_id}-{at.isoformat()}"
        )
    return request


def review_card(request: HcpRequest) -> CardReply:
    return CardReply(
        task_id=f"hcp-{request.doctor_id}-{int(request.requested_at.timestamp())}",
        title=f"医生身份确认 HCP verification：{request.name or request.doctor_id}",
        description="请核实后确认或拒绝。Check, then approve or decline.",
        fields=(
            ("医院", request.hospital or "—"),
            ("科室", request.department or "—"),
            ("职称", request.title or "—"),
            ("医生ID", request.doctor_id),
        ),
        buttons=(
            CardButton(key=f"{APPROVE_PREFIX}{request.doctor_id}", text="确认 Approve", style=1),
            CardButton(key=f"{DECLINE_PREFIX}{request.doctor_id}", text="拒绝 Decline", style=2),
        ),
    )


async def decide(
    services: Services, doctor_id: str, *, approve: bool, by: str, at: datetime
) -> DoctorProfile | None:
    """Approve (mark verified) or decline a doctor; closes the request and tells the doctor.

    None when no such doctor exists."""
    storage = services.storage
    if approve:
        profile = await mark_verified(storage, doctor_id, by=by, at=at)
    else:
        profile = await ProfileStore(storage).get(doctor_id)
    if profile is None:
        return None
    decision = Decision.APPROVED if approve else Decision.DECLINED
    await HcpRequests(storage).close(doctor_id, decision, by, at)
    await services.audit.record(
        "hcp_verification", at, event=decision.value, doctor=doctor_id, by=by
    )
    locale = Locale.ZH
    if profile.contact is not None:
        conversation = await load_conversation(storage, profile.contact.conversation_key)
        locale = conversation.locale if conversation else Locale.ZH
    notice = verified_notice(locale) if approve else _declined_notice(locale)
    # If the doctor cannot be messaged now they see the outcome at their next question anyway.
    with contextlib.suppress(Unreachable, LookupError):
        await send_to_doctor(
            services, profile, (TextReply(text=notice),), reference=f"hcp:{decision}:{doctor_id}"
        )
    return profile


def _declined_notice(locale: Locale) -> str:
    return pick(
        locale,
        "抱歉，您的医生身份暂未能确认，我们将继续为您提供公开信息。如有疑问请联系您的医药代表。",
        "Sorry, we could not confirm your identity as a healthcare professional; we will keep "
        "sharing public information. Please contact your representative with any questions.",
    )


def _is_review_click(ctx: Context) -> bool:
    return (ctx.message.click_id or "").startswith((APPROVE_PREFIX, DECLINE_PREFIX))


def _is_verify_command(ctx: Context) -> bool:
    return ctx.message.kind is MessageKind.TEXT and bool(_VERIFY_COMMAND.match(ctx.message.text))


def add_review_routes(router: Router, services: Services) -> None:
    """``/verify DOCTOR`` (id or declared name) and the card's approve / decline."""

    async def review_subject(ctx: Context) -> Subject:
        """The doctor ``/verify DOCTOR`` or a review card is about, and whom it was offered."""
        if ctx.message.kind is MessageKind.CLICK:
            target = (ctx.message.click_id or "").split(":", 2)[-1]
        else:
            match = _VERIFY_COMMAND.match(ctx.message.text)
            target = match.group(1) if match else ""
        doctor = await ProfileStore(services.storage).find(target)
        request = await HcpRequests(services.storage).get(doctor.doctor_id) if doctor else None
        offered = tuple(request.offered_to) if request else ()
        return Subject(
            target=f"doctor:{target}", doctors=(doctor,) if doctor else (), offered=offered
        )

    async def review(ctx: Context) -> None:
        subject = await review_subject(ctx)
        approve = not (ctx.message.click_id or "").startswith(DECLINE_PREFIX)
        doctor = subject.doctors[0] if subject.doctors else None
        request = await HcpRequests(services.storage).get(doctor.doctor_id) if doctor else None
        if (
            ctx.message.kind is MessageKind.CLICK
            and request
            and request.status is not Decision.OPEN
        ):
            by = request.decided_by or "—"
            ctx.reply(ctx.t(f"该请求已由 {by} 处理。", f"{by} already handled this request."))
            return
        profile = None
        if doctor is not None:
            profile = await decide(
                services, doctor.doctor_id, approve=approve, by=ctx.message.sender_id, at=ctx.now
            )
        if profile is None:
            ctx.reply(
                ctx.t(
                    f"未找到医生：{subject.target.removeprefix('doctor:')}",
                    f"No doctor found: {subject.target.removeprefix('doctor:')}",
                )
            )
            return
        ctx.data["audit_verification"] = {"approved" if approve else "declined": profile.doctor_id}
        if approve:
            ctx.reply(
                ctx.t(
                    f"已确认 {profile.display_name}（{profile.doctor_id}）的医生身份。",
                    f"{profile.display_name} ({profile.doctor_id}) is now verified.",
                )
            )
        else:
            ctx.reply(
                ctx.t(
                    f"已拒绝 {profile.display_name}（{profile.doctor_id}）的身份确认，已告知医生。",
                    f"Declined {profile.display_name} ({profile.doctor_id}); the doctor was told.",
                )
            )

    flags = rep_action(Action.VERIFY, review_subject)
    router.message(_is_verify_command, flags=flags)(review)
    router.message(_is_review_click, flags=flags)(review)
