"""Adverse-event cases: the model, and the store that persists them with an audit of every read.

A case is opened the moment a doctor's message is judged a report (day 0 = that message's
receipt time) and saved before anything else happens; every later change is saved before the
next question goes out. Storage layout (all without expiry, cases are regulatory records):

- ``ae:case:<id>``        the case data (patient initials/age/sex only, never names or IDs; every
                          free-text field masked on save; the doctor's messages are kept once,
                          masked, as the case's ``sources`` and read only through audited reads)
- ``ae:contact:<id>``     the reporter's contact and follow-up consent, kept apart from the case
- ``ae:delivery:<id>``    per-sink delivery state, written by the delivery worker only
- ``ae:ack:<id>``         PV's acknowledgement (who, when), written by PV only
- ``ae:by-message:<id>``  the case a message opened, so a redelivered message opens nothing new
- ``ae:cases``            the set of every case id

Case data, delivery state and acknowledgement live in separate documents because three parties
write them (the conversation under its lock, the delivery worker, PV) without a shared lock.

With the system of record open (``records``) every write also goes there, right after the
storage write: the case row, its delivery state and acknowledgement, and one lifecycle event
per change (created, form answers, submitted, queued, each delivery result, dead-lettered,
delivered, redelivery, acknowledged, exported), which the console and the audit read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from bot.audit import AuditLog
from bot.masking import mask_strings
from bot.models import Channel, ConversationMode
from bot.storage.base import Storage

if TYPE_CHECKING:
    from records import Records
    from records.results import CaseDetail, PvQueue, QueueFilter

CASES_SET = "ae:cases"


class CaseStatus(StrEnum):
    COLLECTING = "collecting"  # the guided report is still asking
    SUBMITTED = "submitted"  # handed to the delivery queue


class SubmitReason(StrEnum):
    CONFIRMED = "confirmed"  # the doctor confirmed the summary
    STOPPED = "stopped"  # the doctor stopped half-way
    IDLE = "idle"  # the form was abandoned and submitted by the scheduler
    HUMAN_MODE = "human_mode"  # reported while a human rep had the conversation: no form
    MENU = "menu"  # the doctor left the form for something else


class Asked(StrEnum):
    """How the form's question for one case step ended, kept per step on the case so PV can
    tell an empty field's "none" (answered) from "don't know" from "never asked"."""

    ANSWERED = "answered"  # read an answer (an empty field then means none)
    DONT_KNOW = "dont_know"  # the reporter said they do not know
    NO_ANSWER = "no_answer"  # asked twice, nothing readable came back
    NOT_ASKED = "not_asked"  # the form ended (stopped, idle, left, human mode) before it


# The form's steps whose answers are case content (consent and contact are the reporter's).
CASE_STEPS = ("event", "patient", "product", "onset", "seriousness", "outcome", "concomitant")


class Seriousness(StrEnum):
    """E2B E.i.3.2a–f."""

    DEATH = "death"
    LIFE_THREATENING = "life_threatening"
    HOSPITALISATION = "hospitalisation"
    DISABILITY = "disability"
    CONGENITAL_ANOMALY = "congenital_anomaly"
    OTHER_MEDICALLY_IMPORTANT = "other_medically_important"


class Outcome(IntEnum):
    """E2B E.i.7."""

    UNKNOWN = 0
    RECOVERED = 1
    RECOVERING = 2
    NOT_RECOVERED = 3
    RECOVERED_WITH_SEQUELAE = 4
    FATAL = 5


class SourceMessage(BaseModel):
    """A doctor's message that told something about the case (source data, masked)."""

    message_id: str
    received_at: datetime
    text: str  # verbatim, original language, names and ID numbers masked
    language: str
    media: str | None = None  # the stored voice note, image or file it was read from (media/)


class Patient(BaseModel):
    initials: str | None = None
    age: str | None = None  # as told ("45", "45岁", "60多岁")
    sex: str | None = None  # "male" | "female"

    @property
    def identifiable(self) -> bool:
        return bool(self.initials or self.age or self.sex)


class Product(BaseModel):
    name: str  # as reported, verbatim
    batch: str | None = None


class Event(BaseModel):
    verbatim: str  # original language
    language: str
    onset: str | None = None  # as told ("3天前", "yesterday")


class AECase(BaseModel):
    case_id: str
    status: CaseStatus = CaseStatus.COLLECTING
    day0: datetime  # receipt of the first message that mentioned the event
    due_at: datetime  # SLA: forwarded to and acknowledged by PV before this
    opened_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    submit_reason: SubmitReason | None = None
    incomplete: bool = False
    # Where it came from (the route is kept as source; the contact details are not here).
    doctor_id: str
    channel: Channel
    conversation_key: str
    mode: ConversationMode
    sources: list[SourceMessage] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    detection: dict[str, Any] = Field(default_factory=dict)  # scores, evidence, LLM verdict
    # Content (E2B D, E, G).
    patient: Patient = Field(default_factory=Patient)
    products: list[Product] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    seriousness: list[Seriousness] | None = None  # None = not known; [] = not serious
    outcome: Outcome | None = None
    concomitant: list[str] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)  # questions answered "don't know"
    # Per case step, how its question ended; missing on cases saved before it (read: unknown).
    asked: dict[str, Asked] = Field(default_factory=dict)
    known_effect_question: bool = False
    serious_escalated: bool = False

    @property
    def serious(self) -> bool:
        return bool(self.seriousness)

    @property
    def missing_criteria(self) -> list[str]:
        """Which of the patient/product/event minimum criteria are still missing.

        The reporter criterion is always met: the reporter is the doctor writing.
        """
        missing = []
        if not self.patient.identifiable:
            missing.append("patient")
        if not self.products:
            missing.append("product")
        if not self.events:
            missing.append("event")
        return missing

    def empty(self, step: str) -> bool:
        """True while the case holds nothing for ``step`` (one of ``CASE_STEPS``)."""
        return {
            "event": not self.events,
            "patient": not self.patient.identifiable,
            "product": not self.products,
            "onset": not self.events or self.events[0].onset is None,
            "seriousness": self.seriousness is None,
            "outcome": self.outcome is None,
            "concomitant": not self.concomitant,
        }[step]

    def record(self, step: str, how: Asked) -> None:
        """Keep how ``step``'s question ended (an answer that was "don't know" counts so)."""
        if step in CASE_STEPS:
            dont_know = how is Asked.ANSWERED and step in self.unknown
            self.asked[step] = Asked.DONT_KNOW if dont_know else how

    def close_steps(self) -> None:
        """At submission: every case step still empty whose question never ended was not asked
        (the form stopped, went idle or was left first, or a human had the conversation)."""
        for step in CASE_STEPS:
            if step not in self.asked and self.empty(step):
                self.asked[step] = Asked.NOT_ASKED

    def how_asked(self, step: str) -> Asked | None:
        """How ``step`` ended; ``None`` when not known (a case saved before ``asked`` existed
        that does not list the step as "don't know", or a step filled from the report)."""
        if step in self.asked:
            return self.asked[step]
        return Asked.DONT_KNOW if step in self.unknown else None

    @property
    def empty_fields(self) -> dict[str, str]:
        """Each empty case step and why (an ``Asked`` value, or "unknown") for exports."""
        return {
            step: (how.value if (how := self.how_asked(step)) else "unknown")
            for step in CASE_STEPS
            if self.empty(step)
        }

    @property
    def language(self) -> str:
        return self.sources[0].language if self.sources else "zh"

    def add_source(self, source: SourceMessage) -> bool:
        """Keep ``source`` once: a message both screened and answered in the form is one
        source. False when that message is kept already."""
        if any(kept.message_id == source.message_id for kept in self.sources):
            return False
        self.sources.append(source)
        return True


def masked(case: AECase) -> AECase:
    """A copy of ``case`` with every free-text field passed through the one masking function:
    source messages, events and onsets, products, concomitant medicines, detection evidence.
    Exports, the webhook and cards are built from this; identifiers (ids, keys) are kept."""
    return AECase.model_validate(mask_strings(case.model_dump(mode="json")))


class ReporterContact(BaseModel):
    """Who reported and how PV may reach them: stored apart from the case data."""

    case_id: str
    doctor_id: str
    name: str | None = None
    organisation: str | None = None
    consent_to_follow_up: bool | None = None
    preferred_contact: str | None = None


class DeliveryState(BaseModel):
    queued_at: datetime | None = None
    sinks: dict[str, datetime] = Field(default_factory=dict)  # sink name -> delivered at
    attempts: int = 0
    last_error: str | None = None
    dead_lettered_at: datetime | None = None
    delivered_at: datetime | None = None  # every configured sink done


class Acknowledgement(BaseModel):
    by: str
    at: datetime
    via: str  # "wecom" | "cli"


class CaseView(BaseModel):
    """A case with its delivery and acknowledgement, as PV tools show it."""

    case: AECase
    delivery: DeliveryState
    ack: Acknowledgement | None

    def overdue(self, now: datetime) -> bool:
        return self.ack is None and now >= self.case.due_at

    @classmethod
    def from_records(cls, detail: CaseDetail) -> CaseView:
        """The view of a case as the system of record holds it (its masked document, delivery
        state and acknowledgement), for the PV tools that read there."""
        summary = detail.summary
        ack = None
        if summary.acknowledged_at is not None:
            via = next(
                (str(e.detail.get("via", "")) for e in detail.events if e.kind == "acknowledged"),
                "",
            )
            by = summary.acknowledged_by or ""
            ack = Acknowledgement(by=by, at=summary.acknowledged_at, via=via)
        return cls(
            case=AECase.model_validate(detail.document),
            delivery=DeliveryState.model_validate(detail.delivery),
            ack=ack,
        )


class CaseStore:
    """Persists cases; every read of a case or contact is written to the audit trail."""

    def __init__(
        self,
        storage: Storage,
        audit: AuditLog,
        *,
        timezone: str,
        sla_h: int,
        records: Records | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._storage = storage
        self._audit = audit
        self._records = records
        self._clock = clock
        self._zone = ZoneInfo(timezone)
        self._sla = timedelta(hours=sla_h)

    # -- opening -------------------------------------------------------------------------------
    async def case_for_message(self, message_key: str) -> str | None:
        found = await self._storage.get_json(f"ae:by-message:{message_key}")
        return str(found) if found else None

    async def new_case_id(self, day0: datetime, message_key: str) -> str:
        """Allocate ``AE-<yyyymmdd>-<nnnn>`` (the date of day 0 in the company's time zone).

        The id is recorded against the message first, so a message redelivered after a crash
        finds its case id again instead of opening a second case.
        """
        day = day0.astimezone(self._zone).strftime("%Y%m%d")
        number = await self._storage.incr(f"ae:seq:{day}")
        case_id = f"AE-{day}-{number:04d}"
        await self._storage.set_json(f"ae:by-message:{message_key}", case_id)
        return case_id

    def due_at(self, day0: datetime) -> datetime:
        return day0 + self._sla

    # -- writing -------------------------------------------------------------------------------
    async def save(self, case: AECase) -> None:
        """Persist the case, its free text masked (whatever path the text came in by)."""
        document = masked(case).model_dump(mode="json")
        await self._storage.set_json(f"ae:case:{case.case_id}", document)
        await self._storage.set_add(CASES_SET, case.case_id)
        if self._records is not None:
            from records import CaseSnapshot

            await self._records.save_case(CaseSnapshot.from_document(document))

    async def save_contact(self, contact: ReporterContact) -> None:
        await self._storage.set_json(
            f"ae:contact:{contact.case_id}", contact.model_dump(mode="json")
        )

    async def save_delivery(self, case_id: str, state: DeliveryState) -> None:
        document = state.model_dump(mode="json")
        await self._storage.set_json(f"ae:delivery:{case_id}", document)
        if self._records is not None:
            from records import DeliverySnapshot

            await self._records.save_delivery(
                case_id, DeliverySnapshot.from_document(document), self._clock()
            )

    async def reset_delivery(self, case_id: str, *, by: str, at: datetime) -> None:
        """Clear the attempt count and dead-letter mark (sinks already done stay done); audited."""
        state = await self.delivery(case_id)
        await self._audit.record(
            "ae_delivery_reset",
            at,
            case_id=case_id,
            by=by,
            attempts=state.attempts,
            last_error=state.last_error,
            dead_lettered=state.dead_lettered_at is not None,
        )
        state.attempts = 0
        state.dead_lettered_at = None
        await self.save_delivery(case_id, state)
        if self._records is not None:
            await self._records.case_event(case_id, "redelivery", at, actor=by)

    async def acknowledge(self, case_id: str, by: str, at: datetime, via: str) -> Acknowledgement:
        """Record PV's acknowledgement; the first one stands (a second click changes nothing)."""
        key = f"ae:ack:{case_id}"
        existing = await self._storage.get_json(key)
        if existing is not None:
            return Acknowledgement.model_validate(existing)
        ack = Acknowledgement(by=by, at=at, via=via)
        await self._storage.set_json(key, ack.model_dump(mode="json"))
        if self._records is not None:
            await self._records.acknowledge_case(case_id, by=by, at=at, via=via)
        await self._audit.record("ae_case_ack", at, case_id=case_id, by=by, via=via)
        return ack

    async def exported(self, case_id: str, *, by: str, at: datetime, form: str) -> None:
        """Record that ``by`` took the case out of the system (an E2B or JSON export)."""
        await self._audit.record("ae_case_export", at, case_id=case_id, by=by, format=form)
        if self._records is not None:
            await self._records.case_event(case_id, "exported", at, actor=by, format=form)

    # -- reading (audited) -----------------------------------------------------------------------
    async def read(self, case_id: str, *, reader: str, purpose: str, at: datetime) -> AECase | None:
        raw = await self._storage.get_json(f"ae:case:{case_id}")
        await self._audit.record(
            "ae_case_read", at, case_id=case_id, reader=reader, purpose=purpose, found=bool(raw)
        )
        return AECase.model_validate(raw) if raw is not None else None

    async def read_contact(
        self, case_id: str, *, reader: str, purpose: str, at: datetime
    ) -> ReporterContact | None:
        raw = await self._storage.get_json(f"ae:contact:{case_id}")
        await self._audit.record(
            "ae_contact_read", at, case_id=case_id, reader=reader, purpose=purpose, found=bool(raw)
        )
        return ReporterContact.model_validate(raw) if raw is not None else None

    async def delivery(self, case_id: str) -> DeliveryState:
        raw = await self._storage.get_json(f"ae:delivery:{case_id}")
        return DeliveryState.model_validate(raw) if raw is not None else DeliveryState()

    async def ack_of(self, case_id: str) -> Acknowledgement | None:
        raw = await self._storage.get_json(f"ae:ack:{case_id}")
        return Acknowledgement.model_validate(raw) if raw is not None else None

    async def case_ids(self) -> list[str]:
        return sorted(await self._storage.set_members(CASES_SET))


async def read_queue(
    records: Records,
    audit: AuditLog,
    wanted: QueueFilter,
    *,
    now: datetime,
    offset: int,
    limit: int,
    reader: str,
    purpose: str,
) -> PvQueue:
    """One page of the PV queue from the system of record; the listing is a read of the
    cases shown (ids, products, seriousness), so it is audited once with their ids."""
    found = await records.pv_queue(wanted, now=now, offset=offset, limit=limit)
    await audit.record(
        "ae_queue_read",
        now,
        reader=reader,
        purpose=purpose,
        filter={"state": wanted.state, "serious": wanted.serious, "product": wanted.product},
        case_ids=[entry.summary.case_id for entry in found.page.items],
    )
    return found
