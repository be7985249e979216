"""Handoff router (priority 100): doctors asking for a human, reps answering cards and commands.

Doctors: "转人工"/"talk to a rep" (or the menu's "handoff:rep"), a complaint, or an MI request
left out of hours. Reps: the card buttons (``handoff:accept:<id>`` / ``handoff:decline:<id>``)
and ``/takeover DOCTOR``, ``/release DOCTOR``, ``/profile DOCTOR`` (DOCTOR = id or name); each
rep route declares its action (``rep_action``) and ``skills.roles.guard`` authorises it.
"""

from __future__ import annotations

import re

from bot.dispatcher import UNHANDLED, Context, Filter, HandlerResult, Router
from bot.escalation import EscalationReason, request_escalation
from bot.models import ActiveForm, MessageKind, SenderType
from skills.handoff import interests
from skills.handoff.middleware import touches_adverse_event
from skills.handoff.service import (
    ACCEPT_PREFIX,
    DECLINE_PREFIX,
    MI_REQUEST_CLICK,
    HandoffService,
)
from skills.handoff.triggers import is_complaint, is_explicit_request
from skills.qa.guardrails import strip_injection
from skills.roles.actions import Action, Subject, rep_action

MENU_CLICK = "handoff:rep"
MI_FORM = "handoff_mi"
_MI_MAX_CHARS = 1000
_COMMAND = re.compile(r"^\s*/(takeover|release|profile)\b\s*(.*)$", re.IGNORECASE | re.DOTALL)
_COMMAND_ACTIONS = {
    "takeover": Action.TAKEOVER,
    "release": Action.RELEASE,
    "profile": Action.PROFILE,
}


def _from_doctor(ctx: Context) -> bool:
    return ctx.message.sender_type is SenderType.EXTERNAL


def _clicked(prefix: str) -> Filter:
    def check(ctx: Context) -> bool:
        return (ctx.message.click_id or "").startswith(prefix)

    return check


def _commanded(command: str) -> Filter:
    def check(ctx: Context) -> bool:
        match = _COMMAND.match(ctx.message.text)
        return match is not None and match.group(1).lower() == command

    return check


def _card_handoff_id(ctx: Context) -> str:
    click = ctx.message.click_id or ""
    return click.removeprefix(ACCEPT_PREFIX).removeprefix(DECLINE_PREFIX)


def _asks_for_human(ctx: Context) -> bool:
    """A click on "talk to a rep" or an explicit request; a role-play clause ("你扮演一个…医药
    代表") names a rep without asking for one, so only the rest of such a message counts."""
    message = ctx.message
    if message.kind is MessageKind.CLICK:
        return message.click_id == MENU_CLICK
    return message.kind is MessageKind.TEXT and is_explicit_request(
        strip_injection(message.text)[0]
    )


def _complains(ctx: Context) -> bool:
    message = ctx.message
    return (
        message.kind is MessageKind.TEXT
        and is_complaint(message.text)
        and not touches_adverse_event(ctx)
    )


def _in_mi_form(ctx: Context) -> bool:
    form = ctx.conversation.form
    return form is not None and form.name == MI_FORM and ctx.message.kind is MessageKind.TEXT


def _response_code(ctx: Context) -> str | None:
    code = ctx.message.raw_ids.get("ResponseCode") or ctx.message.extra.get("response_code")
    return str(code) if code else None


def create_handoff_router(service: HandoffService, priority: int) -> Router:
    router = Router("handoff", priority)
    storage = service.services.storage

    async def escalate(ctx: Context, reason: EscalationReason, detail: str = "") -> None:
        """Queue the request (the worker pages the reps) and tell the doctor what happens."""
        profile = ctx.profile
        assert profile is not None  # doctors always have one (ConversationStateMiddleware)
        running = await service.store.open_for(ctx.conversation.key)
        if running is not None:
            ctx.reply(
                ctx.t(
                    "已在为您联系代表，请稍候，接入后会在本对话中直接回复您。",
                    "I am already getting a rep for you; they will reply in this chat.",
                )
            )
            return
        await request_escalation(
            storage,
            conversation_key=ctx.conversation.key,
            doctor_id=profile.doctor_id,
            reason=reason,
            at=ctx.now,
            detail=detail,
            extra={"doctor_notified": True},
        )
        ctx.data["audit_escalation"] = reason.value
        ctx.conversation.unhelped_in_a_row = 0
        ctx.reply(*service.request_notice(profile, reason, ctx.locale))

    @router.message(_from_doctor, _asks_for_human)
    async def explicit_request(ctx: Context) -> None:
        await escalate(ctx, EscalationReason.EXPLICIT_REQUEST, ctx.message.text)

    @router.message(_from_doctor, _complains)
    async def complaint(ctx: Context) -> None:
        ctx.reply(
            ctx.t(
                "非常抱歉给您带来不好的体验。我已请代表尽快与您联系。",
                "I am sorry about this experience. I have asked a rep to contact you.",
            )
        )
        await escalate(ctx, EscalationReason.COMPLAINT, ctx.message.text)

    @router.message(_from_doctor, lambda ctx: ctx.message.click_id == MI_REQUEST_CLICK)
    async def start_mi_request(ctx: Context) -> None:
        ctx.conversation.form = ActiveForm(
            name=MI_FORM, step="question", started_at=ctx.now, updated_at=ctx.now
        )
        ctx.reply(
            ctx.t(
                "请直接输入您的医学问题（可包括产品、适应症、患者人群等，请勿包含患者姓名等身份信息）。"
                "医学信息团队会书面回复您。",
                "Please type your medical question (product, indication, patient population — "
                "no patient names or identifiers). The medical information team will answer "
                "in writing.",
            )
        )

    @router.message(_from_doctor, _in_mi_form)
    async def mi_question(ctx: Context) -> None:
        profile = ctx.profile
        assert profile is not None
        ctx.conversation.form = None
        await request_escalation(
            storage,
            conversation_key=ctx.conversation.key,
            doctor_id=profile.doctor_id,
            reason=EscalationReason.MEDICAL_INFORMATION,
            at=ctx.now,
            detail=ctx.message.text[:_MI_MAX_CHARS],
            extra={"doctor_notified": True},
        )
        ctx.data["audit_escalation"] = EscalationReason.MEDICAL_INFORMATION.value
        ctx.reply(
            ctx.t(
                "已收到您的医学信息申请，医学团队将在工作时间内尽快回复。",
                "Your medical information request is in; the medical team will answer during "
                "working hours.",
            )
        )

    async def card_subject(ctx: Context) -> Subject:
        handoff_id = _card_handoff_id(ctx)
        running = await service.store.get(handoff_id)
        doctor = await service.profiles.get(running.doctor_id) if running else None
        doctors = (doctor,) if doctor else ()
        return Subject(target=f"handoff:{handoff_id}", doctors=doctors, handoff=running)

    async def command_subject(ctx: Context) -> Subject:
        match = _COMMAND.match(ctx.message.text)
        argument = match.group(2).strip() if match else ""
        doctor = await service.profiles.find(argument) if argument else None
        return Subject(target=f"doctor:{argument}", doctors=(doctor,) if doctor else ())

    @router.message(_clicked(ACCEPT_PREFIX), flags=rep_action(Action.HANDOFF_ACCEPT, card_subject))
    async def accept_card(ctx: Context) -> None:
        rep = ctx.message.sender_id
        outcome = await service.accept(_card_handoff_id(ctx), rep, _response_code(ctx))
        ctx.reply(outcome.text(ctx.locale))

    @router.message(
        _clicked(DECLINE_PREFIX), flags=rep_action(Action.HANDOFF_DECLINE, card_subject)
    )
    async def decline_card(ctx: Context) -> None:
        rep = ctx.message.sender_id
        outcome = await service.decline(_card_handoff_id(ctx), rep, _response_code(ctx))
        ctx.reply(outcome.text(ctx.locale))

    async def rep_command(ctx: Context) -> HandlerResult:
        match = _COMMAND.match(ctx.message.text)
        if match is None:
            return UNHANDLED
        command, argument = match.group(1).lower(), match.group(2).strip()
        if not argument:
            ctx.reply(
                ctx.t(f"用法：/{command} 医生ID或姓名", f"Usage: /{command} DOCTOR_ID_OR_NAME")
            )
            return None
        doctor = await service.profiles.find(argument)
        if doctor is None:
            ctx.reply(ctx.t(f"找不到医生 “{argument}”。", f"No doctor matches '{argument}'."))
            return None
        rep = ctx.message.sender_id
        if command == "profile":
            ctx.reply(interests.describe(doctor))
        elif command == "takeover":
            ctx.reply((await service.takeover_command(rep, doctor)).text(ctx.locale))
        else:
            ctx.reply((await service.release_command(rep, doctor)).text(ctx.locale))
        return None

    for command, action in _COMMAND_ACTIONS.items():
        router.message(_commanded(command), flags=rep_action(action, command_subject))(rep_command)
    return router
