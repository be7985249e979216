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

from bot.dispatcher import Context, Filter, Router
from bot.models import MessageKind
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

__all__ = ["QAService", "create_form_router", "create_router", "service_of"]


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
        await verification.step(ctx)
        declared = ctx.conversation.form is None and "audit_verification" in ctx.data
        if declared and ctx.profile is not None and not ctx.profile.verified:
            # The declaration is complete (and new): a rep confirms it from the card.
            await hcp_review.submit(services, ctx.profile, ctx.now)

    @router.message(_form_is(MI_FORM))
    async def mi_question(ctx: Context) -> None:
        await qa.mi_form_step(ctx)

    hcp_review.add_review_routes(router, services)
    return router
