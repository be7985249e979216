"""The console's seams to the bot's records: small protocols and today's adapters.

Views talk only to these protocols. Today they are served by the bot's own services (the roster
of the handoff skill, the adverse-event ``CaseStore`` with its audited reads, the redelivery of
``skills.adverse_events.service``); when the SQL system of record lands (``records/``), a second
adapter per protocol is all that changes (``backends_of`` picks it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol

from bot.models import Locale
from bot.services import Services
from console.content import ContentLibrary, content_of
from console.handoffs import HandoffDesk, StoreHandoffDesk
from skills import handoff
from skills.adverse_events.cases import Acknowledgement, CaseStore, CaseView
from skills.adverse_events.e2b import case_json, case_xml
from skills.adverse_events.service import Redelivery, ae_service, redeliver
from skills.handoff.roster import Role, Roster
from skills.qa.mi import MIRequest
from skills.qa.service import service_of as qa_service


class Directory(Protocol):
    """Corp members and their roles (the roster)."""

    def roles_of(self, userid: str) -> frozenset[Role]: ...

    def name_of(self, userid: str) -> str: ...

    def language_of(self, userid: str) -> Locale | None: ...

    def members(self) -> list[tuple[str, str, frozenset[Role]]]:
        """Every member with a role: (userid, name, roles), by user id."""
        ...


class CaseState(StrEnum):
    """Where a case stands for PV (the queue's filter), most urgent first."""

    DEAD = "dead"  # delivery gave up: needs a redelivery once the sink is fixed
    OVERDUE = "overdue"  # not acknowledged by its due time (day 0 + SLA)
    AWAITING = "awaiting"  # delivered, waiting for PV's acknowledgement
    NEW = "new"  # still being collected or on its way to the sinks
    ACKED = "acked"  # acknowledged by PV


def case_state(view: CaseView, now: datetime) -> CaseState:
    if view.ack is not None:
        return CaseState.ACKED
    if view.delivery.dead_lettered_at is not None:
        return CaseState.DEAD
    if view.overdue(now):
        return CaseState.OVERDUE
    if view.delivery.delivered_at is not None:
        return CaseState.AWAITING
    return CaseState.NEW


@dataclass(frozen=True)
class CaseRow:
    view: CaseView
    state: CaseState


class PvDesk(Protocol):
    """PV's work on adverse-event cases; every read is audited with the reader."""

    async def queue(self, *, reader: str, at: datetime) -> list[CaseRow]: ...

    async def case(self, case_id: str, *, reader: str, at: datetime) -> CaseView | None: ...

    async def export(self, case_id: str, fmt: str, *, reader: str, at: datetime) -> bytes | None:
        """The case as E2B-shaped XML (``fmt`` "e2b") or JSON; ``None`` when there is none."""
        ...

    async def acknowledge(self, case_id: str, *, by: str, at: datetime) -> Acknowledgement | None:
        """PV's acknowledgement (the first one stands); ``None`` for an unknown case."""
        ...

    async def redeliver(self, case_id: str, *, by: str, at: datetime) -> Redelivery: ...


class RosterDirectory:
    def __init__(self, roster: Roster) -> None:
        self._roster = roster

    def roles_of(self, userid: str) -> frozenset[Role]:
        return self._roster.roles_of(userid)

    def name_of(self, userid: str) -> str:
        return self._roster.name_of(userid)

    def language_of(self, userid: str) -> Locale | None:
        return self._roster.language_of(userid)

    def members(self) -> list[tuple[str, str, frozenset[Role]]]:
        userids = sorted({userid for role in Role for userid in self._roster.members_with(role)})
        return [(u, self._roster.name_of(u), self._roster.roles_of(u)) for u in userids]


class StorePvDesk:
    """``PvDesk`` over the adverse-event case store (the bot's storage)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        # The skill's own store (built once per process): whatever it writes to — storage, the
        # audit trail, the system of record — a console action writes to as well.
        self._store: CaseStore = ae_service(services).store

    async def queue(self, *, reader: str, at: datetime) -> list[CaseRow]:
        rows = []
        for case_id in await self._store.case_ids():
            view = await self._store.view(case_id, reader=reader, purpose="console queue", at=at)
            if view is not None:
                rows.append(CaseRow(view, case_state(view, at)))
        return rows

    async def case(self, case_id: str, *, reader: str, at: datetime) -> CaseView | None:
        return await self._store.view(case_id, reader=reader, purpose="console case", at=at)

    async def export(self, case_id: str, fmt: str, *, reader: str, at: datetime) -> bytes | None:
        purpose = f"console export {fmt}"
        case = await self._store.read(case_id, reader=reader, purpose=purpose, at=at)
        if case is None:
            return None
        contact = await self._store.read_contact(case_id, reader=reader, purpose=purpose, at=at)
        if fmt == "e2b":
            return case_xml(case, contact, self._services.settings)
        return case_json(case, contact)

    async def acknowledge(self, case_id: str, *, by: str, at: datetime) -> Acknowledgement | None:
        if case_id not in await self._store.case_ids():
            return None
        return await self._store.acknowledge(case_id, by, at, "console")

    async def redeliver(self, case_id: str, *, by: str, at: datetime) -> Redelivery:
        return await redeliver(self._services.storage, self._store, case_id, by=by, at=at)


@dataclass(frozen=True)
class AuditQuery:
    """What the compliance reviewer searches for (every field optional)."""

    start: datetime | None = None
    end: datetime | None = None
    doctor_id: str | None = None
    case_id: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    kind: str
    doctor_id: str | None
    case_id: str | None
    actor: str | None
    fields: dict[str, Any] | None  # None once retention removed the record's content
    json: dict[str, Any]  # the record as exported


@dataclass(frozen=True)
class ChainResult:
    ok: bool
    entries: int
    redacted: int
    broken_at: int | None
    reason: str


class AuditTrail(Protocol):
    """The searchable, hash-chained audit trail (the system of record)."""

    async def search(
        self, query: AuditQuery, *, offset: int, limit: int
    ) -> tuple[list[AuditRow], int]:
        """One page of matching records in chain order, and how many match in all."""
        ...

    def entries(self, query: AuditQuery) -> AsyncIterator[AuditRow]:
        """Every matching record in chain order (for exports, read in batches)."""
        ...

    async def verify(self) -> ChainResult: ...


class RecordsAuditTrail:
    """``AuditTrail`` over the system of record's service (``records.Records``: its
    ``search_audit``, ``audit_entries`` and ``verify_audit``)."""

    def __init__(self, records: Any) -> None:
        self._records = records

    async def search(
        self, query: AuditQuery, *, offset: int, limit: int
    ) -> tuple[list[AuditRow], int]:
        page = await self._records.search_audit(**vars(query), offset=offset, limit=limit)
        return [_row(item) for item in page.items], int(page.total)

    async def entries(self, query: AuditQuery) -> AsyncIterator[AuditRow]:
        async for item in self._records.audit_entries(**vars(query)):
            yield _row(item)

    async def verify(self) -> ChainResult:
        check = await self._records.verify_audit()
        return ChainResult(check.ok, check.entries, check.redacted, check.broken_at, check.reason)


def _row(item: Any) -> AuditRow:
    return AuditRow(
        item.seq,
        item.at,
        item.kind,
        item.doctor_id,
        item.case_id,
        item.actor,
        item.payload,
        item.as_json(),
    )


class MIDesk(Protocol):
    """Medical-information requests (the Q&A skill's ``MIStore`` satisfies it)."""

    async def list(self, *, include_closed: bool = False) -> list[MIRequest]: ...

    async def close(
        self, mi_id: str, *, by: str, at: datetime, resolution: str = ""
    ) -> MIRequest: ...


class Backends:
    """Today's adapters over the bot's services, each built when a view first asks for it
    (a request refused by the middleware builds only the directory).

    The audit trail is searchable only in the system of record: ``services.records`` once
    ``records/`` is in (until then the compliance pages say so).
    """

    def __init__(self, services: Services) -> None:
        self._services = services

    @cached_property
    def directory(self) -> Directory:
        return RosterDirectory(handoff.get_service(self._services).roster)

    @cached_property
    def pv(self) -> PvDesk:
        return StorePvDesk(self._services)

    @cached_property
    def mi(self) -> MIDesk:
        return qa_service(self._services).mi

    @cached_property
    def handoffs(self) -> HandoffDesk:
        return StoreHandoffDesk(self._services)

    @cached_property
    def content(self) -> ContentLibrary | None:
        """None without a knowledge base (the serving app always has one)."""
        return content_of(self._services)

    @cached_property
    def audit(self) -> AuditTrail | None:
        records = getattr(self._services, "records", None)
        return RecordsAuditTrail(records) if records is not None else None


def backends_of(services: Services) -> Backends:
    """The one place that picks the adapters (switch them here to the system of record)."""
    return Backends(services)
