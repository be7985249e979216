"""The console's seam to human handoffs (the managers' page).

``HandoffDesk`` lists the open handoffs — offered to reps and waiting, or taken (the
conversation is in human mode) — with the SLA due time of the stage on offer and whether an SLA
was breached, limited to the doctors the member manages (their team's; an admin's: all).
``StoreHandoffDesk`` reads them from the handoff skill's store (each doctor's open handoff;
the system of record will list them with one query), and each rep's response times over a
period from the handoff audit in the system of record.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Protocol

from bot.profiles import DoctorProfile
from bot.services import Services
from skills import handoff
from skills.handoff.roster import Role
from skills.handoff.service import BOTH_LANES, SLA_SCHEDULE
from skills.handoff.state import Handoff, HandoffStatus
from skills.roles.policy import access_of


@dataclass(frozen=True)
class HandoffRow:
    handoff: Handoff
    profile: DoctorProfile
    sla_due_at: datetime | None  # the stage on offer must be answered by then
    breached: bool  # an SLA ran out (a stage was passed on, or the current one is late)

    @property
    def human_mode(self) -> bool:
        return self.handoff.status is HandoffStatus.ACTIVE


@dataclass(frozen=True)
class RepTimes:
    """How one rep answered handoffs in a period: taken over (with the waits), declined."""

    rep: str
    taken: int
    median_wait_s: float | None
    longest_wait_s: float | None
    declined: int


class HandoffDesk(Protocol):
    async def open_handoffs(self, manager: str, at: datetime) -> list[HandoffRow]: ...

    async def response_times(self, manager: str, since: datetime) -> list[RepTimes]:
        """Per rep of the member's team (an admin's: every rep), from the handoff audit."""
        ...


class StoreHandoffDesk:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._handoffs = handoff.get_service(services)

    async def open_handoffs(self, manager: str, at: datetime) -> list[HandoffRow]:
        access = access_of(self._services)
        storage = self._services.storage
        due = {item.item_id: item.due_at for item in await storage.scheduled(SLA_SCHEDULE)}
        rows = []
        for doctor_id in sorted(await self._handoffs.profiles.all_ids()):
            profile = await self._handoffs.profiles.get(doctor_id)
            if profile is None or profile.contact is None or not access.manages(manager, profile):
                continue
            running = await self._handoffs.store.open_for(
                profile.contact.conversation_key, BOTH_LANES
            )
            if running is None:
                continue
            sla = due.get(running.handoff_id) if running.status is HandoffStatus.OFFERED else None
            late = sla is not None and at >= sla
            rows.append(HandoffRow(running, profile, sla, running.stage_index > 0 or late))
        return sorted(rows, key=lambda row: (not row.breached, row.handoff.requested_at))

    async def response_times(self, manager: str, since: datetime) -> list[RepTimes]:
        """From the handoff skill's audit records in the system of record (``taken_over``
        carries the rep and how long the doctor waited; ``declined`` the rep)."""
        records = self._services.records
        if records is None:
            return []
        roster = self._handoffs.roster
        everyone = Role.ADMIN in roster.roles_of(manager)
        team = roster.team_of(manager)
        waits: dict[str, list[float]] = defaultdict(list)
        declined: Counter[str] = Counter()
        async for record in records.audit_entries(kind="handoff", start=since):
            fields = record.payload or {}
            rep = fields.get("rep")
            if not isinstance(rep, str) or not (everyone or roster.team_of(rep) == team):
                continue
            if fields.get("event") == "taken_over":
                waits[rep].append(float(fields.get("waited_s") or 0.0))
            elif fields.get("event") == "declined":
                declined[rep] += 1
        return [
            RepTimes(
                rep,
                len(waits[rep]),
                median(waits[rep]) if waits[rep] else None,
                max(waits[rep]) if waits[rep] else None,
                declined[rep],
            )
            for rep in sorted(set(waits) | set(declined))
        ]
