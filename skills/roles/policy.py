"""The authorisation rules: an ``Action`` by a member on a ``Subject`` is allowed or not.

Role first (a member outside the roster holds none and may do nothing but ask for help), then
the relationship: a rep acts on the doctors assigned to them, on conversations offered to them
and on those they took over; backups and the on-duty pool when offered; a manager on every
doctor of their team; an admin on everything. PV acknowledgements need the PV role whoever
asks; medical-information handoffs go to MSLs only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.profiles import DoctorProfile
from bot.services import Services
from skills import handoff
from skills.handoff.roster import Role, Roster
from skills.handoff.service import BOTH_LANES
from skills.handoff.state import LANE_MI, Handoff, HandoffStatus, HandoffStore
from skills.roles.actions import Action, Subject

_EXTRAS_KEY: Final = "roles"

_FIELD: Final = frozenset({Role.REP, Role.BACKUP, Role.MANAGER, Role.ADMIN})
# The roles that may attempt each action at all (the relationship is checked after).
ROLES_NEEDED: Final[Mapping[Action, frozenset[Role]]] = {
    Action.MEETINGS: _FIELD | {Role.MSL},
    Action.INVITE: _FIELD,
    Action.ATTENDEES: _FIELD | {Role.MSL},
    Action.PROFILE: _FIELD | {Role.MSL},
    Action.TAKEOVER: _FIELD | {Role.MSL},
    Action.RELEASE: _FIELD | {Role.MSL},
    Action.HANDOFF_ACCEPT: _FIELD | {Role.MSL},
    Action.HANDOFF_DECLINE: _FIELD | {Role.MSL},
    Action.VERIFY: _FIELD,
    Action.PV_ACK: frozenset({Role.PV}),
}


class Access:
    """The roster and the open handoffs, read to decide what a member may do."""

    def __init__(self, roster: Roster, handoffs: HandoffStore) -> None:
        self.roster = roster
        self._handoffs = handoffs

    def roles(self, userid: str) -> frozenset[Role]:
        return self.roster.roles_of(userid)

    def manages(self, userid: str, profile: DoctorProfile) -> bool:
        """An admin, or the manager of the team of the doctor's rep."""
        roles = self.roles(userid)
        if Role.ADMIN in roles:
            return True
        team = self.roster.team_of(userid)
        assigned = self.roster.assigned_rep(profile)
        return Role.MANAGER in roles and team is not None and self.roster.team_of(assigned) == team

    def sees_handoff(self, userid: str, profile: DoctorProfile, running: Handoff) -> bool:
        """Whether the console lists ``running`` to ``userid`` (least privilege).

        An admin and the manager of the doctor's rep's team; the reps it is offered to now (the
        on-duty pool included) or, once taken, the rep who took it (the others offered it no
        longer see it); the doctor's own rep, except for a medical-information handoff, which is
        MSLs' business. A doctor with no assigned rep is in no team, so their handoffs go to the
        pool: the managers of the teams of the pool reps it is offered to (or of the rep who
        took it) see it too.
        """
        if self.manages(userid, profile):
            return True
        candidates = (*running.offered_to, running.taken_by or "")
        involved = {rep for rep in candidates if rep and _holds(rep, running)}
        assigned = self.roster.assigned_rep(profile)
        if userid in involved or (userid == assigned and running.lane != LANE_MI):
            return True
        team = self.roster.team_of(userid)
        return (
            Role.MANAGER in self.roles(userid)
            and assigned is None
            and team is not None
            and any(self.roster.team_of(rep) == team for rep in involved)
        )

    async def open_handoff(self, profile: DoctorProfile) -> Handoff | None:
        if profile.contact is None:
            return None
        return await self._handoffs.open_for(profile.contact.conversation_key, BOTH_LANES)

    async def may_act_on(self, userid: str, profile: DoctorProfile) -> bool:
        """Assigned to them, offered to them now, taken over by them, their team, or admin."""
        if self.manages(userid, profile) or userid == self.roster.assigned_rep(profile):
            return True
        running = await self.open_handoff(profile)
        return running is not None and _holds(userid, running)

    async def allows(self, userid: str, action: Action, subject: Subject) -> bool:
        if action is Action.HELP:
            return True
        if not self.roles(userid) & ROLES_NEEDED[action]:
            return False
        if action is Action.TAKEOVER:
            return all([await self._may_take_over(userid, doctor) for doctor in subject.doctors])
        if action in (Action.HANDOFF_ACCEPT, Action.HANDOFF_DECLINE):
            return subject.handoff is None or self._may_answer_card(userid, subject)
        if action is Action.VERIFY:
            return all(
                userid in subject.offered
                or userid == self.roster.assigned_rep(doctor)
                or self.manages(userid, doctor)
                for doctor in subject.doctors
            )
        if action in (Action.PROFILE, Action.RELEASE, Action.INVITE):
            return all([await self.may_act_on(userid, doctor) for doctor in subject.doctors])
        return True  # MEETINGS, ATTENDEES (filtered per attendee), PV_ACK: the role decides

    async def _may_take_over(self, userid: str, doctor: DoctorProfile) -> bool:
        """A conversation offered to others is theirs (or a manager's) to take."""
        running = await self.open_handoff(doctor)
        if running is not None and running.status is HandoffStatus.OFFERED:
            return userid in running.offered_to or self.manages(userid, doctor)
        return await self.may_act_on(userid, doctor)

    def _may_answer_card(self, userid: str, subject: Subject) -> bool:
        running = subject.handoff
        assert running is not None
        if userid in running.ever_offered or Role.ADMIN in self.roles(userid):
            return True
        if running.lane == LANE_MI:  # medical information: MSLs only, never sales
            return False
        return any(self.manages(userid, doctor) for doctor in subject.doctors)


def _holds(userid: str, running: Handoff) -> bool:
    if running.status is HandoffStatus.ACTIVE:
        return running.taken_by == userid
    return userid in running.offered_to


def access_of(services: Services) -> Access:
    """The process's ``Access`` (one per ``Services``, over the handoff service's roster)."""
    access = services.extras.get(_EXTRAS_KEY)
    if not isinstance(access, Access):
        service = handoff.get_service(services)
        access = Access(service.roster, service.store)
        services.extras[_EXTRAS_KEY] = access
    return access
