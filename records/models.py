"""The relational schema of the system of record (SQLAlchemy 2, typed ``Mapped`` columns).

One ``DeclarativeBase`` whose ``MetaData`` names every constraint and index, so SQLite's
batch migrations (copy-and-move) can find them again by name. Times are stored as UTC and
always come back timezone-aware (``UTCDateTime``), on SQLite as on PostgreSQL.

Every table that retention may prune has ``last_event_at``: the clock of its retention
period starts there (a PV case is kept ten years after its last event, not its first).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the system of record keeps aware times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class AuditEntry(Base):
    """One record of the compliance audit trail, chained to the one before it.

    ``digest`` is the SHA-256 of the canonical payload, ``hash`` the SHA-256 of the previous
    entry's hash with this entry's position, time, kind and digest (``records.chain``).
    Retention may blank ``payload`` (``redacted_at``) but never the digest or hash, so the
    chain still verifies after lawful removal; any other change breaks it.
    """

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    doctor_id: Mapped[str | None] = mapped_column(String(128), index=True)
    case_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    source_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    redacted_at: Mapped[datetime | None]


class AECaseRecord(Base):
    """An adverse-event case: searchable columns plus the masked case document."""

    __tablename__ = "ae_cases"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    doctor_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    day0: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    opened_at: Mapped[datetime] = mapped_column(index=True)
    submitted_at: Mapped[datetime | None]
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    incomplete: Mapped[bool] = mapped_column(Boolean, default=False)
    products: Mapped[str] = mapped_column(Text, default="")  # names, "; "-joined, for filters
    categories: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None]
    dead_lettered_at: Mapped[datetime | None]
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivery: Mapped[dict[str, Any]]  # per-sink state as the delivery worker last wrote it
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    document: Mapped[dict[str, Any]]
    last_event_at: Mapped[datetime] = mapped_column(index=True)

    events: Mapped[list[AECaseEvent]] = relationship(
        back_populates="case", lazy="raise_on_sql", cascade="all, delete-orphan"
    )


class AECaseEvent(Base):
    """One step of a case's life: created, form_answer, submitted, delivery_attempt,
    delivered, delivery_failed, dead_lettered, acknowledged, redelivery, exported."""

    __tablename__ = "ae_case_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[str] = mapped_column(
        ForeignKey("ae_cases.case_id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]]

    case: Mapped[AECaseRecord] = relationship(back_populates="events", lazy="raise_on_sql")


class MIRequestRecord(Base):
    """A medical-information request and its handling."""

    __tablename__ = "mi_requests"

    mi_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    doctor_id: Mapped[str] = mapped_column(String(128), index=True)
    question: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    respond_by: Mapped[datetime] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(128))
    assigned_to: Mapped[str | None] = mapped_column(String(128))
    resolution: Mapped[str] = mapped_column(Text, default="")
    document: Mapped[dict[str, Any]]
    last_event_at: Mapped[datetime] = mapped_column(index=True)


class ConsentRecord(Base):
    """A consent given or withdrawn (who, for what purpose, which notice version, how)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    subject_id: Mapped[str] = mapped_column(String(128), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    granted: Mapped[bool] = mapped_column(Boolean)
    notice_version: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    last_event_at: Mapped[datetime] = mapped_column(index=True)


class HCPVerification(Base):
    """One step of a doctor's verification as a healthcare professional."""

    __tablename__ = "hcp_verifications"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    doctor_id: Mapped[str] = mapped_column(String(128), index=True)
    event: Mapped[str] = mapped_column(String(32))  # requested | approved | declined | ...
    by: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]]
    last_event_at: Mapped[datetime] = mapped_column(index=True)


class MeetingRegistration(Base):
    """A doctor's registration for a meeting: its current status and the step that set it."""

    __tablename__ = "meeting_registrations"
    __table_args__ = (UniqueConstraint("meeting_id", "doctor_id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    meeting_id: Mapped[str] = mapped_column(String(128), index=True)
    doctor_id: Mapped[str] = mapped_column(String(128), index=True)
    compliance_code: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))  # the last meeting_* kind seen
    registered_at: Mapped[datetime | None]
    # The meeting funnel: when the doctor first reached each step (None: not reached).
    invited_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    attended_at: Mapped[datetime | None]  # the follow-up after the meeting went out
    feedback_at: Mapped[datetime | None]
    feedback_score: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]]
    last_event_at: Mapped[datetime] = mapped_column(index=True)


class DoctorMessage(Base):
    """A doctor's message as analytics needs it, projected from its ``message`` audit record.

    The audit record keeps the transcript (masked) in a JSON payload no database can group
    by; this row keeps the few columns the console's charts filter and count on: when, whose
    doctor (``rep_id``: the doctor's assigned rep then, for team and rep filters), which
    product and topic, and whether approved content answered. ``question`` is kept only for
    a content gap (the masked text Medical Affairs needs); retention removes these rows with
    the transcripts.
    """

    __tablename__ = "doctor_messages"
    # Covering indexes: the weekly figures read the index alone (a period, or a team's reps
    # over a period), never the rows with their question text.
    __table_args__ = (
        Index("ix_doctor_messages_period", "at", "rep_id", "topic", "product", "answered", "gap"),
        Index("ix_doctor_messages_team", "rep_id", "at", "topic", "product", "answered", "gap"),
        # Content gaps (about one message in eight) read their own small index, with the
        # question text, instead of the period's every message and then the table.
        Index(
            "ix_doctor_messages_gaps",
            "at",
            "question",
            "topic",
            "rep_id",
            "product",
            "gap",  # SQLite reads a partial index alone only when it holds its condition's column
            sqlite_where=text("gap = 1"),
            postgresql_where=text("gap"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime]
    doctor_id: Mapped[str] = mapped_column(String(128), index=True)
    rep_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    skill: Mapped[str | None] = mapped_column(String(64))
    intent: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str | None] = mapped_column(String(64))
    product: Mapped[str | None] = mapped_column(String(128))
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    gap: Mapped[bool] = mapped_column(Boolean, default=False)
    question: Mapped[str | None] = mapped_column(Text)
    last_event_at: Mapped[datetime] = mapped_column(index=True)


class DocumentUse(Base):
    """One approved document cited in an answer (the console's "used most")."""

    __tablename__ = "document_uses"
    __table_args__ = (  # covering, as for doctor_messages
        Index("ix_document_uses_period", "at", "rep_id", "product", "doc_id", "approval_code"),
        Index("ix_document_uses_team", "rep_id", "at", "product", "doc_id", "approval_code"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime]
    doc_id: Mapped[str] = mapped_column(String(256))
    approval_code: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(64))
    rep_id: Mapped[str | None] = mapped_column(String(128))
    product: Mapped[str | None] = mapped_column(String(128))
    last_event_at: Mapped[datetime] = mapped_column(index=True)


class DoctorRep(Base):
    """The rep a doctor was last assigned to (as the bot saw it on their last message): the
    team and rep filters of AE, MI and meeting analytics go through it."""

    __tablename__ = "doctor_reps"

    doctor_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    rep_id: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime]


class HandoffRecord(Base):
    """A handoff to a human and how fast it was taken, projected from its ``handoff`` audit
    records (requested, offered, declined, sla_breached, taken_over, closed)."""

    __tablename__ = "handoff_records"

    handoff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    doctor_id: Mapped[str] = mapped_column(String(128), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(32))  # the last event
    declined: Mapped[int] = mapped_column(Integer, default=0)
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    taken_by: Mapped[str | None] = mapped_column(String(128), index=True)
    taken_at: Mapped[datetime | None]
    waited_s: Mapped[float | None] = mapped_column(Float)
    closed_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime] = mapped_column(index=True)


class HandoffDecline(Base):
    """A rep declining a handoff offered to them (the managers' page counts them per rep)."""

    __tablename__ = "handoff_declines"
    __table_args__ = (Index("ix_handoff_declines_period", "at", "rep_id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    handoff_id: Mapped[str] = mapped_column(String(64), index=True)
    rep_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
