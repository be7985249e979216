"""Typed values that cross the records seam: what writers hand in, what readers get back.

Frozen dataclasses, so the console and the CLI never hold ORM rows (nor lazy loads) outside
the transaction that read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _required_time(document: dict[str, Any], name: str) -> datetime:
    found = _time(document.get(name))
    if found is None:
        raise ValueError(f"{name} is missing")
    return found


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list read on the database (``total`` counts every match)."""

    items: list[T]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class AuditQuery:
    """Which audit records: a time range (``end`` excluded), a doctor, a case, a kind."""

    start: datetime | None = None
    end: datetime | None = None
    doctor_id: str | None = None
    case_id: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    kind: str
    doctor_id: str | None
    case_id: str | None
    actor: str | None
    payload: dict[str, Any] | None  # None once retention removed it
    hash: str
    prev_hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "doctor_id": self.doctor_id,
            "case_id": self.case_id,
            "actor": self.actor,
            "payload": self.payload,
            "hash": self.hash,
            "prev_hash": self.prev_hash,
        }


@dataclass(frozen=True)
class CaseSnapshot:
    """An adverse-event case as its writer holds it (``document`` is the masked case)."""

    case_id: str
    status: str
    doctor_id: str
    channel: str
    day0: datetime
    due_at: datetime
    opened_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    serious: bool
    incomplete: bool
    products: tuple[str, ...]
    categories: tuple[str, ...]
    document: dict[str, Any]

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> CaseSnapshot:
        """From the AE skill's case in JSON form (``AECase.model_dump(mode="json")``, masked)."""
        return cls(
            case_id=str(document["case_id"]),
            status=str(document.get("status", "collecting")),
            doctor_id=str(document.get("doctor_id", "")),
            channel=str(document.get("channel", "")),
            day0=_required_time(document, "day0"),
            due_at=_required_time(document, "due_at"),
            opened_at=_required_time(document, "opened_at"),
            updated_at=_required_time(document, "updated_at"),
            submitted_at=_time(document.get("submitted_at")),
            serious=bool(document.get("seriousness")),
            incomplete=bool(document.get("incomplete")),
            products=tuple(str(p.get("name", "")) for p in document.get("products") or ()),
            categories=tuple(str(c) for c in document.get("categories") or ()),
            document=document,
        )


@dataclass(frozen=True)
class DeliverySnapshot:
    """A case's delivery state as the delivery worker last wrote it."""

    queued_at: datetime | None
    sinks: dict[str, datetime]
    attempts: int
    last_error: str | None
    dead_lettered_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> DeliverySnapshot:
        """From the AE skill's ``DeliveryState`` in JSON form."""
        sinks = {name: _time(at) for name, at in (document.get("sinks") or {}).items()}
        return cls(
            queued_at=_time(document.get("queued_at")),
            sinks={name: at for name, at in sinks.items() if at is not None},
            attempts=int(document.get("attempts") or 0),
            last_error=document.get("last_error"),
            dead_lettered_at=_time(document.get("dead_lettered_at")),
            delivered_at=_time(document.get("delivered_at")),
        )


@dataclass(frozen=True)
class CaseEventRecord:
    case_id: str
    at: datetime
    kind: str
    actor: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class CaseSummary:
    """A case as a queue lists it (the document stays in ``CaseDetail``)."""

    case_id: str
    status: str
    doctor_id: str
    day0: datetime
    due_at: datetime
    serious: bool
    incomplete: bool
    products: str
    categories: str
    delivered_at: datetime | None
    dead_lettered_at: datetime | None
    delivery_attempts: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None

    def overdue(self, now: datetime) -> bool:
        return self.acknowledged_at is None and now >= self.due_at


@dataclass(frozen=True)
class CaseQuery:
    """Which cases a queue shows; ``overdue_at`` (now) keeps the unacknowledged past due."""

    status: str | None = None
    overdue_at: datetime | None = None
    unacknowledged: bool = False
    dead_lettered: bool = False
    doctor_id: str | None = None


class CaseState(StrEnum):
    """Where a case stands for PV (the queue's filter), most urgent first: the order of the
    members is the queue's order (``records.repositories.cases.state_of`` decides it in SQL)."""

    DEAD = "dead"  # delivery gave up: needs a redelivery once the sink is fixed
    OVERDUE = "overdue"  # not acknowledged by its due time (day 0 + SLA)
    AWAITING = "awaiting"  # delivered, waiting for PV's acknowledgement
    NEW = "new"  # still being collected or on its way to the sinks
    ACKED = "acked"  # acknowledged by PV


@dataclass(frozen=True)
class QueueFilter:
    """The PV queue's filters: one state, serious cases only, a product name (a part of it,
    any case)."""

    state: CaseState | None = None
    serious: bool = False
    product: str = ""


@dataclass(frozen=True)
class QueueEntry:
    summary: CaseSummary
    state: CaseState


@dataclass(frozen=True)
class PvQueue:
    """One page of the PV queue and how many cases stand in each state (before filtering)."""

    page: Page[QueueEntry]
    counts: dict[CaseState, int]

    @property
    def all_cases(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class CaseDetail:
    summary: CaseSummary
    document: dict[str, Any]
    delivery: dict[str, Any]
    events: list[CaseEventRecord] = field(default_factory=list)


@dataclass(frozen=True)
class MISnapshot:
    mi_id: str
    status: str
    doctor_id: str
    question: str
    created_at: datetime
    respond_by: datetime
    closed_at: datetime | None
    closed_by: str | None
    resolution: str
    document: dict[str, Any]

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> MISnapshot:
        """From the Q&A skill's ``MIRequest`` in JSON form."""
        return cls(
            mi_id=str(document["mi_id"]),
            status=str(document.get("status", "open")),
            doctor_id=str(document.get("doctor_id", "")),
            question=str(document.get("question", "")),
            created_at=_required_time(document, "created_at"),
            respond_by=_required_time(document, "respond_by"),
            closed_at=_time(document.get("closed_at")),
            closed_by=document.get("closed_by"),
            resolution=str(document.get("resolution") or ""),
            document=document,
        )


@dataclass(frozen=True)
class MIRecord:
    mi_id: str
    status: str
    doctor_id: str
    question: str
    created_at: datetime
    respond_by: datetime
    closed_at: datetime | None
    closed_by: str | None
    assigned_to: str | None
    resolution: str
    profile: dict[str, Any] = field(default_factory=dict)  # the doctor as asked (name, hospital)


@dataclass(frozen=True)
class ConsentEntry:
    subject_id: str
    purpose: str
    granted: bool
    notice_version: str | None
    via: str | None
    at: datetime


@dataclass(frozen=True)
class VerificationEntry:
    doctor_id: str
    event: str
    by: str | None
    at: datetime


@dataclass(frozen=True)
class RegistrationEntry:
    meeting_id: str
    doctor_id: str
    compliance_code: str | None
    status: str
    registered_at: datetime | None
    last_event_at: datetime


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.current == self.head


@dataclass(frozen=True)
class RetentionReport:
    """What one retention run removed, per record kind (ids kept for the audit record), and
    how many analytics rows it pruned with them (``pruned``: counts, the rows have no names)."""

    removed: dict[str, list[str]]
    redacted_audit: int
    pruned: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        removed = sum(len(ids) for ids in self.removed.values())
        return removed + self.redacted_audit + sum(self.pruned.values())
