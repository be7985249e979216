"""Assembly of the dispatcher: which middlewares and skills run, in which order.

Priorities are explicit and listed here in one place (higher runs first).
"""

from __future__ import annotations

import asyncio

import privacy
from bot.dispatcher import Dispatcher
from bot.forms import set_question_answerer
from bot.middlewares import (
    AuditMiddleware,
    ConversationStateMiddleware,
    FloodGuardMiddleware,
    InputCapMiddleware,
    TelemetryMiddleware,
)
from bot.services import Services
from media import create_middleware as media_middleware
from skills import handoff, meetings
from skills import help as help_skill
from skills import qa as qa_skill
from skills.adverse_events import acknowledge as pv_acknowledge
from skills.adverse_events import form as ae_form
from skills.adverse_events import screening as ae_screening
from skills.adverse_events.confirmation import QuestionGauge
from skills.adverse_events.service import ae_service
from skills.qa.classifier import load_heads
from skills.qa.service import CLASSIFY_CHARS, QAService
from skills.qa.service import service_of as qa_service
from skills.roles import rep_help
from skills.roles.guard import RepAccessGuard

PRIORITY_HANDOFF = 100  # explicit requests for a rep, card clicks, rep commands
PRIORITY_PRIVACY = 95  # the notice's answers, "my data" / "delete my data", the opt-out
PRIORITY_FORMS = 90  # a form in progress (adverse-event report, meeting registration, HCP
# verification, MI question; the Q&A form router also takes the rep command /verify)
PRIORITY_PV_ACK = 90  # PV members acknowledging a case card (click ids ae:ack:*)
PRIORITY_MEETINGS = 50  # academic meetings: doctor flows and rep commands
PRIORITY_REP_HELP = 45  # corp members' messages no rep command took: the rep help
PRIORITY_HELP = 40  # greetings, the main menu, unsupported media
PRIORITY_QA = 10  # product and literature questions: the catch-all for text
PRIORITY_FALLBACK = 0  # whatever nothing else handled


def build_dispatcher(services: Services) -> Dispatcher:
    dispatcher = Dispatcher(services)
    dispatcher.add_middleware(TelemetryMiddleware())
    settings = services.settings
    dispatcher.add_middleware(
        ConversationStateMiddleware(
            services.storage,
            settings.conversation_ttl_s,
            lease_s=settings.conversation_lock_lease_s,
            wait_warn_s=settings.lock_wait_warn_s,
        )
    )
    dispatcher.add_middleware(AuditMiddleware())
    dispatcher.add_middleware(media_middleware(services))  # voice and images read before screening
    dispatcher.add_middleware(ae_screening.create_middleware(services))  # every doctor message
    dispatcher.add_middleware(privacy.create_middleware(services))  # after AE screening
    services.welcome_hooks.append(privacy.create_welcome_hook(services))  # kf welcome
    dispatcher.add_middleware(handoff.create_middleware(services))  # human mode: bot silent
    dispatcher.add_middleware(InputCapMiddleware(settings.max_text_bytes))  # skills read 2 KiB
    dispatcher.add_middleware(
        FloodGuardMiddleware(services.storage, services.settings.flood_messages_per_min)
    )
    # Every matched handler: rep-side routes (flagged with their action) only for corp members
    # allowed by role and relationship; the doctors' routes only for doctors.
    dispatcher.add_handler_middleware(RepAccessGuard())
    # "Is that a known effect?" sent with a report is answered by Q&A from approved content.
    ae_service(services).answer_known_effect_question = qa_service(services).answer_side_question
    # A question Q&A's classifier is sure of skips the AE confirmation question (see screening).
    ae_service(services).question_gauge = _question_gauge(qa_service(services))
    # A question typed inside any form is answered by Q&A; the form then asks again.
    set_question_answerer(services, qa_service(services).answer_side_question)
    # A longer meetings request ("I would like to cancel my registration") that the meetings
    # router's short-text filters let through is recognised by Q&A's classifier and shown here.
    qa_service(services).meeting_route = meetings.doctor_view(services)
    dispatcher.include_router(handoff.create_router(services, PRIORITY_HANDOFF))
    dispatcher.include_router(privacy.create_router(services, PRIORITY_PRIVACY))
    dispatcher.include_router(ae_form.create_router(services, PRIORITY_FORMS))
    dispatcher.include_router(pv_acknowledge.create_router(services, PRIORITY_PV_ACK))
    dispatcher.include_router(meetings.create_form_router(services, PRIORITY_FORMS))
    dispatcher.include_router(qa_skill.create_form_router(services, PRIORITY_FORMS))
    dispatcher.include_router(meetings.create_router(services, PRIORITY_MEETINGS))
    dispatcher.include_router(rep_help.create_router(services, PRIORITY_REP_HELP))
    dispatcher.include_router(help_skill.create_router(services, PRIORITY_HELP))
    dispatcher.include_router(qa_skill.create_router(services, PRIORITY_QA))
    dispatcher.include_router(help_skill.create_fallback_router(services, PRIORITY_FALLBACK))
    return dispatcher


def _question_gauge(qa: QAService) -> QuestionGauge:
    """Q&A's category head over the message's embedding: (top category, its probability)."""

    async def gauge(text: str) -> tuple[str, float]:
        vector = await asyncio.to_thread(qa.vector, text[:CLASSIFY_CHARS])
        prediction = load_heads()["category"].predict(vector)
        return prediction.label, prediction.probability

    return gauge
