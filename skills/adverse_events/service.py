"""The adverse-event skill's per-process service: case store, screener, submission, alerts.

One instance per ``Services`` (kept in ``services.extras["adverse_events"]``), shared by the
screening middleware, the report form, the PV acknowledgement router and the delivery worker.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from bot.dead_letter_ops import OPS_GROUP, resolve, unresolved
from bot.dispatcher import Context
from bot.escalation import EscalationReason, request_escalation
from bot.i18n import local_time
from bot.models import CardButton, CardReply, Channel, OutboundMessage, Reply, TextReply
from bot.queue_monitor import DeadLetterWatch
from bot.services import Services
from bot.storage.base import LockTimeout, Storage
from skills.adverse_events.cases import (
    AECase,
    CaseStatus,
    CaseStore,
    SubmitReason,
    masked,
)
from skills.adverse_events.confirmation import QuestionGauge
from skills.adverse_events.screener import OfflineDetector, Screener

log = logging.getLogger(__name__)

SKILL: Final = "adverse_events"
AE_FORM: Final = "ae_report"  # conversation.form.name of the guided report
# ctx.data key: the message whose known-effect question the report form answers, when it is
# not the message being handled (a case confirmed by the doctor's next message).
QUESTION_TEXT: Final = "ae_question_text"
# ctx.data keys set by screening for a report typed inside an open report form: the open case it
# was added to, or the separate case it opened (another patient).
ADDED_TO_OPEN_CASE: Final = "ae_added_to_open_case"
SEPARATE_CASE: Final = "ae_separate_case"
# Set by screening on a message that only asks (no event): inside the form it is a question.
QUESTION_ONLY: Final = "ae_question_only"
DELIVERY_QUEUE: Final = "ae_delivery"
DELIVERY_GROUP: Final = "pv"
DEAD_LETTER_QUEUE: Final = "ae_dead_letter"
PV_DEAD_LETTER_WATCH: Final = DeadLetterWatch(
    DEAD_LETTER_QUEUE, OPS_GROUP, "virtualrep pv list; virtualrep pv redeliver --dead"
)
"""A dead-lettered case keeps the queue alert up until ``pv redeliver`` resolves it."""
PENDING_SET: Final = "ae:undelivered"  # submitted cases not yet delivered to every sink
IDLE_SCHEDULE: Final = "ae_idle"
SLA_SCHEDULE: Final = "ae_sla"
RETRY_SCHEDULE: Final = "ae_delivery_retry"
ACK_CLICK_PREFIX: Final = "ae:ack:"

KnownEffectAnswerer = Callable[[Context, str], Awaitable[Sequence[Reply | str]]]


def delivery_lock_key(case_id: str) -> str:
    """The lock held while a case is delivered or its delivery is reset (one at a time)."""
    return f"lock:ae:deliver:{case_id}"


async def queue_delivery(storage: Storage, store: CaseStore, case_id: str, at: datetime) -> None:
    """Put ``case_id`` on the delivery queue and record when."""
    await storage.enqueue(DELIVERY_QUEUE, {"case_id": case_id})
    state = await store.delivery(case_id)
    state.queued_at = at
    await store.save_delivery(case_id, state)


class Redelivery(StrEnum):
    """What ``redeliver`` did with a case (the value is what the operator is told)."""

    QUEUED = "queued for delivery again"
    ALREADY_DELIVERED = "already delivered"
    STILL_RETRYING = "not dead-lettered: its delivery is still being retried"
    BUSY = "being delivered right now; try again in a minute"
    NOT_SUBMITTED = "not submitted yet"  # the report is still being collected
    NO_SUCH_CASE = "no such case"


async def redeliver(
    storage: Storage, store: CaseStore, case_id: str, *, by: str, at: datetime
) -> Redelivery:
    """Start a dead-lettered case's delivery over, once the failing sink is fixed.

    The case is queued first, then its attempts count from zero again and its dead-letter mark
    goes: a failure in between leaves it dead-lettered, so it can be redelivered again. Sinks
    that already took it are not sent it again (the worker skips them). Its entries in the
    dead-letter queue are resolved — also when it turns out to be delivered or gone — so the
    alert clears. Audited with who asked. A case still being retried is left to its retries.
    """
    try:
        async with storage.lock(delivery_lock_key(case_id), timeout_s=120, blocking_timeout_s=5):
            case = await store.read(case_id, reader=by, purpose="pv redeliver", at=at)
            state = await store.delivery(case_id)
            if case is None:
                outcome = Redelivery.NO_SUCH_CASE
            elif case.status is not CaseStatus.SUBMITTED:
                outcome = Redelivery.NOT_SUBMITTED
            elif state.delivered_at is not None:
                outcome = Redelivery.ALREADY_DELIVERED
            elif state.dead_lettered_at is None:
                outcome = Redelivery.STILL_RETRYING
            else:
                await storage.set_add(PENDING_SET, case_id)
                await queue_delivery(storage, store, case_id, at)
                await store.reset_delivery(case_id, by=by, at=at)
                outcome = Redelivery.QUEUED
    except LockTimeout:
        return Redelivery.BUSY
    if outcome not in (Redelivery.STILL_RETRYING, Redelivery.NOT_SUBMITTED):
        for entry in await unresolved(storage, DEAD_LETTER_QUEUE):
            if entry.payload.get("case_id") == case_id:
                await resolve(storage, entry)
    return outcome


async def dead_lettered_cases(storage: Storage, store: CaseStore) -> list[str]:
    """Cases to redeliver after an outage: dead-lettered ones, and any named by an unresolved
    dead-letter entry (``redeliver`` resolves it, so the alert clears)."""
    found = [entry.payload.get("case_id") for entry in await unresolved(storage, DEAD_LETTER_QUEUE)]
    for case_id in await store.case_ids():
        if (await store.delivery(case_id)).dead_lettered_at is not None:
            found.append(case_id)
    return [str(case_id) for case_id in dict.fromkeys(found) if case_id]


@functools.cache
def default_detector() -> OfflineDetector:
    """The shipped offline detector, loaded once per process (it holds an embedding model)."""
    from skills.adverse_events.detector import AEDetector

    return AEDetector.load()


async def standard_response_offer(ctx: Context, question: str) -> Sequence[Reply | str]:
    """Safe answer to "is that a known effect?" when no Q&A skill can answer it."""
    return [
        ctx.t(
            "关于这是否为已知的不良反应：请以产品说明书为准；如需要，医学信息部门可以向您提供"
            "标准答复，报告完成后回复“标准答复”即可申请。",
            "On whether this is a known effect: the prescribing information is the reference; "
            "medical information can send you the standard response — reply 'standard "
            "response' after the report to request it.",
        )
    ]


class AEService:
    def __init__(self, services: Services, detector: OfflineDetector | None = None) -> None:
        settings = services.settings
        self.services = services
        self.store = CaseStore(
            services.storage,
            services.audit,
            timezone=settings.timezone,
            sla_h=settings.pv_sla_h,
            records=services.records,
            clock=services.clock,
        )
        self.screener = Screener(detector or default_detector(), services.llm)
        self.answer_known_effect_question: KnownEffectAnswerer = standard_response_offer
        # The Q&A classifier, when wired: a question it is sure of skips the confirmation.
        self.question_gauge: QuestionGauge | None = None

    @property
    def now(self) -> datetime:
        return self.services.clock()

    def blank_case(self, ctx: Context, case_id: str, **fields: Any) -> AECase:
        """A new case for the context's message: day 0 is its receipt, the SLA runs from it."""
        message = ctx.message
        return AECase(
            case_id=case_id,
            day0=message.received_at,
            due_at=self.store.due_at(message.received_at),
            opened_at=ctx.now,
            updated_at=ctx.now,
            doctor_id=ctx.profile.doctor_id if ctx.profile else message.sender_id,
            channel=message.channel,
            conversation_key=message.conversation_key,
            mode=ctx.conversation.mode,
            **fields,
        )

    # -- scheduling ------------------------------------------------------------------------------
    async def schedule_idle(self, case: AECase) -> None:
        """(Re)arm the idle timer of a form: submitted incomplete when nothing happens."""
        due = self.now + timedelta(minutes=self.services.settings.ae_idle_submit_min)
        payload = {"conversation_key": case.conversation_key}
        await self.services.storage.schedule(IDLE_SCHEDULE, case.case_id, due, payload)

    async def schedule_sla(self, case: AECase) -> None:
        await self.services.storage.schedule(SLA_SCHEDULE, case.case_id, case.due_at)

    # -- submission ------------------------------------------------------------------------------
    async def submit(self, case: AECase, reason: SubmitReason) -> None:
        """Close the case for collection and queue it for PV (durably, before returning).

        The case joins ``PENDING_SET`` first, so a crash before the queue entry is written is
        repaired by the delivery worker's start-up reconciliation.
        """
        if case.status is CaseStatus.SUBMITTED:
            return
        storage = self.services.storage
        case.status = CaseStatus.SUBMITTED
        case.submitted_at = case.updated_at = self.now
        case.submit_reason = reason
        case.incomplete = reason is not SubmitReason.CONFIRMED or bool(case.missing_criteria)
        case.close_steps()  # what the form never asked reads "not asked", not "none"
        await storage.set_add(PENDING_SET, case.case_id)
        await self.store.save(case)
        await storage.cancel(IDLE_SCHEDULE, case.case_id)
        await self.enqueue_delivery(case.case_id)
        self.services.metrics.events.labels("ae_case_submitted").inc()

    async def enqueue_delivery(self, case_id: str) -> None:
        await queue_delivery(self.services.storage, self.store, case_id, self.now)

    # -- people to tell --------------------------------------------------------------------------
    async def escalate_if_serious(self, case: AECase, at: datetime) -> None:
        """Tell the rep once about a serious case (it goes to PV regardless)."""
        if not case.serious or case.serious_escalated:
            return
        case.serious_escalated = True
        await self.store.save(case)
        await request_escalation(
            self.services.storage,
            conversation_key=case.conversation_key,
            doctor_id=case.doctor_id,
            reason=EscalationReason.SERIOUS_ADVERSE_EVENT,
            at=at,
            detail=", ".join(flag.value for flag in case.seriousness or ()),
            reference=case.case_id,
        )

    async def send_to_pv(self, *replies: Reply) -> bool:
        """Send replies to every PV member through the app channel; False when impossible."""
        users = self.services.settings.pv_user_ids
        sender = self.services.senders.get(Channel.APP)
        if not users or sender is None:
            return False
        await sender.send(
            OutboundMessage(
                channel=Channel.APP,
                conversation_key="pv",
                recipient_id="|".join(users),
                replies=replies,
            )
        )
        return True

    async def alert_pv(self, text: str, *, case_id: str, event: str) -> None:
        """An operational alert (dead letter, overdue case): log, metric, audit, PV message."""
        log.error("pharmacovigilance alert", extra={"case_id": case_id, "alert": event})
        self.services.metrics.events.labels(event).inc()
        await self.services.audit.record("ae_alert", self.now, case_id=case_id, alert=event)
        await self.send_to_pv(TextReply(text=text))


def case_card(case: AECase, timezone: str, *, overdue: bool = False) -> CardReply:
    """The PV notification card with its acknowledge button (times in ``timezone``)."""
    case = masked(case)
    title = ("【逾期未确认】" if overdue else "") + f"不良事件报告 {case.case_id}"
    return CardReply(
        task_id=f"{case.case_id}-{'overdue-' if overdue else ''}{int(case.updated_at.timestamp())}",
        title=title,
        description=case.events[0].verbatim[:120] if case.events else case.sources[0].text[:120],
        fields=(
            ("Day 0", local_time(case.day0, timezone)),
            ("截止 Due", local_time(case.due_at, timezone)),
            ("类别 Categories", "、".join(CATEGORY_LABELS.get(c, c) for c in case.categories)),
            ("严重 Serious", _serious_label(case)),
            ("完整 Complete", "否 no" if case.incomplete else "是 yes"),
            *_media_field(case),
        ),
        buttons=(CardButton(key=f"{ACK_CLICK_PREFIX}{case.case_id}", text="确认收到 Acknowledge"),),
    )


# The PV card's words for the case categories (``cues.CATEGORIES``), Chinese and English.
CATEGORY_LABELS = {
    "adverse_event": "不良事件 adverse event",
    "pregnancy": "妊娠暴露 pregnancy",
    "lactation": "哺乳期暴露 lactation",
    "overdose": "过量 overdose",
    "abuse": "滥用 abuse",
    "misuse": "误用 misuse",
    "medication_error": "用药错误 medication error",
    "off_label": "超说明书用药 off-label use",
    "lack_of_efficacy": "疗效不佳 lack of efficacy",
    "occupational_exposure": "职业暴露 occupational exposure",
    "quality_complaint": "质量投诉 quality complaint",
    "interaction": "相互作用 interaction",
}


def _serious_label(case: AECase) -> str:
    """Yes, no (the doctor said none applies) or unknown (not asked or not known): never the
    no and the unknown in one answer."""
    if case.serious:
        return "是 yes"
    return "未知 unknown" if case.seriousness is None else "否 no"


def _media_field(case: AECase) -> tuple[tuple[str, str], ...]:
    """The voice notes, photos and files the case came with (media/), when there are any."""
    refs = [source.media for source in case.sources if source.media]
    return (("附件 Media", f"{len(refs)}: " + ", ".join(ref[:12] for ref in refs)),) if refs else ()


def ae_service(services: Services, detector: OfflineDetector | None = None) -> AEService:
    """The process's ``AEService`` for these services, created on first use."""
    existing = services.extras.get(SKILL)
    if isinstance(existing, AEService):
        return existing
    created = AEService(services, detector)
    services.extras[SKILL] = created
    return created
