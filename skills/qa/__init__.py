"""Literature and product Q&A from approved content only.

Two routers (priorities are set in ``bot.wiring``):
- ``create_router``: the catch-all for text (and the ``qa:*`` menu clicks) — intent routing,
  guardrails, offline or LLM answers with citations, offers of MI requests;
- ``create_form_router``: the skill's active forms (HCP verification, the MI question), and the
  review of a verification request: the rep command ``/verify DOCTOR`` and the review card's
  approve / decline buttons (``hcp_review``; authorised by ``skills.roles``).
See ``skills/qa/README.md`` for the flow and the threshold calibration.
"""

from __future__ import annotations

import re

from bot.dispatcher import Context, Filter, Router
from bot.models import MessageKind
from bot.profiles import ProfileStore
from bot.services import Services
from skills.qa import hcp_review, verification
from skills.qa.service import (
    CLICK_ASK,
    CLICK_MI,
    CLICK_VERIFY,
    MI_FORM,
    QAService,
    service_of,
)
from skills.roles.actions import Action, Subject, rep_action

__all__ = ["QAService", "create_form_router", "create_router", "service_of"]

_VERIFY_COMMAND = re.compile(r"^\s*/verify\s+(\S.*?)\s*$", re.IGNORECASE)


def _is_text(ctx: Context) -> bool:
    return ctx.message.kind is MessageKind.TEXT and bool(ctx.message.text.strip())


def _clicked(click_id: str) -> Filter:
    def check(ctx: Context) -> bool:
        return ctx.message.kind is MessageKind.CLICK and ctx.message.click_id == click_id

    return check


def _form_is(name: str) -> Filter:
    def check(ctx: Context) -> bool:
        form = ctx.conversation.form
        return form is not None and form.name == name and _is_text(ctx)

    return check


def _is_verify_command(ctx: Context) -> bool:
    return ctx.message.kind is MessageKind.TEXT and bool(_VERIFY_COMMAND.match(ctx.message.text))


def _is_review_click(ctx: Context) -> bool:
    click = ctx.message.click_id or ""
    return click.startswith((hcp_review.APPROVE_PREFIX, hcp_review.DECLINE_PREFIX))


def create_router(services: Services, priority: int) -> Router:
    """Catch-all text router: every text no form or higher-priority skill consumed."""
    qa = service_of(services)
    router = Router("qa", priority)

    @router.message(_clicked(CLICK_ASK))
    async def ask(ctx: Context) -> None:
        ctx.reply(ctx.t("请直接输入您的问题。", "Please type your question."))

    @router.message(_clicked(CLICK_MI))
    async def mi_request(ctx: Context) -> None:
        await qa.mi_clicked(ctx)

    @router.message(_clicked(CLICK_VERIFY))
    async def verify(ctx: Context) -> None:
        verification.start(ctx)

    @router.message(_is_text)
    async def question(ctx: Context) -> None:
        await qa.respond(ctx)

    return router


def create_form_router(services: Services, priority: int) -> Router:
    """The skill's forms (verification, MI question) and the ``/verify`` rep command."""
    qa = service_of(services)
    router = Router("qa_forms", priority)

    @router.message(_form_is(verification.FORM_NAME))
    async def verification_step(ctx: Context) -> None:
        verification.step(ctx)
        if (
            ctx.conversation.form is None
            and ctx.profile is not None
            and "audit_verification" in ctx.data
        ):
            await hcp_review.submit(services, ctx.profile, ctx.now)

    @router.message(_form_is(MI_FORM))
    async def mi_question(ctx: Context) -> None:
        await qa.mi_form_step(ctx)

    async def review_subject(ctx: Context) -> Subject:
        """The doctor ``/verify DOCTOR`` or a review card is about, and whom it was offered."""
        if ctx.message.kind is MessageKind.CLICK:
            target = (ctx.message.click_id or "").split(":", 2)[-1]
        else:
            match = _VERIFY_COMMAND.match(ctx.message.text)
            target = match.group(1) if match else ""
        doctor = await ProfileStore(services.storage).find(target)
        request = (
            await hcp_review.HcpRequests(services.storage).get(doctor.doctor_id) if doctor else None
        )
        offered = (
            tuple(request.offered_to)
            if request and request.status is hcp_review.Decision.OPEN
            else ()
        )
        return Subject(
            target=f"doctor:{target}", doctors=(doctor,) if doctor else (), offered=offered
        )

    async def review(ctx: Context) -> None:
        subject = await review_subject(ctx)
        approve = not (ctx.message.click_id or "").startswith(hcp_review.DECLINE_PREFIX)
        doctor = subject.doctors[0] if subject.doctors else None
        profile = None
        if doctor is not None:
            profile = await hcp_review.decide(
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
    return router
