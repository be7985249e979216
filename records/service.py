"""The records service: one transaction per use case over the repositories.

``Records`` is what the rest of the bot holds (``Services.records``, ``RECORDS`` app key). Its
writers are called by the existing stores (audit log, AE case store, MI store) right after
they change the shared state; its readers serve the CLI and the console with typed results.

The audit trail is also the event log of the smaller registries: an audit record of an HCP
verification, a meeting step or a consent is projected into its table in the same
transaction, so the registry and its audit can never disagree.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from records import analytics
from records.analytics import AnalyticsQuery, AnalyticsReport, HandoffFigures
from records.chain import RETENTION_KIND, ChainCheck, canonical_json, verify
from records.database import unavailable_as_storage_error
from records.models import (
    AECaseRecord,
    AuditEntry,
    ConsentRecord,
    DoctorMessage,
    DocumentUse,
    HandoffRecord,
    HCPVerification,
    MeetingRegistration,
    MIRequestRecord,
)
from records.repositories import (
    ActivityRepository,
    AuditRepository,
    CaseRepository,
    MIRepository,
    PeopleRepository,
)
from records.repositories.audit import to_record
from records.repositories.cases import to_event, to_summary
from records.repositories.mi import to_mi
from records.results import (
    AuditQuery,
    AuditRecord,
    CaseDetail,
    CaseQuery,
    CaseSnapshot,
    CaseSummary,
    ConsentEntry,
    DeliverySnapshot,
    MIRecord,
    MISnapshot,
    Page,
    PvQueue,
    QueueEntry,
    QueueFilter,
    RegistrationEntry,
    RetentionReport,
    VerificationEntry,
)
from records.retention import RetentionPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")

APPEND_RETRIES = 8
VERIFY_BATCH = 2000
_DOCTOR_FIELDS = ("doctor_id", "doctor", "subject_id", "subject")
_ACTOR_FIELDS = ("by", "reader", "operator", "actor")
SUBMITTED_BY_A_MESSAGE = frozenset({"confirmed", "stopped", "menu"})
"""The AE case's ``submit_reason`` values that mean the doctor's message submitted it."""


def _first(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = fields.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _case_of(fields: dict[str, Any]) -> str | None:
    case_id = fields.get("case_id")
    if isinstance(case_id, str) and case_id:
        return case_id
    reference = fields.get("reference")
    return reference if isinstance(reference, str) and reference.startswith("AE-") else None


def _doctor_of(kind: str, fields: dict[str, Any]) -> str | None:
    found = _first(fields, _DOCTOR_FIELDS)
    if found is None and kind == "message":
        found = _first(fields, ("sender",))  # a doctor's (or rep's) own message
    return found


def _funnel_step(
    row: MeetingRegistration, kind: str, at: datetime, payload: dict[str, Any]
) -> None:
    """The first time the doctor reached a step of the meeting funnel (invited, reminded,
    attended = the follow-up after the meeting went out, gave feedback)."""
    if kind == "meeting_invitation" and payload.get("sent") and row.invited_at is None:
        row.invited_at = at
    elif kind == "meeting_reminder":
        if payload.get("reminder") == "followup":
            row.attended_at = row.attended_at or at
        else:
            row.reminded_at = row.reminded_at or at
    elif kind == "meeting_feedback":
        row.feedback_at = row.feedback_at or at
        score = payload.get("score")
        row.feedback_score = score if isinstance(score, int) else row.feedback_score


def _json_times(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Records:
    """The system of record over one async engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._append_lock = asyncio.Lock()  # one append at a time per process (fewer retries)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction; a database that cannot be reached raises ``RecordsUnavailable``
        (a ``StorageError``), so workers wait out a database outage like a Redis one."""
        with unavailable_as_storage_error():
            async with self._sessions.begin() as session:
                yield session

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        with unavailable_as_storage_error():
            async with self._sessions() as session:
                yield session

    def session(self) -> AsyncSession:
        """A session for a caller that composes its own read (the console's analytics)."""
        return self._sessions()

    # -- audit trail ------------------------------------------------------------------------------
    async def append_audit(
        self, kind: str, at: datetime, fields: dict[str, Any], *, source_id: str | None = None
    ) -> AuditRecord | None:
        """Append one record at the head of the chain (and project it, see the module doc).

        Two writers that take the same position collide on its primary key: the loser reads
        the new head and tries again. ``source_id`` makes an import idempotent: a record
        already imported from that source is not appended twice (None is returned).
        """
        payload: dict[str, Any] = json.loads(canonical_json(fields))

        async def append(session: AsyncSession) -> AuditRecord | None:
            if source_id is not None and await AuditRepository(session).has_source(source_id):
                return None
            return to_record(await self._append(session, kind, at, payload, source_id))

        return await self._at_head(append)

    async def _at_head(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` (which appends to the chain) in one transaction, again if another
        writer took the head position first (its primary key collides on flush or commit)."""
        async with self._append_lock:
            for attempt in range(APPEND_RETRIES):
                try:
                    async with self._transaction() as session:
                        result = await work(session)
                    return result
                except (IntegrityError, OperationalError):
                    if attempt == APPEND_RETRIES - 1:
                        raise
                    await asyncio.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _append(
        self,
        session: AsyncSession,
        kind: str,
        at: datetime,
        payload: dict[str, Any],
        source_id: str | None = None,
    ) -> AuditEntry:
        """Append and project inside the caller's transaction (under ``_append_lock``)."""
        entry = await AuditRepository(session).append(
            at=at,
            kind=kind,
            payload=payload,
            doctor_id=_doctor_of(kind, payload),
            case_id=_case_of(payload),
            actor=_first(payload, _ACTOR_FIELDS),
            source_id=source_id,
        )
        await self._project(PeopleRepository(session), kind, at, payload)
        activity = ActivityRepository(session)
        doctor_said = "audit_rep" in (payload.get("annotations") or {})
        if kind == "message" and doctor_said and payload.get("inbound_kind") != "event":
            await activity.add_message(at, payload)
        elif kind == "handoff":
            await activity.add_handoff_event(at, payload)
        return entry

    async def _project(
        self, people: PeopleRepository, kind: str, at: datetime, payload: dict[str, Any]
    ) -> None:
        doctor = _doctor_of(kind, payload)
        if kind == "hcp_verification" and doctor:
            people.add_verification(
                HCPVerification(
                    doctor_id=doctor,
                    event=str(payload.get("event", "")),
                    by=payload.get("by"),
                    at=at,
                    detail=payload,
                    last_event_at=at,
                )
            )
        elif kind == "consent" and doctor:
            people.add_consent(
                ConsentRecord(
                    subject_id=doctor,
                    purpose=str(payload.get("purpose", "")),
                    granted=bool(payload.get("granted")),
                    notice_version=payload.get("notice_version"),
                    via=payload.get("via"),
                    at=at,
                    last_event_at=at,
                )
            )
        elif kind.startswith("meeting_") and doctor and payload.get("meeting"):
            meeting = str(payload["meeting"])
            row = await people.registration(meeting, doctor)
            if row is None:
                row = MeetingRegistration(meeting_id=meeting, doctor_id=doctor, detail={})
                people.add_registration(row)
            row.compliance_code = payload.get("compliance_code") or row.compliance_code
            row.status = kind.removeprefix("meeting_")
            if kind == "meeting_registration" and row.registered_at is None:
                row.registered_at = at
            _funnel_step(row, kind, at, payload)
            row.detail = {**row.detail, row.status: payload}
            row.last_event_at = at

    async def verify_audit(self) -> ChainCheck:
        """Check the whole chain, in batches (see ``records.chain``)."""
        links = []
        after = 0
        async with self._reading() as session:
            audit = AuditRepository(session)
            while batch := await audit.links(after, VERIFY_BATCH):
                links.extend(batch)
                after = batch[-1].seq
        return verify(links)

    async def audit_entries(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        doctor_id: str | None = None,
        case_id: str | None = None,
        kind: str | None = None,
    ) -> AsyncIterator[AuditRecord]:
        """Every matching record in chain order, read in batches (for exports)."""
        query = AuditQuery(start, end, doctor_id, case_id, kind)
        after = 0
        while True:
            async with self._reading() as session:
                rows = await AuditRepository(session).find(
                    query, after_seq=after, limit=VERIFY_BATCH
                )
            if not rows:
                return
            for row in rows:
                yield to_record(row)
            after = rows[-1].seq

    async def case_audit(
        self, case_id: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> AsyncIterator[AuditRecord]:
        """The audit of one case with its conversation transcript, in chain order: the records
        that name the case, and the ``message`` records (the doctor's messages and the bot's
        replies, masked as the audit keeps them) of the case's conversation from day 0 to its
        submission (to now while it is still collected); within ``start``/``end`` if given.

        A message is audited once it is handled, so the one that submitted the case (the
        doctor's confirmation or "stop") is recorded at or just after ``submitted_at``: the
        first message from then on belongs to the case too, unless no message submitted it.
        """
        async with self._reading() as session:
            row = await CaseRepository(session).get(case_id)
        found: dict[int, AuditRecord] = {}
        if row is not None:
            conversation = row.document.get("conversation_key")
            closing = row.document.get("submit_reason") in SUBMITTED_BY_A_MESSAGE
            said = self.audit_entries(
                start=max(row.day0, start) if start else row.day0,
                end=end,
                doctor_id=row.doctor_id,
                kind="message",
            )
            async for record in said:
                if not record.payload or record.payload.get("conversation") != conversation:
                    continue
                if row.submitted_at is not None and record.at >= row.submitted_at:
                    if not closing:
                        break
                    closing = False
                found[record.seq] = record
        async for record in self.audit_entries(start=start, end=end, case_id=case_id):
            found[record.seq] = record
        for seq in sorted(found):
            yield found[seq]

    async def search_audit(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        doctor_id: str | None = None,
        case_id: str | None = None,
        kind: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page[AuditRecord]:
        """One page of matching records (paginated on the database)."""
        query = AuditQuery(start, end, doctor_id, case_id, kind)
        async with self._reading() as session:
            audit = AuditRepository(session)
            rows = await audit.find(query, offset=offset, limit=limit)
            total = await audit.count(query)
        return Page([to_record(row) for row in rows], total, offset, limit)

    # -- adverse-event cases ----------------------------------------------------------------------
    async def save_case(self, case: CaseSnapshot, *, actor: str | None = None) -> str | None:
        """Insert or update a case and record what happened to it; returns the event kind
        (created, form_answer, submitted, updated) or None when nothing changed."""
        async with self._transaction() as session:
            cases = CaseRepository(session)
            row = await cases.get(case.case_id)
            detail: dict[str, Any] = {}
            if row is None:
                row = AECaseRecord(
                    case_id=case.case_id,
                    delivery={},
                    delivery_attempts=0,
                    document={},
                )
                cases.add(row)
                kind = "created"
            else:
                changed = sorted(
                    key
                    for key in set(row.document) | set(case.document)
                    if key != "updated_at" and row.document.get(key) != case.document.get(key)
                )
                if not changed:
                    return None
                detail = {"changed": changed}
                if case.status == "submitted" and row.status != "submitted":
                    kind = "submitted"
                    detail["reason"] = case.document.get("submit_reason")
                else:
                    kind = "form_answer" if case.status == "collecting" else "updated"
            row.status = case.status
            row.doctor_id = case.doctor_id
            row.channel = case.channel
            row.day0 = case.day0
            row.due_at = case.due_at
            row.opened_at = case.opened_at
            row.submitted_at = case.submitted_at
            row.serious = case.serious
            row.incomplete = case.incomplete
            row.products = "; ".join(case.products)
            row.categories = "; ".join(case.categories)
            row.document = case.document
            row.last_event_at = case.updated_at
            cases.add_event(case.case_id, kind, case.updated_at, actor, detail)
        return kind

    async def save_delivery(self, case_id: str, state: DeliverySnapshot, at: datetime) -> list[str]:
        """Record the delivery state and one event per change (queued, delivered to a sink,
        failed attempt, dead-lettered, delivered, reset); returns the event kinds."""
        async with self._transaction() as session:
            cases = CaseRepository(session)
            row = await cases.get(case_id)
            if row is None:
                log.warning("delivery of a case not in the records", extra={"case_id": case_id})
                return []
            before = row.delivery
            events: list[tuple[str, dict[str, Any]]] = []
            queued = _json_times(state.queued_at)
            if queued and queued != before.get("queued_at"):
                events.append(("queued", {}))
            for sink in sorted(set(state.sinks) - set(before.get("sinks", {}))):
                events.append(("delivered_to_sink", {"sink": sink}))
            if state.attempts > int(before.get("attempts", 0)):
                events.append(
                    ("delivery_failed", {"attempt": state.attempts, "error": state.last_error})
                )
            if state.dead_lettered_at and not before.get("dead_lettered_at"):
                events.append(("dead_lettered", {"attempts": state.attempts}))
            if state.delivered_at and not before.get("delivered_at"):
                events.append(("delivered", {"sinks": sorted(state.sinks)}))
            row.delivery = {
                "queued_at": queued,
                "sinks": {name: done.isoformat() for name, done in state.sinks.items()},
                "attempts": state.attempts,
                "last_error": state.last_error,
                "dead_lettered_at": _json_times(state.dead_lettered_at),
                "delivered_at": _json_times(state.delivered_at),
            }
            row.delivery_attempts = state.attempts
            row.delivered_at = state.delivered_at
            row.dead_lettered_at = state.dead_lettered_at
            for kind, detail in events:
                cases.add_event(case_id, kind, at, None, detail)
            if events:
                row.last_event_at = max(row.last_event_at, at)
        return [kind for kind, _ in events]

    async def case_event(
        self, case_id: str, kind: str, at: datetime, *, actor: str | None, **detail: Any
    ) -> bool:
        """Record an event that changes no column (redelivery asked, export downloaded);
        False when the case is not in the records."""
        async with self._transaction() as session:
            cases = CaseRepository(session)
            row = await cases.get(case_id)
            if row is None:
                return False
            cases.add_event(case_id, kind, at, actor, json.loads(canonical_json(detail)))
            row.last_event_at = max(row.last_event_at, at)
        return True

    async def acknowledge_case(self, case_id: str, *, by: str, at: datetime, via: str) -> bool:
        """Record PV's first acknowledgement; False when unknown or acknowledged already."""
        async with self._transaction() as session:
            cases = CaseRepository(session)
            row = await cases.get(case_id)
            if row is None or row.acknowledged_at is not None:
                return False
            row.acknowledged_at = at
            row.acknowledged_by = by
            row.last_event_at = max(row.last_event_at, at)
            cases.add_event(case_id, "acknowledged", at, by, {"via": via})
        return True

    async def case_queue(
        self, query: CaseQuery | None = None, *, offset: int = 0, limit: int = 50
    ) -> Page[CaseSummary]:
        """Cases for the PV queue, earliest due first."""
        async with self._reading() as session:
            rows, total = await CaseRepository(session).queue(
                query or CaseQuery(), offset=offset, limit=limit
            )
        return Page([to_summary(row) for row in rows], total, offset, limit)

    async def pv_queue(
        self, wanted: QueueFilter, *, now: datetime, offset: int = 0, limit: int = 25
    ) -> PvQueue:
        """The PV queue at ``now`` (states, filters, order and paging on the database), with
        the count of every state; one read, so the counts and the page agree."""
        async with self._reading() as session:
            cases = CaseRepository(session)
            rows, total = await cases.pv_queue(wanted, now, offset=offset, limit=limit)
            counts = await cases.state_counts(now)
        entries = [QueueEntry(to_summary(row), state) for row, state in rows]
        return PvQueue(Page(entries, total, offset, limit), counts)

    async def read_case(
        self, case_id: str, *, reader: str, purpose: str, at: datetime
    ) -> CaseDetail | None:
        """A case for a person to see: the read is audited (``ae_case_read``, as the case
        store's reads are) in the same transaction, also when there is no such case."""

        async def read(session: AsyncSession) -> CaseDetail | None:
            detail = await self._detail(CaseRepository(session), case_id)
            fields = {"case_id": case_id, "reader": reader, "purpose": purpose}
            await self._append(session, "ae_case_read", at, fields | {"found": bool(detail)})
            return detail

        return await self._at_head(read)

    @staticmethod
    async def _detail(cases: CaseRepository, case_id: str) -> CaseDetail | None:
        row = await cases.get(case_id)
        if row is None:
            return None
        events = [to_event(event) for event in await cases.events_of(case_id)]
        return CaseDetail(to_summary(row), row.document, row.delivery, events)

    async def case_detail(self, case_id: str) -> CaseDetail | None:
        """A case with its document, delivery state and events (not audited here: the
        caller audits the read with its reader and purpose)."""
        async with self._reading() as session:
            return await self._detail(CaseRepository(session), case_id)

    # -- medical information --------------------------------------------------------------------
    async def save_mi(self, request: MISnapshot, at: datetime) -> None:
        async with self._transaction() as session:
            requests = MIRepository(session)
            row = await requests.get(request.mi_id)
            if row is None:
                row = MIRequestRecord(mi_id=request.mi_id)
                requests.add(row)
            for name, value in asdict(request).items():
                setattr(row, name, value)
            row.last_event_at = at

    async def assign_mi(self, mi_id: str, to: str, at: datetime) -> bool:
        """Hand a request to a colleague; False when there is no such request."""
        async with self._transaction() as session:
            row = await MIRepository(session).get(mi_id)
            if row is None:
                return False
            row.assigned_to = to
            row.last_event_at = at
        return True

    async def mi_request(self, mi_id: str) -> MIRecord | None:
        async with self._reading() as session:
            row = await MIRepository(session).get(mi_id)
            return to_mi(row) if row is not None else None

    async def mi_requests(
        self, *, status: str | None = "open", offset: int = 0, limit: int = 50
    ) -> Page[MIRecord]:
        async with self._reading() as session:
            rows, total = await MIRepository(session).by_status(status, offset=offset, limit=limit)
        return Page([to_mi(row) for row in rows], total, offset, limit)

    # -- people -----------------------------------------------------------------------------------
    async def consents(self, subject_id: str) -> list[ConsentEntry]:
        async with self._reading() as session:
            rows = await PeopleRepository(session).consents_of(subject_id)
        return [
            ConsentEntry(r.subject_id, r.purpose, r.granted, r.notice_version, r.via, r.at)
            for r in rows
        ]

    async def verifications(self, doctor_id: str) -> list[VerificationEntry]:
        async with self._reading() as session:
            rows = await PeopleRepository(session).verifications_of(doctor_id)
        return [VerificationEntry(r.doctor_id, r.event, r.by, r.at) for r in rows]

    async def registrations(self, meeting_id: str) -> list[RegistrationEntry]:
        async with self._reading() as session:
            rows = await PeopleRepository(session).registrations_for(meeting_id)
        return [
            RegistrationEntry(
                r.meeting_id,
                r.doctor_id,
                r.compliance_code,
                r.status,
                r.registered_at,
                r.last_event_at,
            )
            for r in rows
        ]

    # -- analytics ---------------------------------------------------------------------------------
    async def analytics(self, query: AnalyticsQuery) -> AnalyticsReport:
        """Every figure of the console's analytics page (``records.analytics``)."""
        async with self._reading() as session:
            return await analytics.report(session, query)

    async def handoff_figures(self, query: AnalyticsQuery) -> HandoffFigures:
        """Handoffs and each rep's response times alone (the managers' page)."""
        async with self._reading() as session:
            return await analytics.handoff_figures(session, query)

    async def erase_doctor_projections(self, doctor_id: str) -> int:
        """Erase one doctor from the analytics tables (privacy's erasure calls it; see
        ``ActivityRepository.erase_doctor``); how many rows were deleted or anonymised. The
        audit chain and the cases are privacy's and pharmacovigilance's to handle."""
        async with self._transaction() as session:
            return sum((await ActivityRepository(session).erase_doctor(doctor_id)).values())

    # -- retention --------------------------------------------------------------------------------
    async def enforce_retention(
        self, policy: RetentionPolicy, now: datetime, *, dry_run: bool = False
    ) -> RetentionReport:
        """Remove what is past its retention and audit the removal in the same transaction.

        Cases, MI requests, verifications, registrations and consents are deleted; audit
        records are redacted (payload blanked, chain kept): those of a removed case, and
        transcripts and other records past their own period that belong to no case still
        kept. ``dry_run`` reports without changing anything.
        """

        async def enforce(session: AsyncSession) -> RetentionReport:
            cases, requests, people = (
                CaseRepository(session),
                MIRepository(session),
                PeopleRepository(session),
            )
            audit = AuditRepository(session)
            removed: dict[str, list[str]] = {
                "ae_case": await cases.expired(now - policy.pv),
                "mi_request": await requests.expired(now - policy.mi),
            }
            if dry_run:  # read only: the transaction commits nothing
                return RetentionReport(removed, 0)
            people_tables = (
                ("hcp_verification", HCPVerification, policy.profile),
                ("meeting_registration", MeetingRegistration, policy.profile),
                ("consent", ConsentRecord, policy.consent),
            )
            for name, model, period in people_tables:
                removed[name] = await people.remove_expired(model, now - period)
            activity = ActivityRepository(session)
            pruned = {
                "doctor_message": await activity.remove_expired(
                    DoctorMessage, now - policy.transcript
                ),
                "document_use": await activity.remove_expired(DocumentUse, now - policy.transcript),
                "handoff": await activity.remove_expired(HandoffRecord, now - policy.profile),
            }
            if removed["ae_case"]:
                await cases.remove(removed["ae_case"])
            if removed["mi_request"]:
                await requests.remove(removed["mi_request"])
            redacted = await audit.redact(AuditEntry.case_id.in_(removed["ae_case"]), now)
            redacted += await audit.redact_uncased("message", now - policy.transcript, now)
            redacted += await audit.redact_uncased(None, now - policy.audit, now)
            report = RetentionReport(
                {k: v for k, v in removed.items() if v},
                redacted,
                {k: n for k, n in pruned.items() if n},
            )
            if report.total:
                await self._append(
                    session,
                    RETENTION_KIND,
                    now,
                    {
                        "removed": report.removed,
                        "redacted_audit": redacted,
                        "by": "retention",
                    }
                    | ({"pruned": report.pruned} if report.pruned else {}),
                )
            return report

        return await self._at_head(enforce)
