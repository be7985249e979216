"""What the analytics count, projected from the audit trail: doctors' messages, the documents
their answers cited, each doctor's rep, handoffs and how fast they were taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import DoctorMessage, DoctorRep, DocumentUse, HandoffDecline, HandoffRecord

ActivityRecord = type[DoctorMessage] | type[DocumentUse] | type[HandoffRecord]

_HANDOFF_CLOSED = "closed"
ERASED = ""  # the doctor id of a handoff whose doctor had their data erased


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class ActivityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_message(self, at: datetime, payload: dict[str, Any]) -> None:
        """Project a doctor's ``message`` audit record (``annotations.audit_rep`` marks one:
        the handoff gate sets it, None when the doctor has no rep yet; the caller leaves out
        events such as entering the kf session, which are no messages)."""
        notes = payload.get("annotations") or {}
        qa = notes.get("audit_qa") or {}
        rep = _text(notes.get("audit_rep"))
        doctor = str(payload.get("sender", ""))
        products = [p for p in qa.get("products") or [] if isinstance(p, str)]
        product = products[0] if products else None
        cited = [hit for hit in qa.get("cited") or [] if isinstance(hit, dict)]
        # A content gap: the question went through retrieval ("topic" set) and nothing approved
        # answered it ("audit_not_helped"); guardrail declines and unclear messages are not gaps.
        gap = bool(notes.get("audit_not_helped")) and "topic" in qa
        self._session.add(
            DoctorMessage(
                at=at,
                doctor_id=doctor,
                rep_id=rep,
                channel=str(payload.get("channel", "")),
                skill=_text(payload.get("skill")),
                intent=_text(qa.get("intent")),
                topic=_text((qa.get("topic") or {}).get("label")),
                product=product,
                answered=bool(cited),
                gap=gap,
                question=_text(payload.get("text")) if gap else None,  # masked by the audit
                last_event_at=at,
            )
        )
        for doc_id, hit in {str(hit.get("doc_id")): hit for hit in cited}.items():
            self._session.add(
                DocumentUse(
                    at=at,
                    doc_id=doc_id,
                    approval_code=_text(hit.get("approval_code")),
                    version=_text(hit.get("version")),
                    rep_id=rep,
                    product=product,
                    last_event_at=at,
                )
            )
        if rep and doctor:
            known = await self._session.get(DoctorRep, doctor)
            if known is None:
                self._session.add(DoctorRep(doctor_id=doctor, rep_id=rep, at=at))
            elif known.rep_id != rep:
                known.rep_id, known.at = rep, at

    async def add_handoff_event(self, at: datetime, payload: dict[str, Any]) -> None:
        """Fold one ``handoff`` audit record into its handoff's row."""
        handoff_id = _text(payload.get("handoff_id"))
        if handoff_id is None:
            return
        row = await self._session.get(HandoffRecord, handoff_id)
        if row is None:
            row = HandoffRecord(
                handoff_id=handoff_id,
                doctor_id=str(payload.get("doctor", "")),
                reason=str(payload.get("reason", "")),
                requested_at=at,
                status="requested",
                declined=0,
                sla_breached=False,
                last_event_at=at,
            )
            self._session.add(row)
        event = str(payload.get("event", ""))
        if event == "declined":
            row.declined += 1
            if (rep := _text(payload.get("rep"))) is not None:
                self._session.add(HandoffDecline(handoff_id=handoff_id, rep_id=rep, at=at))
        elif event == "sla_breached":
            row.sla_breached = True
        elif event == "taken_over" and row.taken_at is None:
            row.taken_by, row.taken_at = _text(payload.get("rep")), at
            waited = payload.get("waited_s")
            row.waited_s = float(waited) if isinstance(waited, int | float) else None
        elif event == _HANDOFF_CLOSED:
            row.closed_at = at
        if row.closed_at is None or event == _HANDOFF_CLOSED:
            row.status = event
        row.last_event_at = at

    async def remove_expired(self, model: ActivityRecord, before: datetime) -> int:
        """Delete rows of ``model`` whose last event is older than ``before``; how many (with
        a handoff, the declines of handoffs that old)."""
        if model is HandoffRecord:
            old = select(HandoffRecord.handoff_id).where(HandoffRecord.last_event_at < before)
            await self._session.execute(
                delete(HandoffDecline).where(HandoffDecline.handoff_id.in_(old))
            )
        result = await self._session.execute(delete(model).where(model.last_event_at < before))
        return _rowcount(result)

    async def erase_doctor(self, doctor_id: str) -> dict[str, int]:
        """Remove what the analytics hold about one doctor (a data-subject erasure); how many
        rows per table. Their messages (and a gap's masked question), the documents cited to
        them and their rep link are deleted; their handoffs stay for the reps' response times
        with the doctor id blanked (a rep's work record, no longer about the doctor). A cited
        document carries no doctor id: it is the doctor's when a message of theirs has the
        same time and rep (both are projected from the same audit record)."""
        message = DoctorMessage
        cited = delete(DocumentUse).where(
            exists().where(
                message.doctor_id == doctor_id,
                message.at == DocumentUse.at,
                message.rep_id.is_not_distinct_from(DocumentUse.rep_id),
            )
        )
        counts = {"document_use": _rowcount(await self._session.execute(cited))}
        for name, model in (("doctor_message", DoctorMessage), ("doctor_rep", DoctorRep)):
            deleted = await self._session.execute(delete(model).where(model.doctor_id == doctor_id))
            counts[name] = _rowcount(deleted)
        blanked = update(HandoffRecord).where(HandoffRecord.doctor_id == doctor_id)
        counts["handoff"] = _rowcount(await self._session.execute(blanked.values(doctor_id=ERASED)))
        return counts


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
