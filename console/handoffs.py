"""The console's seam to human handoffs (the managers' page).

``HandoffDesk`` lists the open handoffs — offered to reps and waiting, or taken (the
conversation is in human mode) — with the SLA due time of the stage on offer and whether an SLA
was breached, limited to what the member may see (``Access.sees_handoff``: a manager their
team's and the pool's for doctors with no rep, a rep their own doctors' and those offered to
them, an admin all).
``StoreHandoffDesk`` reads them from the handoff skill's store (each doctor's open handoff;
the system of record will list them with one query), and each rep's response times over a
period from the system of record's handoff projection (``records.analytics.handoff_figures``,
the same SQL the analytics page's response times come from).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from bot.profiles import DoctorProfile
from bot.services import Services
from records.analytics import AnalyticsQuery
from skills import handoff
from skills.handoff.roster import Role, Roster
from skills.handoff.service import BOTH_LANES, SLA_SCHEDULE
from skills.handoff.state import Handoff, HandoffStatus
from skills.roles.policy import access_of

OPEN_END: Final = datetime.max.replace(tzinfo=UTC)  # "since then": the period has no end


def team_members(roster: Roster, team: str) -> list[str]:
    """The reps of ``team`` (userids, sorted)."""
    return sorted(userid for userid, rep in roster.reps.items() if rep.team == team)


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
        """Per rep of the member's team (an admin's: every rep; a rep's: their own), handoffs
        since ``since``."""
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
            if profile is None or profile.contact is None:
                continue
            running = await self._handoffs.store.open_for(
                profile.contact.conversation_key, BOTH_LANES
            )
            if running is None or not access.sees_handoff(manager, profile, running):
                continue
            sla = due.get(running.handoff_id) if running.status is HandoffStatus.OFFERED else None
            late = sla is not None and at >= sla
            rows.append(HandoffRow(running, profile, sla, running.stage_index > 0 or late))
        return sorted(rows, key=lambda row: (not row.breached, row.handoff.requested_at))

    async def response_times(self, manager: str, since: datetime) -> list[RepTimes]:
        """From the system of record: handoffs requested since ``since`` taken over by a rep
        of the member's team (with how long the doctor waited), and the offers they declined
        since then."""
        records = self._services.records
        if records is None:
            return []
        roster = self._handoffs.roster
        reps: tuple[str, ...] | None = None
        roles = roster.roles_of(manager)
        if Role.MANAGER in roles and Role.ADMIN not in roles:
            team = roster.team_of(manager)
            reps = tuple(team_members(roster, team)) if team else ()
        elif Role.ADMIN not in roles:  # a rep: their own figures only
            reps = (manager,)
        figures = await records.handoff_figures(AnalyticsQuery((since,), OPEN_END, reps=reps))
        taken = {row.rep_id: row for row in figures.per_rep}
        return [
            RepTimes(
                rep,
                taken[rep].taken if rep in taken else 0,
                taken[rep].median_s if rep in taken else None,
                taken[rep].slowest_s if rep in taken else None,
                figures.declined_by.get(rep, 0),
            )
            for rep in sorted(set(taken) | set(figures.declined_by))
        ]
