"""The console's seam to human handoffs (the managers' page).

``HandoffDesk`` lists the open handoffs — offered to reps and waiting, or taken (the
conversation is in human mode) — with the SLA due time of the stage on offer and whether an SLA
was breached, limited to the doctors the member manages (their team's; an admin's: all).
``StoreHandoffDesk`` reads them from the handoff skill's store (each doctor's open handoff;
the system of record will list them with one query).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.profiles import DoctorProfile
from bot.services import Services
from skills import handoff
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


class HandoffDesk(Protocol):
    async def open_handoffs(self, manager: str, at: datetime) -> list[HandoffRow]: ...


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
