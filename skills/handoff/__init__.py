"""Human handoff: decides when a rep is needed, hands the conversation over with what the rep
must know, steps back while the rep chats, and returns when the rep is done.

Wiring (``bot/wiring.py``): ``create_router`` at priority 100, ``create_middleware`` after
adverse-event screening; ``create_worker`` runs next to the inbound workers (``bot/app.py``).
All three share one ``HandoffService`` per ``Services`` (in ``services.extras["handoff"]``).
"""

from __future__ import annotations

from bot.dispatcher import Router
from bot.services import Services
from bot.settings import Settings, SettingsError
from skills.handoff.kf_control import WeComKfControl
from skills.handoff.middleware import HumanModeGate
from skills.handoff.roster import Role, Roster, load_roster
from skills.handoff.service import SLA_SCHEDULE, HandoffService
from skills.handoff.worker import EscalationWorker

SKILL = "handoff"


def load_checked_roster(settings: Settings, *, wecom_app: bool) -> Roster:
    """The roster of ``VREP_REP_ROSTER`` (or the sample), with ``VREP_PV_USERS`` as PV officers.

    With the WeCom app (``wecom_app``), PV case cards and their acknowledge clicks reach members,
    so a set-up without any PV officer is refused rather than leave every acknowledgement
    refused. Start-up calls this before it opens anything slow (``check_set_up``), so a
    malformed roster stops the process in a second instead of after the models have loaded.
    """
    roster = load_roster(settings.rep_roster, settings.timezone)
    roster.with_pv_officers(settings.pv_user_ids)
    if wecom_app and not roster.members_with(Role.PV):
        raise SettingsError(
            "invalid VREP_PV_USERS: PV case cards go through the WeCom app but no PV officer "
            "is defined (set VREP_PV_USERS or give a member of VREP_REP_ROSTER the role pv)"
        )
    return roster


def check_set_up(settings: Settings, *, wecom_app: bool) -> None:
    """Refuse a malformed roster or a missing PV officer (``SettingsError``) before start-up."""
    load_checked_roster(settings, wecom_app=wecom_app)


def get_service(services: Services) -> HandoffService:
    """The process's handoff service (roster loaded on first use, see ``load_checked_roster``)."""
    service = services.extras.get(SKILL)
    if not isinstance(service, HandoffService):
        roster = load_checked_roster(services.settings, wecom_app=services.wecom is not None)
        kf = WeComKfControl(services.wecom) if services.wecom is not None else None
        service = HandoffService(services, roster, kf)
        services.extras[SKILL] = service
    return service


def create_router(services: Services, priority: int) -> Router:
    # imported here: the router pulls in skills.qa (the LLM client, the encoder), seconds that
    # a roster check (``check_set_up`` in ``virtualrep chat``) should not wait for
    from skills.handoff.router import create_handoff_router

    service = get_service(services)
    services.scheduler.register(SLA_SCHEDULE, service.on_sla_due)
    return create_handoff_router(service, priority)


def create_middleware(services: Services) -> HumanModeGate:
    return HumanModeGate(get_service(services))


def create_worker(services: Services) -> EscalationWorker:
    return EscalationWorker(get_service(services))
