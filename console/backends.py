"""The console's seams to the bot's records: small protocols and their adapters.

Views talk only to these protocols. PV and MI read the system of record (``records/``: paged
and filtered on the database, reads audited) and act through the skills' own stores (the
adverse-event ``CaseStore``, the Q&A skill's ``MIStore``), so an action from the console writes
what the same action from WeCom or the CLI writes; ``backends_of`` is the one place that picks
the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Protocol

from bot.models import Locale
from bot.services import Services
from console.content import ContentLibrary, content_of
from console.handoffs import HandoffDesk, StoreHandoffDesk
from records.results import CaseEventRecord, MIRecord, Page, PvQueue, QueueFilter
from records.service import Records
from skills import handoff
from skills.adverse_events.cases import Acknowledgement, CaseStore, CaseView, read_queue
from skills.adverse_events.e2b import case_json, case_xml
from skills.adverse_events.service import Redelivery, ae_service, redeliver
from skills.handoff.roster import Role, Roster
from skills.qa.mi import MIRequest, MIStore
from skills.qa.service import service_of as qa_service


class Directory(Protocol):
    """Corp members and their roles (the roster)."""

    def roles_of(self, userid: str) -> frozenset[Role]: ...

    def name_of(self, userid: str) -> str: ...

    def language_of(self, userid: str) -> Locale | None: ...

    def members(self) -> list[tuple[str, str, frozenset[Role]]]:
        """Every member with a role: (userid, name, roles), by user id."""
        ...


@dataclass(frozen=True)
class CaseFile:
    """A case as the case page shows it: the view, and its lifecycle events (delivery history
    per sink, acknowledgement, redeliveries, exports) from the system of record."""

    view: CaseView
    events: list[CaseEventRecord]


class PvDesk(Protocol):
    """PV's work on adverse-event cases; every read is audited with the reader."""

    async def queue(
        self, wanted: QueueFilter, *, now: datetime, offset: int, limit: int, reader: str
    ) -> PvQueue:
        """One page of the queue (filtered, ordered and paged on the database)."""
        ...

    async def case(self, case_id: str, *, reader: str, at: datetime) -> CaseFile | None: ...

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


class RecordsPvDesk:
    """``PvDesk`` over the system of record (queue, case, export) and the adverse-event
    skill's own case store for the actions, so an acknowledgement or a redelivery from the
    console writes storage, records and audit exactly as one from WeCom or the CLI does."""

    def __init__(self, services: Services, records: Records) -> None:
        self._services = services
        self._records = records
        self._store: CaseStore = ae_service(services).store  # built once per process

    async def queue(
        self, wanted: QueueFilter, *, now: datetime, offset: int, limit: int, reader: str
    ) -> PvQueue:
        return await read_queue(
            self._records,
            self._services.audit,
            wanted,
            now=now,
            offset=offset,
            limit=limit,
            reader=reader,
            purpose="console queue",
        )

    async def case(self, case_id: str, *, reader: str, at: datetime) -> CaseFile | None:
        detail = await self._records.read_case(
            case_id, reader=reader, purpose="console case", at=at
        )
        return CaseFile(CaseView.from_records(detail), detail.events) if detail else None

    async def export(self, case_id: str, fmt: str, *, reader: str, at: datetime) -> bytes | None:
        purpose = f"console export {fmt}"
        detail = await self._records.read_case(case_id, reader=reader, purpose=purpose, at=at)
        if detail is None:
            return None
        case = CaseView.from_records(detail).case
        contact = await self._store.read_contact(case_id, reader=reader, purpose=purpose, at=at)
        await self._store.exported(case_id, by=reader, at=at, form=fmt)
        if fmt == "e2b":
            return case_xml(case, contact, self._services.settings)
        return case_json(case, contact)

    async def acknowledge(self, case_id: str, *, by: str, at: datetime) -> Acknowledgement | None:
        if await self._records.case_detail(case_id) is None:
            return None
        return await self._store.acknowledge(case_id, by, at, "console")

    async def redeliver(self, case_id: str, *, by: str, at: datetime) -> Redelivery:
        return await redeliver(self._services.storage, self._store, case_id, by=by, at=at)


class MIDesk(Protocol):
    """Medical-information requests: listed and handed on in the system of record, closed
    through the Q&A skill's ``MIStore`` (storage and records together)."""

    async def requests(self, *, include_closed: bool, offset: int, limit: int) -> Page[MIRecord]:
        """One page, earliest due first (paged on the database)."""
        ...

    async def request(self, mi_id: str) -> MIRecord | None: ...

    async def close(self, mi_id: str, *, by: str, at: datetime, resolution: str = "") -> None:
        """Raises ``KeyError`` for an unknown request, ``ValueError`` for a closed one."""
        ...

    async def assign(self, mi_id: str, to: str, *, at: datetime) -> bool: ...

    async def list(self, *, include_closed: bool = False) -> list[MIRequest]:
        """Every request from storage (the analytics page's reader until it moves to the
        system of record's aggregates)."""
        ...


class RecordsMIDesk:
    def __init__(self, services: Services, records: Records) -> None:
        self._store: MIStore = qa_service(services).mi  # the skill's own store
        self._records = records

    async def requests(self, *, include_closed: bool, offset: int, limit: int) -> Page[MIRecord]:
        status = None if include_closed else "open"
        return await self._records.mi_requests(status=status, offset=offset, limit=limit)

    async def request(self, mi_id: str) -> MIRecord | None:
        return await self._records.mi_request(mi_id)

    async def close(self, mi_id: str, *, by: str, at: datetime, resolution: str = "") -> None:
        await self._store.close(mi_id, by=by, at=at, resolution=resolution)

    async def assign(self, mi_id: str, to: str, *, at: datetime) -> bool:
        return await self._records.assign_mi(mi_id, to, at)

    async def list(self, *, include_closed: bool = False) -> list[MIRequest]:
        return await self._store.list(include_closed=include_closed)


class Backends:
    """Today's adapters over the bot's services, each built when a view first asks for it
    (a request refused by the middleware builds only the directory).

    PV, MI and the audit trail are read from the system of record (``services.records``).
    """

    def __init__(self, services: Services) -> None:
        self._services = services

    @cached_property
    def directory(self) -> Directory:
        return RosterDirectory(handoff.get_service(self._services).roster)

    @cached_property
    def pv(self) -> PvDesk:
        return RecordsPvDesk(self._services, self._records)

    @cached_property
    def mi(self) -> MIDesk:
        return RecordsMIDesk(self._services, self._records)

    @cached_property
    def handoffs(self) -> HandoffDesk:
        return StoreHandoffDesk(self._services)

    @cached_property
    def content(self) -> ContentLibrary | None:
        """None without a knowledge base (the serving app always has one)."""
        return content_of(self._services)

    @cached_property
    def audit(self) -> Records | None:
        """The searchable, hash-chained audit trail (``search_audit``, ``audit_entries``,
        ``verify_audit``); None without the system of record (the page says so)."""
        return self._services.records

    @property
    def _records(self) -> Records:
        if self._services.records is None:
            raise RuntimeError("the console's PV and MI pages read the system of record (records/)")
        return self._services.records


def backends_of(services: Services) -> Backends:
    """The one place that picks the adapters (switch them here to the system of record)."""
    return Backends(services)
