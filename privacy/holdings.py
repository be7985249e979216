"""Where a doctor's personal data lives, section by section: what an export reads and what an
erasure removes.

Each section is a ``Holding`` (export the doctor's part; erase it, returning how many items
went). Sections under a legal retention duty export a summary and erase nothing:
adverse-event cases (pharmacovigilance) and the consent history (proof of lawful basis).
The audit trail of messages (the doctor's own messages and the replies, identifiers masked) is
exported from the system of record's chain and redacted there by an erasure
(``privacy.recorded``, which also holds the doctor's rows of the registries); without the
system of record (a bare storage) the stream cannot be changed, so an erasure routes it to
the data-protection contacts (``manual``).

Every holding finds the doctor's data from the doctor id only, so a request can never reach
another doctor's data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bot.audit import AUDIT_QUEUE
from bot.middlewares import conversation_storage_key, load_conversation
from bot.profiles import ProfileStore
from bot.services import Services
from privacy.recorded import PV_REASONS, RecordsHolding, chain_records, redact_transcripts
from privacy.records import ConsentRecords
from skills.adverse_events.cases import CaseStore
from skills.handoff.state import HandoffStatus, HandoffStore
from skills.meetings.registrations import Status
from skills.meetings.service import meetings_service
from skills.qa.mi import MIStore

TRANSCRIPT_SCAN_LIMIT = 100_000  # audit entries read for one export (Storage has no index)


DOCTORS_KEY = "privacy:doctors"  # every doctor with an indexed conversation (for retention)


def conversations_key(doctor_id: str) -> str:
    """Set of the conversation keys a doctor wrote in (kept by the consent middleware)."""
    return f"privacy:convs:{doctor_id}"


class Holding(Protocol):
    name: str
    retained: bool  # under a legal retention duty: exported, never erased

    async def export(self, doctor_id: str) -> Any: ...

    async def erase(self, doctor_id: str) -> int: ...


async def conversation_keys(services: Services, doctor_id: str) -> list[str]:
    """Every conversation of the doctor: the index plus the profile's last route."""
    keys = set(await services.storage.set_members(conversations_key(doctor_id)))
    profile = await ProfileStore(services.storage).get(doctor_id)
    if profile is not None and profile.contact is not None:
        keys.add(profile.contact.conversation_key)
    return sorted(keys)


class ProfileHolding:
    name, retained = "profile", False

    def __init__(self, services: Services) -> None:
        self._storage = services.storage
        self._profiles = ProfileStore(services.storage)

    async def export(self, doctor_id: str) -> Any:
        profile = await self._profiles.get(doctor_id)
        return profile.model_dump(mode="json") if profile is not None else None

    async def erase(self, doctor_id: str) -> int:
        found = await self._profiles.get(doctor_id) is not None
        await self._storage.delete(f"profile:{doctor_id}")
        await self._storage.set_remove("profiles", doctor_id)
        await self._storage.delete(f"hcp:request:{doctor_id}")
        await self._storage.set_remove("hcp:pending", doctor_id)
        return int(found)


class ConversationHolding:
    """Conversation state: language, form in progress, the rolling transcript."""

    name, retained = "conversations", False

    def __init__(self, services: Services) -> None:
        self._services = services

    async def export(self, doctor_id: str) -> Any:
        found = []
        for key in await conversation_keys(self._services, doctor_id):
            conversation = await load_conversation(self._services.storage, key)
            if conversation is not None:
                found.append(conversation.model_dump(mode="json", exclude={"last_seq"}))
        return found

    async def erase(self, doctor_id: str) -> int:
        storage = self._services.storage
        removed = 0
        for key in await conversation_keys(self._services, doctor_id):
            removed += await load_conversation(storage, key) is not None
            await storage.delete(conversation_storage_key(key))
        await storage.delete(conversations_key(doctor_id))
        await storage.set_remove(DOCTORS_KEY, doctor_id)
        return removed


class RegistrationHolding:
    """Meeting registrations: a held seat is given up (the waitlist moves on), reminders are
    cancelled, then the records go."""

    name, retained = "meeting_registrations", False

    def __init__(self, services: Services) -> None:
        self._services = services

    async def export(self, doctor_id: str) -> Any:
        found = await meetings_service(self._services).registrations.for_doctor(doctor_id)
        return [registration.model_dump(mode="json") for registration in found]

    async def erase(self, doctor_id: str) -> int:
        service = meetings_service(self._services)
        storage = self._services.storage
        profile = await service.profiles.get_or_create(doctor_id)
        registrations = await service.registrations.for_doctor(doctor_id)
        for registration in registrations:
            meeting = await service.meeting(registration.meeting_id)
            if meeting is not None and registration.status is not Status.CANCELLED:
                await service.cancel(meeting, profile)
            await service.cancel_reminders(registration.meeting_id, doctor_id)
            await storage.delete(f"meetings:reg:{registration.meeting_id}:{doctor_id}")
            await storage.set_remove(f"meetings:by-meeting:{registration.meeting_id}", doctor_id)
        await storage.delete(f"meetings:by-doctor:{doctor_id}")
        return len(registrations)


class MIRequestHolding:
    name, retained = "mi_requests", False

    def __init__(self, services: Services) -> None:
        self._storage = services.storage

    async def _requests(self, doctor_id: str) -> list[Any]:
        every = await MIStore(self._storage).list(include_closed=True)
        return [request for request in every if request.doctor_id == doctor_id]

    async def export(self, doctor_id: str) -> Any:
        return [request.model_dump(mode="json") for request in await self._requests(doctor_id)]

    async def erase(self, doctor_id: str) -> int:
        requests = await self._requests(doctor_id)
        for request in requests:
            await self._storage.delete(f"mi:{request.mi_id}")
            await self._storage.set_remove("mi:all", request.mi_id)
            await self._storage.set_remove("mi:open", request.mi_id)
        await self._storage.delete(f"handoff:mi-open:{doctor_id}")
        return len(requests)


class HandoffHolding:
    """The doctor's handoff records (escalations to a rep or to medical information; their
    ``detail`` may hold the doctor's words), found through the handoff store's per-doctor
    index. An erasure deletes them — offered ones too (a card tapped later finds nothing, as
    after the TTL) and medical-information ones (their MI request is erased with them) — but
    keeps those of an adverse event (part of the report, like its messages: PV) and never
    touches one a rep is handling (``PrivacyService.erase`` refuses then: human mode). The
    retention job deletes only records that are over."""

    name, retained = "handoffs", True

    def __init__(self, services: Services) -> None:
        self._storage = services.storage
        self._store = HandoffStore(services.storage)

    async def export(self, doctor_id: str) -> Any:
        return [
            {"handoff_id": h.handoff_id, "reason": h.reason.value, "status": h.status.value,
             "requested_at": h.requested_at.isoformat(), "detail": h.detail}
            for h in await self._store.for_doctor(doctor_id)
        ]  # fmt: skip

    async def handled_by_rep(self, doctor_id: str) -> list[str]:
        """The doctor's handoffs a rep has taken and not handed back (human mode)."""
        found = await self._store.for_doctor(doctor_id)
        return [h.handoff_id for h in found if h.status is HandoffStatus.ACTIVE]

    async def erase(self, doctor_id: str, before: datetime | None = None) -> int:
        """Erasure: delete every record but an open rep handoff's. Retention (``before``):
        delete the records that are over and were requested before it. The index goes with
        the last record (and its entries whose record expired)."""
        removed = kept = 0
        for handoff in await self._store.for_doctor(doctor_id):
            if before is None:
                keep = handoff.status is HandoffStatus.ACTIVE or handoff.reason in PV_REASONS
            else:
                keep = handoff.is_open or handoff.requested_at >= before
            if keep:
                kept += 1
                continue
            await self._store.forget(handoff)
            removed += 1
        if not kept:
            await self._storage.delete(HandoffStore.doctor_key(doctor_id))
        return removed


def _doctor_of(payload: dict[str, Any]) -> Any:
    """Whose record it is: the doctor named in it, or the sender of a ``message``."""
    if payload.get("kind") == "message":
        return payload.get("sender")
    return payload.get("doctor", payload.get("doctor_id"))


async def audit_records(services: Services, doctor_id: str, kind: str) -> list[dict[str, Any]]:
    """The doctor's audit records of ``kind`` (payload, with ``kind`` and ``at``), oldest first.

    From the system of record's chain when it is open (call ``flush_audit`` first so that the
    stream's newest entries are in it), else from the storage stream ``audit`` (read without
    a consumer group, so nothing is delivered or created).
    """
    if services.records is not None:
        return await chain_records(services.records, doctor_id, kind)
    entries = await services.storage.unacknowledged(
        AUDIT_QUEUE, "privacy-export", count=TRANSCRIPT_SCAN_LIMIT
    )
    return [
        entry.payload
        for entry in entries
        if entry.payload.get("kind") == kind and _doctor_of(entry.payload) == doctor_id
    ]


class TranscriptHolding:
    """The audit trail's message records of the doctor (identifiers masked): exported. With
    the system of record open an erasure redacts those not part of an adverse-event report
    (``privacy.recorded``); the storage stream cannot be changed, so without it an erasure
    hands them to the DPO (``PrivacyService.erase``). What is left is counted as retained."""

    name, retained = "transcripts", True

    def __init__(self, services: Services) -> None:
        self._services = services

    async def export(self, doctor_id: str) -> Any:
        return [
            {
                "at": payload.get("at"),
                "conversation": payload.get("conversation"),
                "you": payload.get("text") or "",  # None: withheld (it confirmed an erasure)
                "bot": [_reply_text(reply) for reply in payload.get("replies", [])],
            }
            for payload in await audit_records(self._services, doctor_id, "message")
        ]

    async def erase(self, doctor_id: str) -> int:
        records = self._services.records
        if records is None:
            return 0
        return await redact_transcripts(records, doctor_id, self._services.clock())


def _reply_text(reply: dict[str, Any]) -> str:
    if reply.get("type") == "menu":
        labels = " / ".join(str(option.get("label", "")) for option in reply.get("options", []))
        return f"{reply.get('head', '')} [{labels}]"
    if reply.get("type") == "file":
        return f"[{reply.get('filename', '')}]"
    return str(reply.get("text") or reply.get("title") or "")


class ConsentHolding:
    name, retained = "consent_history", True

    def __init__(self, records: ConsentRecords) -> None:
        self._records = records

    async def export(self, doctor_id: str) -> Any:
        return [record.model_dump(mode="json") for record in await self._records.history(doctor_id)]

    async def erase(self, doctor_id: str) -> int:
        return 0


class AdverseEventHolding:
    """Adverse-event cases the doctor reported: kept by law for pharmacovigilance. The export
    lists their ids and dates; each read is audited by the case store."""

    name, retained = "adverse_event_reports", True

    def __init__(self, services: Services, now: datetime) -> None:
        self._services = services
        self._now = now

    async def export(self, doctor_id: str) -> Any:
        settings = self._services.settings
        store = CaseStore(
            self._services.storage,
            self._services.audit,
            timezone=settings.timezone,
            sla_h=settings.pv_sla_h,
        )
        found = []
        for case_id in await store.case_ids():
            case = await store.read(
                case_id, reader="privacy", purpose="data-subject request", at=self._now
            )
            if case is not None and case.doctor_id == doctor_id:
                found.append({"case_id": case_id, "reported_at": case.day0.isoformat()})
        return found

    async def erase(self, doctor_id: str) -> int:
        return 0


def holdings(services: Services, records: ConsentRecords, now: datetime) -> list[Holding]:
    """Every section, in export order (the system of record's rows when it is open)."""
    found: list[Holding] = [
        ProfileHolding(services),
        RegistrationHolding(services),
        MIRequestHolding(services),
        ConversationHolding(services),
        HandoffHolding(services),
        TranscriptHolding(services),
        ConsentHolding(records),
        AdverseEventHolding(services, now),
    ]
    if services.records is not None:
        found.append(RecordsHolding(services.records))
    return found
