"""Assembly of the dispatcher: which middlewares and skills run, in which order.

Priorities are explicit and listed here in one place (higher runs first).
"""

from __future__ import annotations

from bot.dispatcher import Dispatcher
from bot.middlewares import AuditMiddleware, ConversationStateMiddleware, TelemetryMiddleware
from bot.services import Services
from skills import handoff, meetings
from skills import help as help_skill

PRIORITY_HANDOFF = 100  # explicit requests for a rep, card clicks, rep commands
PRIORITY_FORMS = 90  # active multi-turn forms (meeting registration, ...)
PRIORITY_MEETINGS = 50  # academic meetings: doctor flows and rep commands
PRIORITY_HELP = 40  # greetings, the main menu, unsupported media
PRIORITY_FALLBACK = 0  # whatever nothing else handled


def build_dispatcher(services: Services) -> Dispatcher:
    dispatcher = Dispatcher(services)
    dispatcher.add_middleware(TelemetryMiddleware())
    dispatcher.add_middleware(
        ConversationStateMiddleware(services.storage, services.settings.conversation_ttl_s)
    )
    dispatcher.add_middleware(AuditMiddleware())
    # (adverse-event screening goes here, before the human-mode gate)
    dispatcher.add_middleware(handoff.create_middleware(services))
    dispatcher.include_router(handoff.create_router(services, PRIORITY_HANDOFF))
    dispatcher.include_router(meetings.create_form_router(services, PRIORITY_FORMS))
    dispatcher.include_router(meetings.create_router(services, PRIORITY_MEETINGS))
    dispatcher.include_router(help_skill.create_router(services, PRIORITY_HELP))
    dispatcher.include_router(help_skill.create_fallback_router(services, PRIORITY_FALLBACK))
    return dispatcher
