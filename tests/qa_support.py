"""Shared pieces of the Q&A tests: the test library, a runtime over it, reply checks."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot import wiring
from bot.dispatcher import Dispatcher
from bot.llm import LLMClient
from bot.middlewares import AuditMiddleware, ConversationStateMiddleware, TelemetryMiddleware
from bot.models import (
    Channel,
    InboundMessage,
    Locale,
    MenuReply,
    MessageKind,
    SenderType,
    TextReply,
)
from bot.profiles import ProfileStore
from bot.runtime import build_runtime
from bot.services import Services
from bot.settings import Settings
from bot.storage.memory import MemoryStorage
from knowledge.base import KnowledgeBase
from skills import help as help_skill
from skills import qa
from skills.qa import answer as texts
from skills.qa.textutil import sentences
from skills.roles.guard import RepAccessGuard
from tests.helpers import RecordingSender

LIBRARY = Path(__file__).parent / "qa_library"
_ids = itertools.count()


def build_bot(
    kb: KnowledgeBase | None,
    *,
    llm: LLMClient | None = None,
    full: bool = False,
    **settings: Any,
) -> tuple[Services, Dispatcher, RecordingSender]:
    """The Q&A skill behind the core middlewares (``full``: the whole production wiring).

    Without ``full`` the other skills (adverse-event screening, meetings) stay out, so a
    guardrail case is judged on what the Q&A skill itself replies.
    """
    sender = RecordingSender()
    services, dispatcher = build_runtime(
        Settings(kb_sample_library=False, **settings),
        MemoryStorage(),
        senders={Channel.CONSOLE: sender},
        knowledge=kb,
        llm=llm,
    )
    if full:
        return services, dispatcher, sender
    isolated = Dispatcher(services)
    isolated.add_middleware(TelemetryMiddleware())
    isolated.add_middleware(
        ConversationStateMiddleware(services.storage, services.settings.conversation_ttl_s)
    )
    isolated.add_middleware(AuditMiddleware())
    isolated.add_handler_middleware(RepAccessGuard())
    isolated.include_router(qa.create_form_router(services, wiring.PRIORITY_FORMS))
    isolated.include_router(help_skill.create_router(services, wiring.PRIORITY_HELP))
    isolated.include_router(qa.create_router(services, wiring.PRIORITY_QA))
    isolated.include_router(help_skill.create_fallback_router(services, wiring.PRIORITY_FALLBACK))
    return services, isolated, sender


def message(
    text: str,
    *,
    user: str = "doc1",
    member: bool = False,
    click: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        message_id=f"m{next(_ids)}",
        channel=Channel.CONSOLE,
        conversation_key=f"console:{'rep' if member else 'doctor'}:{user}",
        sender_id=user,
        sender_type=SenderType.MEMBER if member else SenderType.EXTERNAL,
        kind=MessageKind.CLICK if click else MessageKind.TEXT,
        text=text,
        click_id=click,
    )


def reply_texts(replies: Iterable[Any]) -> list[str]:
    return [r.text for r in replies if isinstance(r, TextReply)]


def menu_ids(replies: Iterable[Any]) -> list[str]:
    return [o.id for r in replies if isinstance(r, MenuReply) for o in r.options]


def fixed_sentences() -> set[str]:
    """Every sentence of the skill's standard wording, both languages."""
    found: set[str] = set()
    for locale in Locale:
        for make in (
            texts.no_information,
            texts.off_label,
            texts.comparative,
            texts.physician_decision,
            texts.individual_no_information,
            texts.injection_notice,
            texts.hcp_only,
        ):
            found.update(sentences(make(locale)))
        for language in ("zh", "en", "another"):
            found.update(sentences(texts.source_language(locale, language)))
    return found


def approved_sentences(kb: Any, today: Any) -> set[str]:
    """Sentences of the documents visible today (approved, inside validity)."""
    found: set[str] = set()
    for meta in kb.list_documents():
        if meta.status == "approved" and meta.expires_on >= today:
            for _, _, text in kb.document_chunks(meta.doc_id):
                found.update(sentences(text))
    return found


def unapproved_statements(text: str, allowed: set[str]) -> list[str]:
    """Sentences of a reply that are neither approved content, a citation nor standard wording."""
    bad = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("来源：", "Source:", "[")):
            continue
        bad.extend(s for s in sentences(line) if s not in allowed)
    return bad


async def verified_bot(kb: KnowledgeBase | None) -> tuple[Services, Dispatcher]:
    """The Q&A runtime of ``build_bot`` with doctor "doc1" verified (HCP content visible)."""
    services, dispatcher, _ = build_bot(kb)
    profiles = ProfileStore(services.storage)
    profile = await profiles.get_or_create("doc1")
    profile.verified = True
    await profiles.save(profile)
    return services, dispatcher


async def cited_for(kb: KnowledgeBase | None, text: str) -> list[str]:
    """The doc ids a verified doctor's one question was answered from, in citation order."""
    _, dispatcher = await verified_bot(kb)
    ctx = await dispatcher.feed(message(text))
    return [hit["doc_id"] for hit in ctx.data["audit_qa"].get("cited", [])]
