"""Assembly of the dispatcher: which middlewares and skills run, in which order.

Priorities are explicit and listed here in one place (higher runs first).
"""

from __future__ import annotations

from bot.dispatcher import Dispatcher
from bot.middlewares import AuditMiddleware, ConversationStateMiddleware, TelemetryMiddleware
from bot.services import Services
from skills import help as help_skill
from skills import qa as qa_skill

PRIORITY_QA_FORMS = 90  # Q&A forms: HCP verification, MI question; rep command /verify
PRIORITY_HELP = 40  # greetings, the main menu, unsupported media
PRIORITY_QA = 10  # product and literature questions: the catch-all for text
PRIORITY_FALLBACK = 0  # whatever nothing else handled


def build_dispatcher(services: Services) -> Dispatcher:
    dispatcher = Dispatcher(services)
    dispatcher.add_middleware(TelemetryMiddleware())
    dispatcher.add_middleware(
        ConversationStateMiddleware(services.storage, services.settings.conversation_ttl_s)
    )
    dispatcher.add_middleware(AuditMiddleware())
    dispatcher.include_router(qa_skill.create_form_router(services, PRIORITY_QA_FORMS))
    dispatcher.include_router(help_skill.create_router(services, PRIORITY_HELP))
    dispatcher.include_router(qa_skill.create_router(services, PRIORITY_QA))
    dispatcher.include_router(help_skill.create_fallback_router(services, PRIORITY_FALLBACK))
    return dispatcher
