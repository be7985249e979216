"""What the system of record (``records/``) holds about a doctor: read for an export, erased or
redacted for an erasure.

The bot writes its audit records to the storage stream; the audit sink moves them into the
hash-chained audit table a moment later, so the chain trails the stream. Before a request
reads or redacts the chain, ``flush_audit`` appends the entries still in the stream itself
(idempotent with the sink: an entry is appended once by its stream id, whoever comes first;
the sink acknowledges it later), so the doctor's last message is in the export and in the
erasure, also from the CLI where no sink runs.

An erasure deletes the doctor's rows of the registries (medical-information requests, meeting
registrations, HCP verification steps) and redacts the doctor's ``message`` records, and the
``handoff`` records (their ``detail`` quotes the doctor), that are not part of an adverse-event
report (payload blanked, digest and hash kept: ``virtualrep audit verify`` still holds and
counts them as redacted), as retention does; the anonymised handoff projection keeps the reps'
response times. Kept: adverse-event cases
and every record of a case (pharmacovigilance), the consent records and the request records
(proof of lawful basis), and the audit's other records (who did what, with ids only).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from bot.audit import AUDIT_QUEUE
from bot.escalation import EscalationReason
from bot.services import Services
from records import Records
from records.database import unavailable_as_storage_error
from records.models import AuditEntry, HCPVerification, MeetingRegistration, MIRequestRecord
from records.repositories import AuditRepository
from records.sink import AUDIT_GROUP, append_entry

PV_SKILLS = frozenset({"adverse_events", "pv_acknowledge"})  # routers of the AE report
FLUSH_LIMIT = 100_000  # stream entries appended by one request (the sink keeps the lag small)


async def flush_audit(services: Services) -> int:
    """Append to the chain what the stream holds that the sink has not acknowledged yet;
    returns how many were new to the chain."""
    records = services.records
    if records is None:
        return 0
    entries = await services.storage.unacknowledged(AUDIT_QUEUE, AUDIT_GROUP, count=FLUSH_LIMIT)
    return sum([await append_entry(records, entry) for entry in entries])


async def chain_records(records: Records, doctor_id: str, kind: str) -> list[dict[str, Any]]:
    """The doctor's chain records of ``kind`` still holding a payload (with ``kind``, ``at``,
    ``seq`` and ``case_id``), in chain order."""
    return [
        {**entry.payload, "kind": entry.kind, "at": entry.at.isoformat(), "seq": entry.seq,
         "case_id": entry.case_id}
        async for entry in records.audit_entries(doctor_id=doctor_id, kind=kind)
        if entry.payload is not None  # redacted (erased, or past retention): nothing left
    ]  # fmt: skip


def pv_relevant(payload: dict[str, Any]) -> bool:
    """A message record that is part of an adverse-event report (of a case, screened as one,
    asked to confirm, a case opened or acknowledged on it, or answered inside the report
    form): kept for pharmacovigilance when the doctor's other transcripts are erased."""
    annotations = payload.get("annotations") or {}
    return (
        payload.get("case_id") is not None
        or payload.get("skill") in PV_SKILLS
        or any(str(key).startswith("audit_ae_") for key in annotations)
    )


PV_REASONS = frozenset(  # a handoff that is part of an adverse-event report: kept on erasure
    {EscalationReason.SERIOUS_ADVERSE_EVENT, EscalationReason.ADVERSE_EVENT_IN_HUMAN_MODE}
)


async def redact_transcripts(records: Records, doctor_id: str, at: datetime) -> int:
    """Redact the doctor's message and handoff records that are not part of an adverse-event
    report; returns how many were blanked."""
    pv_reasons = {reason.value for reason in PV_REASONS}
    seqs = [
        int(payload["seq"])
        for payload in await chain_records(records, doctor_id, "message")
        if not pv_relevant(payload)
    ] + [
        int(payload["seq"])
        for payload in await chain_records(records, doctor_id, "handoff")
        if payload.get("reason") not in pv_reasons
    ]
    if not seqs:
        return 0
    with unavailable_as_storage_error():
        async with records.session() as session, session.begin():
            return await AuditRepository(session).redact(AuditEntry.seq.in_(seqs), at)


_REGISTRIES = (  # (record name, table): the doctor's rows, erased
    ("mi_request", MIRequestRecord),
    ("meeting_registration", MeetingRegistration),
    ("hcp_verification", HCPVerification),
)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class RecordsHolding:
    """The doctor's rows in the system of record, one item per row named by ``record``:
    consent records (kept: proof of lawful basis), MI requests, meeting registrations and HCP
    verification steps (erased)."""

    name, retained = "system_of_record", False

    def __init__(self, records: Records) -> None:
        self._records = records

    async def export(self, doctor_id: str) -> Any:
        found: list[dict[str, Any]] = [
            {"record": "consent", **{k: _json(v) for k, v in asdict(entry).items()}}
            for entry in await self._records.consents(doctor_id)
        ]
        with unavailable_as_storage_error():
            async with self._records.session() as session:
                for name, model in _REGISTRIES:
                    rows = await session.scalars(
                        select(model)
                        .where(model.doctor_id == doctor_id)
                        .order_by(model.last_event_at)
                    )
                    found += [
                        {"record": name}
                        | {c.key: _json(getattr(row, c.key)) for c in model.__table__.columns}
                        for row in rows
                    ]
        return found

    async def erase(self, doctor_id: str) -> int:
        removed = 0
        with unavailable_as_storage_error():
            async with self._records.session() as session, session.begin():
                for _, model in _REGISTRIES:
                    deleted = await session.execute(
                        delete(model).where(model.doctor_id == doctor_id)
                    )
                    removed += int(deleted.rowcount)  # type: ignore[attr-defined]
        await self._records.erase_doctor_projections(doctor_id)  # analytics rows, uncounted
        return removed
