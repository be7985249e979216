"""Shared set-up for the adverse-event tests: a full bot runtime with an injected clock."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.dispatcher import Context, Dispatcher
from bot.llm import LLMClient
from bot.middlewares import load_conversation, save_conversation
from bot.models import (
    Channel,
    ConversationMode,
    InboundMessage,
    MenuReply,
    MessageKind,
    SenderType,
    TextReply,
)
from bot.services import Services, build_services
from bot.settings import Settings, load_settings
from bot.storage.base import Storage
from bot.wiring import build_dispatcher
from knowledge.base import KnowledgeBase
from records import Records
from skills.adverse_events.cases import AECase
from skills.adverse_events.cues import detect_language
from skills.adverse_events.screener import OfflineDetector
from skills.adverse_events.service import AEService, ae_service
from tests.helpers import RecordingSender

_ids = itertools.count(1)


class MovableClock:
    """A wall clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Scripted:
    """What ``ScriptedDetector`` answers for one message (``screener.Detection``)."""

    report: bool
    confirm: bool
    categories: tuple[str, ...]
    score: float
    language: str = "zh"
    is_known_effect_question: bool = False
    evidence: tuple[str, ...] = ()


def case(*categories: str, known_effect_question: bool = False) -> Scripted:
    """A clear report of ``categories`` (an adverse event when none are named)."""
    categories = categories or ("adverse_event",)
    return Scripted(True, False, categories, 0.95, is_known_effect_question=known_effect_question)


def confirm(*categories: str, known_effect_question: bool = False) -> Scripted:
    """An ambiguous candidate: the decision layer may ask the doctor once."""
    categories = categories or ("adverse_event",)
    return Scripted(False, True, categories, 0.5, is_known_effect_question=known_effect_question)


NOTHING = Scripted(False, False, (), 0.0)


class ScriptedDetector:
    """An offline detector (``screener.OfflineDetector``) that answers what the test scripted.

    The decision layer (confirmation question, yes/no read, deferral, audit, forms) is tested
    with messages that are a clear report, a candidate or nothing *by construction*, so a
    retrained model that scores a message differently does not move those tests; what the
    shipped model must do is tested end to end on messages whose outcome PV requires. A text
    that is not scripted is nothing (no report, no candidate); ``screened`` lists every text
    the screener asked about, in order.
    """

    def __init__(self, script: Mapping[str, Scripted]) -> None:
        self._script = dict(script)
        self.screened: list[str] = []

    def detect(self, text: str) -> Scripted:
        self.screened.append(text)
        return replace(self._script.get(text, NOTHING), language=detect_language(text))


def ae_settings(tmp_path: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"pv_users": "pv1,pv2", "pv_export_dir": tmp_path / "pv"}
    return load_settings(**(values | overrides))


@dataclass
class AEBot:
    """The whole bot (dispatcher, middlewares, skills) on a storage, as a doctor talks to it."""

    settings: Settings
    storage: Storage
    clock: MovableClock = field(default_factory=MovableClock)
    console: RecordingSender = field(default_factory=RecordingSender)
    app: RecordingSender = field(default_factory=lambda: RecordingSender(channel=Channel.APP))
    llm: LLMClient | None = None
    knowledge: KnowledgeBase | None = None
    records: Records | None = None  # the system of record, open as in the app (tests/records)
    # The screening's offline detector; None: the shipped model (``service.default_detector``).
    detector: OfflineDetector | None = None

    def __post_init__(self) -> None:
        self.services, self.dispatcher = self.build()

    def build(self) -> tuple[Services, Dispatcher]:
        """A fresh runtime on the same storage: what a restarted process would build
        (``bot.runtime.build_runtime``, with the AE skill's detector chosen first)."""
        services = build_services(
            self.settings,
            self.storage,
            senders={Channel.CONSOLE: self.console, Channel.APP: self.app},
            clock=self.clock,
            llm=self.llm,
            knowledge=self.knowledge,
            records=self.records,
        )
        if self.detector is not None:
            ae_service(services, self.detector)  # created here, so the skill screens with it
        return services, build_dispatcher(services)

    @property
    def ae(self) -> AEService:
        return ae_service(self.services)

    async def say(
        self, text: str, doctor: str = "doc1", *, click_id: str | None = None
    ) -> list[str]:
        """Send a doctor's message; returns the texts (and menu heads) of the replies."""
        ctx = await self.dispatcher.feed(
            InboundMessage(
                message_id=f"m{next(_ids)}",
                channel=Channel.CONSOLE,
                conversation_key=doctor,
                sender_id=doctor,
                sender_type=SenderType.EXTERNAL,
                kind=MessageKind.CLICK if click_id else MessageKind.TEXT,
                text=text,
                click_id=click_id,
                received_at=self.clock.now,
            )
        )
        return reply_texts(ctx)

    async def member_click(self, member: str, click_id: str) -> list[str]:
        ctx = await self.dispatcher.feed(
            InboundMessage(
                message_id=f"m{next(_ids)}",
                channel=Channel.APP,
                conversation_key=f"app:{member}",
                sender_id=member,
                sender_type=SenderType.MEMBER,
                kind=MessageKind.CLICK,
                click_id=click_id,
                received_at=self.clock.now,
            )
        )
        return reply_texts(ctx)

    async def set_mode(self, doctor: str, mode: ConversationMode) -> None:
        """What the handoff skill does when a rep takes over (or releases) a conversation."""
        conversation = await load_conversation(self.storage, doctor)
        assert conversation is not None
        conversation.mode = mode
        await save_conversation(self.storage, conversation, self.settings.conversation_ttl_s)

    async def case(self, case_id: str) -> AECase:
        found = await self.ae.store.read(case_id, reader="test", purpose="assert", at=self.clock())
        assert found is not None
        return found

    async def form_step(self, doctor: str) -> str | None:
        conversation = await load_conversation(self.storage, doctor)
        assert conversation is not None
        return conversation.form.step if conversation.form else None

    async def only_case(self) -> AECase:
        case_ids = await self.ae.store.case_ids()
        assert len(case_ids) == 1, case_ids
        return await self.case(case_ids[0])


async def walk_to(bot: AEBot, step: str, dont_know: str = "不知道") -> list[str]:
    """Answer "don't know" until doc1's report form asks ``step``; the replies to the last
    answer (AssertionError when the form never asks it)."""
    replies: list[str] = []
    for _ in range(12):
        if await bot.form_step("doc1") == step:
            return replies
        replies = await bot.say(dont_know)
    raise AssertionError(f"the form never asked {step}")


def reply_texts(ctx: Context) -> list[str]:
    texts = []
    for reply in ctx.replies:
        if isinstance(reply, TextReply):
            texts.append(reply.text)
        elif isinstance(reply, MenuReply):
            texts.append(reply.head + " " + " / ".join(o.label for o in reply.options))
    return texts
