"""Screening of every inbound doctor message for adverse events and special situations.

``ScreeningMiddleware`` (verdicts from ``screener.Screener``) runs after Audit and before the
human-mode gate, whatever skill is active and in both modes: on a clear report it opens (or
extends) a case and persists it before anything else happens. In bot mode it starts the guided
report form; in human mode the case goes to PV at once and the rep is told.

On an ambiguous candidate (``Verdict.confirm``) in bot mode it asks the doctor one question
instead — "did this happen to a patient after a medicine?" — and keeps the message in the
conversation state (``PENDING_CONFIRMATION``; durable, so a restart in between loses nothing).
The doctor's next message is read by ``confirmation.read_confirmation``:

- a yes/no reply, read with its negation ("是的", "不是", "没有，只是问问", "nope", "yse"), or a
  short or unclear one ("不知道", "?"): a yes, or anything that is not a clear no, opens the case
  with day 0 = the first message; a clear no is written to the audit trail and the first message
  goes on to its skill (e.g. Q&A) as if just received. If the reply is itself a report (it
  names a reaction: "病人服用诺拉维后出现黑色小便，CK 12000，已经住院"), it is the event's
  description: the event, onset, outcome and seriousness are read from it, its products added;
  the first message stays the first source and day 0.
- a new question or request that tells of no event ("诺拉维的剂量是多少", "帮我报名下周的会议") is
  not an answer: the first time, it goes on to its skill, which answers it, and the bot then asks
  again briefly (the confirmation stays pending, marked as deferred); the second time, the case
  opens (when in doubt, report) and the question is answered after the case's first turn.

A report (or candidate) typed while a report form is open is screened like any message: it
is added to the open case, or — when it tells of another patient ("另一位患者…", "another
patient …") — opens a case of its own, which reaches PV as it is when the doctor falls silent.
The form tells the doctor which, and asks its pending question again (``form.py``).

A message that only asks (``confirmation.asks_without_telling``: a dose, a population or
condition the question is about — "Child-Pugh B级的病人诺拉维最多吃多少", "noravex in dialysis
patients" —, an interaction, off-label use; no person it happened to, no reaction, nothing
taken or happened) is answered in every mode: neither a case nor a confirmation
(``audit_ae_confirm = "question_only"``). Typed at the confirmation it is a new question.
A message that tells of an event and also asks a question gets both in the same turn: the
case's acknowledgement and then the answer (the form's first turn), or the confirmation
question and then the answer (the pending confirmation remembers that it was answered).

A candidate that the Q&A classifier is sure is a question (``confirmation.plainly_asks``: it
asks, tells of nothing that happened, p ≥ 0.8) is not asked about; the skip is audited
(``audit_ae_confirm = "skipped_question"``). In human mode, or while a report form is already
open, nobody is asked: the candidate is reported (when in doubt, report).

A clear score on a few words typed like a search ("noravex dosing pls", "common adverse
reactions of noravex": ``confirmation.reads_like_a_search``, no patient, nothing that happened)
that names no special situation ("noravex overdose", "药瓶里有根头发" stay reports) opens no case
at once: it is a candidate (``audit_ae_search``). One that names no reaction, or only asks about
known effects, is answered without asking when the Q&A classifier is sure it is a question;
one that names a reaction ("rash after noravex") is asked about once. The classifier scores
bare product queries like the reports it was trained on; a search names no patient.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.dispatcher import Context, NextStep
from bot.escalation import EscalationReason, request_escalation
from bot.i18n import pick
from bot.middlewares import MUST_HANDLE
from bot.models import (
    ActiveForm,
    ConversationMode,
    InboundMessage,
    Locale,
    MessageKind,
    SenderType,
)
from bot.services import Services
from bot.yesno import YesNo
from skills.adverse_events.cases import (
    AECase,
    Event,
    Product,
    ReporterContact,
    Seriousness,
    SourceMessage,
    SubmitReason,
)
from skills.adverse_events.confirmation import (
    NOT_AN_ANSWER,
    QuestionGauge,
    asks_a_question,
    asks_about_a_supposition,
    asks_how_to_counsel,
    asks_without_telling,
    names_an_effect,
    plainly_asks,
    read_confirmation,
    reads_like_a_search,
    reads_like_a_topic,
    tells_a_good_course,
    tells_an_overdose,
)
from skills.adverse_events.cues import CATEGORIES, another_patient
from skills.adverse_events.detector import names_a_reaction
from skills.adverse_events.extraction import without_care_or_death
from skills.adverse_events.facts import extract_facts, mask
from skills.adverse_events.screener import Verdict
from skills.adverse_events.service import (
    ADDED_TO_OPEN_CASE,
    AE_FORM,
    QUESTION_ONLY,
    QUESTION_TEXT,
    SEPARATE_CASE,
    AEService,
    ae_service,
)

# conversation.data key of the message waiting for the doctor's confirmation.
PENDING_CONFIRMATION = "ae_pending_confirmation"
_ANSWERABLE = (MessageKind.TEXT, MessageKind.CLICK, MessageKind.VOICE, MessageKind.IMAGE)


def confirmation_question(language: str) -> str:
    """The one question asked before an ambiguous message becomes a case."""
    return pick(
        Locale.ZH if language == "zh" else Locale.EN,
        "您提到的情况是患者（或您本人）用药后发生的吗？如是，我们需要向药物警戒部门报告。"
        "请回复“是”或“不是”。",
        "Did what you describe happen to a patient (or to you) after taking a medicine? If so, "
        "we need to report it to our pharmacovigilance team. Please reply 'yes' or 'no'.",
    )


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
        ae = ae_service(self._services)
        pending = _take_pending(ctx)
        verdict: Verdict | None = None
        if _screened(ctx):
            verdict = await ae.screener.screen(ctx.message.text)
            ctx.data["ae_verdict"] = verdict
        decided = await _decide(ae, ctx, verdict) if verdict is not None else None
        if pending is not None:
            # Whether this message, on its own, would reach PV or be asked about.
            reported = decided is not None and decided.reaches_pv
            answer = _answer(ctx)
            if (
                answer is YesNo.UNCLEAR
                and decided is not None
                and (decided.asked_only or decided.topic)
            ):
                answer = NOT_AN_ANSWER  # a query without a question word ("noravex in CKD")
            if answer is NOT_AN_ANSWER and not reported and not pending.get("deferred_by"):
                await _defer(next_step, ctx, pending)
                return
            declined = await _resolve(ae, ctx, pending, answer or YesNo.UNCLEAR)
            if not declined:  # the case is open (with this message in it, if it told more)
                await next_step(ctx)
                return
            if verdict is None or not (verdict.report or verdict.confirm):
                # Its question was answered with the confirmation, or another form (opened by a
                # question in between) would take the first message for its own answer.
                if pending.get("answered") or ctx.conversation.form is not None:
                    ctx.skill, ctx.handler = "adverse_events", "confirmation_declined"
                    ctx.reply(confirmation_declined(str(pending["language"])))
                    return
                # A plain "no": the first message goes on to its skill as if just received.
                await _continue_with(next_step, ctx, pending)
                return
        if decided is not None:
            verdict = decided.verdict
            if verdict.report or (verdict.confirm and not _may_ask(ctx)):
                await _record_report(ae, ctx, verdict)
            elif verdict.confirm:
                if decided.question is None:
                    _ask_to_confirm(ctx, verdict)
                    await _answer_now(ae, ctx)
                    return  # the skills wait for the answer
                label, probability = decided.question
                ctx.data["audit_ae_confirm"] = "skipped_question"
                ctx.data["audit_ae_question"] = {"label": label, "p": round(probability, 3)}
            if ctx.conversation.mode is ConversationMode.HUMAN:
                await _hand_form_to_pv(ae, ctx)
        await next_step(ctx)
        if decided is not None and decided.invite:
            ctx.reply(report_invitation(decided.verdict.language))


@dataclass(frozen=True)
class Decision:
    """What screening does with one message: the verdict after the rules of ``decide``, and
    Q&A's reading when the candidate is plainly a question (then nobody is asked about it).
    ``asked_only``: the message only asks (``asks_without_telling``) and reaches nobody;
    ``topic``: a search-like topic query, answered (``invite``: with a line inviting a report);
    ``good_course``: a course with nothing untoward, answered; ``overdose_told``: the
    detector missed an overdose told of someone, reported."""

    verdict: Verdict
    question: tuple[str, float] | None
    asked_only: bool = False
    search: bool = False
    topic: bool = False
    invite: bool = False
    good_course: bool = False
    overdose_told: bool = False

    @property
    def reaches_pv(self) -> bool:
        """A report, or a candidate the doctor would be asked about."""
        return self.verdict.report or (self.verdict.confirm and self.question is None)

    @property
    def outcome(self) -> str:
        """``"case"`` (opens at once), ``"confirm"`` (asked about) or ``"answer"``."""
        if self.verdict.report:
            return "case"
        return "confirm" if self.reaches_pv else "answer"


async def decide(
    verdict: Verdict, text: str, gauge: QuestionGauge | None, *, may_ask: bool
) -> Decision:
    """The production decision on one screened message (``may_ask``: bot mode, no report form).

    0. An overdose told of someone ("患者吃超量了怎么办", ``confirmation.tells_an_overdose``) is
       a clear report of an overdose, whatever the detector scored (recall first); the
       question it asks is answered after the case's acknowledgement.
    1. A message that only asks — a dose, a population, an interaction, a known effect — and
       tells of nothing that happened (``confirmation.asks_without_telling``), asks what to do
       if something happened (``confirmation.asks_about_a_supposition``) or what to tell
       patients (``confirmation.asks_how_to_counsel``), is answered: neither a case nor a
       confirmation question.
    2. A course with nothing untoward in it ("血脂控制得很好，没什么不舒服", "加量后达标了",
       ``confirmation.tells_a_good_course``) is answered: neither a case nor a question.
    3. A search-like topic query ("rhabdomyolysis with noravex", "noravex 肝损",
       ``confirmation.reads_like_a_topic``: a medicine and a topic, no person, no time, no
       event verb) is answered; when it names an effect, with a line inviting a report.
    4. The search rule (module docstring): a clear score on a few search words is a candidate.
    5. A candidate the Q&A classifier is sure is a question is not asked about.
    Rules 0–2 hold in every mode (they read what the words tell). Without ``may_ask`` (human
    mode, inside a report form) rules 3–5 do not apply and a candidate is reported: when in
    doubt, report.
    """
    if not verdict.report and tells_an_overdose(text):
        categories = tuple(c for c in CATEGORIES if c in {*verdict.categories, "overdose"})
        told = replace(verdict, report=True, confirm=False, categories=categories)
        return Decision(told, None, overdose_told=True)
    flagged = verdict.report or verdict.confirm
    if flagged and (
        asks_without_telling(text, verdict.categories)
        or asks_about_a_supposition(text, verdict.categories)
        or (set(verdict.categories) <= {"adverse_event"} and asks_how_to_counsel(text))
    ):
        return Decision(replace(verdict, report=False, confirm=False), None, asked_only=True)
    if flagged and tells_a_good_course(text, verdict.categories):
        return Decision(replace(verdict, report=False, confirm=False), None, good_course=True)
    topic = (
        flagged
        and may_ask
        and set(verdict.categories) <= {"adverse_event", "interaction"}
        and reads_like_a_topic(text)
    )
    if topic:
        invite = names_an_effect(text) and not verdict.is_known_effect_question
        quiet = replace(verdict, report=False, confirm=False)
        return Decision(quiet, None, topic=True, invite=invite)
    search = (
        verdict.report
        and set(verdict.categories) <= {"adverse_event"}  # no special situation named
        and may_ask
        and reads_like_a_search(text)
    )
    if search:
        verdict = replace(verdict, report=False, confirm=True)
    # A search that names a reaction ("rash after noravex") is asked about, unless it only asks
    # about known effects.
    reaction_named = search and not verdict.is_known_effect_question and names_a_reaction(text)
    question = None
    if verdict.confirm and may_ask and not reaction_named:
        question = await plainly_asks(text, gauge)
    return Decision(verdict, question, search=search)


async def _decide(ae: AEService, ctx: Context, verdict: Verdict) -> Decision:
    """``decide`` for the context's message; the rules that fired go to the audit trail."""
    decided = await decide(verdict, ctx.message.text, ae.question_gauge, may_ask=_may_ask(ctx))
    if decided.search:
        ctx.data["audit_ae_search"] = True
    if decided.asked_only:
        ctx.data["audit_ae_confirm"] = "question_only"
        ctx.data[QUESTION_ONLY] = True  # inside a report form: answered, not a step's answer
    elif decided.topic:
        ctx.data["audit_ae_confirm"] = "topic_query"
    elif decided.good_course:
        ctx.data["audit_ae_confirm"] = "good_course"
    elif decided.overdose_told:
        ctx.data["audit_ae_confirm"] = "overdose_told"
    if decided.outcome == "answer" or decided.overdose_told:
        ctx.data["ae_verdict"] = decided.verdict  # what the skills see (a question, a report)
    return decided


def _may_ask(ctx: Context) -> bool:
    """Whether the bot may ask a confirmation question: bot mode, no report form running
    (a rep is typing in human mode; inside a report form the message is part of it)."""
    form = ctx.conversation.form
    in_report = form is not None and form.name == AE_FORM
    return ctx.conversation.mode is ConversationMode.BOT and not in_report


def _ask_to_confirm(ctx: Context, verdict: Verdict) -> None:
    """Keep the message in the conversation state and ask the one question."""
    ctx.conversation.data[PENDING_CONFIRMATION] = {
        "message": ctx.message.model_dump(mode="json"),
        "categories": list(verdict.categories),
        "language": verdict.language,
        "known_effect_question": verdict.is_known_effect_question,
        "detail": verdict.detail,
        "asked_at": ctx.now.isoformat(),
    }
    ctx.skill, ctx.handler = "adverse_events", "confirmation_question"
    ctx.data["audit_ae_confirm"] = "asked"
    ctx.reply(confirmation_question(verdict.language))


async def _answer_now(ae: AEService, ctx: Context) -> None:
    """A candidate that also asks a question ("病人吃了以后有点头晕，要减量吗？"): after the
    confirmation question, the question is answered in the same turn (as a case's first turn
    answers one); the confirmation remembers it, so it is not answered again."""
    text = ctx.message.text
    if not asks_a_question(text):
        return
    ctx.conversation.data[PENDING_CONFIRMATION]["answered"] = True
    ctx.reply(*await ae.answer_known_effect_question(ctx, text))


def report_invitation(language: str) -> str:
    """After the answer to a topic query that names an effect ("rhabdomyolysis with noravex"):
    nobody is asked to confirm, but a case that happened is invited."""
    return pick(
        Locale.ZH if language == "zh" else Locale.EN,
        "如是患者发生的情况，请告诉我，我们会报告药物警戒部门。",
        "If this happened to a patient, please tell me and we will report it to our "
        "pharmacovigilance team.",
    )


def confirmation_declined(language: str) -> str:
    """After a clear no to a candidate whose question was already answered."""
    return pick(
        Locale.ZH if language == "zh" else Locale.EN,
        "好的，明白了，不作为不良事件报告。还有其他问题请随时告诉我。",
        "Understood: not reported as an adverse event. Ask me anything else any time.",
    )


def _take_pending(ctx: Context) -> dict[str, Any] | None:
    """The confirmation waiting for this doctor's answer, removed from the state (any next
    message from the doctor answers it; channel events do not)."""
    message = ctx.message
    if not ctx.has_conversation or message.sender_type is not SenderType.EXTERNAL:
        return None
    if message.kind not in _ANSWERABLE:
        return None
    pending: dict[str, Any] | None = ctx.conversation.data.pop(PENDING_CONFIRMATION, None)
    return pending


def _answer(ctx: Context) -> YesNo | None:
    """The reply read as an answer to the question (``NOT_AN_ANSWER`` for a new question)."""
    message = ctx.message
    if message.kind is not MessageKind.TEXT or not message.text.strip():
        return YesNo.UNCLEAR  # a voice note, an image or a tap: not a clear no
    return read_confirmation(message.text)


def confirmation_reminder(language: str) -> str:
    """Asked again after a question typed instead of the answer was answered."""
    return pick(
        Locale.ZH if language == "zh" else Locale.EN,
        "另外，请确认：您前面提到的情况是患者（或您本人）用药后发生的吗？请回复“是”或“不是”。",
        "One more thing: did what you described earlier happen to a patient (or to you) after "
        "taking a medicine? Please reply 'yes' or 'no'.",
    )


async def _defer(next_step: NextStep, ctx: Context, pending: dict[str, Any]) -> None:
    """A new question instead of the answer: it is answered by its skill, the confirmation
    stays pending (once) and is asked again after the answer."""
    pending["deferred_by"] = ctx.message.message_id
    ctx.conversation.data[PENDING_CONFIRMATION] = pending
    ctx.data["audit_ae_confirm"] = "deferred"
    await next_step(ctx)
    ctx.reply(confirmation_reminder(str(pending["language"])))


async def _resolve(ae: AEService, ctx: Context, pending: dict[str, Any], answer: YesNo) -> bool:
    """Open the case unless the answer is a clear no. True when declined."""
    message = ctx.message
    text = message.text if message.kind is MessageKind.TEXT else ""
    original = InboundMessage.model_validate(pending["message"])
    ctx.data["audit_ae_confirm"] = answer.value
    if answer is YesNo.NO:
        await ae.services.audit.record(
            "ae_confirmation_declined",
            ctx.now,
            conversation=message.conversation_key,
            message_id=original.message_id,
            answer_message_id=message.message_id,
            answer=text,
            categories=pending["categories"],
        )
        return True
    confirmed = Verdict(
        report=True,
        confirm=False,
        categories=tuple(pending["categories"]),
        language=str(pending["language"]),
        is_known_effect_question=bool(pending["known_effect_question"]),
        detail={
            **pending["detail"],
            "confirmation": {
                "answer": answer.value,
                "answer_message_id": message.message_id,
                "deferred_by": pending.get("deferred_by"),
            },
        },
    )
    current, screened_now = ctx.message, ctx.data.get("ae_verdict")
    ctx.message = original  # day 0, the source text and the message key are the first message's
    try:
        await _record_report(ae, ctx, confirmed)
    finally:
        ctx.message = current
    ctx.data["ae_verdict"] = confirmed
    # The case's first turn answers a question: the new one typed instead of the answer, else
    # one the first message asked.
    # (None: the first message's question was answered with the confirmation question.)
    first = None if pending.get("answered") else original.text
    ctx.data[QUESTION_TEXT] = text if pending.get("deferred_by") else first
    if isinstance(screened_now, Verdict) and (screened_now.report or screened_now.confirm):
        # The answer told of an event too: kept as the second source and, when it names a
        # reaction, it is the event's description (the first message may have been a
        # good-course story that only fell in the confirmation band).
        await _record_report(ae, ctx, screened_now, describes=_tells_an_event(text, screened_now))
    return False


def _tells_an_event(text: str, verdict: Verdict) -> bool:
    """Whether a reply to the confirmation question is a report of its own: an adverse event
    with a reaction named ("病人服用诺拉维后出现黑色小便，已经住院"), not a yes with context
    ("对，吃了诺拉维以后") or with how it went ("对，住院了") that leaves the first message the
    event."""
    return "adverse_event" in verdict.categories and names_a_reaction(without_care_or_death(text))


async def _continue_with(next_step: NextStep, ctx: Context, pending: dict[str, Any]) -> None:
    """Hand the first message to the skills (the doctor said it was not an event)."""
    current = ctx.message
    ctx.message = InboundMessage.model_validate(pending["message"])
    try:
        await next_step(ctx)
    finally:
        ctx.message = current


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


async def _record_report(
    ae: AEService, ctx: Context, verdict: Verdict, *, describes: bool = False
) -> None:
    """Open a case for the message, or add it to the case it belongs to (``describes``: the
    message is the description of that case's event, see ``_describe``)."""
    message = ctx.message
    conversation = ctx.conversation
    message_key = f"{message.channel.value}:{message.message_id}"
    form = conversation.form
    case: AECase | None = None
    case_id = await ae.store.case_for_message(message_key)
    separate = False  # another patient's report typed while a report form is open
    if case_id is None and form is not None and form.name == AE_FORM:
        if another_patient(message.text):
            separate = True
        else:
            case_id = str(form.slots["case_id"])  # more about the case being reported
            if verdict.report:  # a clear report, not a form answer (a candidate may be one)
                ctx.data[ADDED_TO_OPEN_CASE] = case_id
    if case_id is not None:
        case = await ae.store.read(case_id, reader="ae-screening", purpose="add", at=ctx.now)
    if case is not None and case.status.value == "collecting":
        _add_source(case, ctx, verdict)
        if describes:
            _describe(case, message, verdict)
        else:  # more about the event: how serious it is counts ("已经住院了", "he was admitted")
            _add_seriousness(case, extract_facts(message.text).seriousness)
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
        elif separate:
            # The open form goes on; this case reaches PV as it is when the doctor falls
            # silent (the idle submission of an abandoned form).
            ctx.data[SEPARATE_CASE] = case.case_id
            await ae.schedule_idle(case)
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
    source = SourceMessage(
        message_id=message.message_id,
        received_at=message.received_at,
        text=mask(message.text),
        language=verdict.language,
        media=message.extra.get("media_ref"),
    )
    if not case.add_source(source):
        return
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


def _describe(case: AECase, message: InboundMessage, verdict: Verdict) -> None:
    """``message`` (the reply to the confirmation question) is the event's description: the
    event, its onset, outcome and seriousness are read from it, and its products and patient
    details are added. The first message stays the first source and day 0 (recall first: it
    may be the start of the event), and what it named (a product) is kept."""
    facts = extract_facts(message.text)
    case.events[:1] = [
        Event(verbatim=mask(message.text), language=verdict.language, onset=facts.onset)
    ]
    case.patient.initials = facts.initials or case.patient.initials
    case.patient.age = facts.age or case.patient.age
    case.patient.sex = facts.sex or case.patient.sex
    named = [product.name for product in case.products]
    case.products += [
        Product(name=name, batch=facts.batch) for name in facts.products if name not in named
    ]
    _add_seriousness(case, facts.seriousness)
    case.outcome = facts.outcome


def _add_seriousness(case: AECase, seriousness: list[Seriousness]) -> None:
    """Add what a later message says of the event's seriousness to the case's (never less)."""
    if seriousness:
        case.seriousness = list(dict.fromkeys([*(case.seriousness or []), *seriousness]))


def create_middleware(services: Services) -> ScreeningMiddleware:
    return ScreeningMiddleware(services)
