"""Screening of every inbound doctor message for adverse events and special situations.

``ScreeningMiddleware`` (verdicts from ``screener.Screener``) runs after Audit and before the
human-mode gate, whatever skill is active and in both modes: on a report it opens (or extends)
a case and persists it before anything else happens. In bot mode it starts the guided report
form; in human mode the case goes to PV at once and the rep is told.
"""

from __future__ import annotations

from bot.dispatcher import Context, NextStep
from bot.escalation import EscalationReason, request_escalation
from bot.middlewares import MUST_HANDLE
from bot.models import ActiveForm, ConversationMode, MessageKind, SenderType
from bot.services import Services
from skills.adverse_events.cases import (
    AECase,
    Event,
    Product,
    ReporterContact,
    SourceMessage,
    SubmitReason,
)
from skills.adverse_events.cues import CATEGORIES
from skills.adverse_events.facts import extract_facts, mask
from skills.adverse_events.screener import Verdict
from skills.adverse_events.service import AE_FORM, AEService, ae_service


def _screened(ctx: Context) -> bool:
    message = ctx.message
    return (
        message.sender_type is SenderType.EXTERNAL
        and message.kind is MessageKind.TEXT
        and bool(message.text.strip())
        and ctx.has_conversation
    )


class ScreeningMiddleware:
    """Screens doctors' text messages; on a report, the case is persisted before anything else."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        if _screened(ctx):
            ae = ae_service(self._services)
            verdict = await ae.screener.screen(ctx.message.text)
            ctx.data["ae_verdict"] = verdict
            if verdict.report:
                await _record_report(ae, ctx, verdict)
            if ctx.conversation.mode is ConversationMode.HUMAN:
                await _hand_form_to_pv(ae, ctx)
        await next_step(ctx)


async def _hand_form_to_pv(ae: AEService, ctx: Context) -> None:
    """A rep took over while the doctor was in the report form: submit what was collected."""
    form = ctx.conversation.form
    if form is None or form.name != AE_FORM:
        return
    case = await ae.store.read(
        form.slots["case_id"], reader="ae-screening", purpose="human takeover", at=ctx.now
    )
    ctx.conversation.form = None
    if case is not None:
        await ae.submit(case, SubmitReason.HUMAN_MODE)


async def _record_report(ae: AEService, ctx: Context, verdict: Verdict) -> None:
    message = ctx.message
    conversation = ctx.conversation
    message_key = f"{message.channel.value}:{message.message_id}"
    form = conversation.form
    case: AECase | None = None
    case_id = await ae.store.case_for_message(message_key)
    if case_id is None and form is not None and form.name == AE_FORM:
        case_id = str(form.slots["case_id"])  # more about the case being reported
    if case_id is not None:
        case = await ae.store.read(case_id, reader="ae-screening", purpose="add", at=ctx.now)
    if case is not None and case.status.value == "collecting":
        _add_source(case, ctx, verdict)
        case.updated_at = ctx.now
        await ae.store.save(case)
    elif case is None:
        case_id = case_id or await ae.store.new_case_id(message.received_at, message_key)
        case = _new_case(ae, ctx, verdict, case_id)
        await ae.store.save(case)  # persisted before anything else happens
        await ae.store.save_contact(
            ReporterContact(
                case_id=case.case_id,
                doctor_id=case.doctor_id,
                name=ctx.profile.name if ctx.profile else None,
                organisation=ctx.profile.hospital if ctx.profile else None,
            )
        )
        await ae.schedule_sla(case)
        ae.services.metrics.events.labels("ae_case_opened").inc()
        ctx.data["ae_opened"] = case.case_id
        if conversation.mode is ConversationMode.HUMAN:
            await ae.submit(case, SubmitReason.HUMAN_MODE)
            await request_escalation(
                ae.services.storage,
                conversation_key=conversation.key,
                doctor_id=case.doctor_id,
                reason=EscalationReason.ADVERSE_EVENT_IN_HUMAN_MODE,
                at=ctx.now,
                detail=case.sources[0].text,
                reference=case.case_id,
            )
        else:
            if form is not None:  # another form waits until the report is done
                conversation.data["ae_suspended_form"] = form.model_dump(mode="json")
            conversation.form = ActiveForm(
                name=AE_FORM,
                slots={"case_id": case.case_id},
                started_at=ctx.now,
                updated_at=ctx.now,
            )
    ctx.data["ae_case"] = case.case_id
    ctx.data[MUST_HANDLE] = True  # the report form asks its questions, flood or not
    ctx.data["audit_ae_case"] = case.case_id
    ctx.data["audit_ae_categories"] = list(verdict.categories)
    await ae.escalate_if_serious(case, ctx.now)


def _add_source(case: AECase, ctx: Context, verdict: Verdict) -> None:
    message = ctx.message
    if any(source.message_id == message.message_id for source in case.sources):
        return
    case.sources.append(
        SourceMessage(
            message_id=message.message_id,
            received_at=message.received_at,
            text=mask(message.text),
            language=verdict.language,
        )
    )
    case.categories = [c for c in CATEGORIES if c in set(case.categories) | set(verdict.categories)]
    case.known_effect_question = case.known_effect_question or verdict.is_known_effect_question


def _new_case(ae: AEService, ctx: Context, verdict: Verdict, case_id: str) -> AECase:
    message = ctx.message
    case = ae.blank_case(ctx, case_id, detection=verdict.detail)
    _add_source(case, ctx, verdict)
    text = case.sources[0].text
    facts = extract_facts(message.text)
    if "adverse_event" in case.categories:
        case.events.append(Event(verbatim=text, language=verdict.language, onset=facts.onset))
    case.patient.initials, case.patient.age, case.patient.sex = (
        facts.initials,
        facts.age,
        facts.sex,
    )
    case.products = [Product(name=name, batch=facts.batch) for name in facts.products]
    if facts.seriousness:
        case.seriousness = facts.seriousness
    case.outcome = facts.outcome
    return case


def create_middleware(services: Services) -> ScreeningMiddleware:
    return ScreeningMiddleware(services)
