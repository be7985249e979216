"""The service container handed to middlewares and skills (through ``Context.services``).

It is built once per process by the app (or the console chat) from the resources that the
app's cleanup contexts own; skills never create their own clients or read configuration.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from bot.audit import AuditLog
from bot.metrics import Metrics
from bot.models import Channel, InboundMessage, MenuReply
from bot.outbound import ChannelSender
from bot.scheduler import Clock, NoSender, ScheduleRunner
from bot.settings import Settings
from bot.storage.base import Storage

if TYPE_CHECKING:  # heavy imports (Chroma, HTTP clients), needed only by the type checker
    from bot.llm import LLMClient
    from bot.wecom.client import WeComClient
    from knowledge.base import KnowledgeBase
    from media import MediaReader
    from records import Records


WelcomeHook = Callable[[InboundMessage, MenuReply], Awaitable[MenuReply]]
"""Adds to the kf welcome (``enter_session``) what a capability must show this doctor first."""
WELCOME_SHOWN = "welcome_options"
"""``extra`` of a kf ``enter_session`` event: the option ids of the welcome the doctor got."""


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    storage: Storage
    metrics: Metrics
    audit: AuditLog
    scheduler: ScheduleRunner
    clock: Clock = system_clock
    senders: dict[Channel, ChannelSender] = field(default_factory=dict)
    # Optional resources, present when configured (each owned by its own cleanup context).
    knowledge: KnowledgeBase | None = None
    llm: LLMClient | None = None
    wecom: WeComClient | None = None
    records: Records | None = None  # the system of record (records/), when opened
    media: MediaReader | None = None  # voice notes, images and files as text (media/)
    extras: dict[str, Any] = field(default_factory=dict)  # per-skill services, by skill name
    welcome_hooks: list[WelcomeHook] = field(default_factory=list)  # applied in order (kf)

    def sender(self, channel: Channel) -> ChannelSender:
        try:
            return self.senders[channel]
        except KeyError:
            raise NoSender(channel) from None

    def __post_init__(self) -> None:
        self.scheduler.can_send = lambda channel: channel in self.senders


class Resources(TypedDict, total=False):
    """What a process opened for the services (each optional; see ``Services``)."""

    metrics: Metrics
    senders: dict[Channel, ChannelSender]
    clock: Clock
    knowledge: KnowledgeBase | None
    llm: LLMClient | None
    wecom: WeComClient | None
    records: Records | None
    media: MediaReader | None


def build_services(
    settings: Settings,
    storage: Storage,
    *,
    audit_into_chain: bool = False,
    **opened: Unpack[Resources],
) -> Services:
    """The service container alone, for a tool that runs no conversation (an ops command, the
    console's test host): the services the bot has, without the dispatcher (which loads the
    skills' models).

    Audit records go to the storage stream, which the app's audit sink (``records/sink.py``)
    moves into the chain; ``audit_into_chain`` appends them to the chain of ``records``
    directly instead, for an ops command that runs no sink.
    """
    metrics = opened.get("metrics") or Metrics()
    clock = opened.get("clock", system_clock)
    records = opened.get("records")
    return Services(
        settings=settings,
        storage=storage,
        metrics=metrics,
        audit=AuditLog(storage, records if audit_into_chain else None),
        scheduler=ScheduleRunner(storage, clock, metrics),
        clock=clock,
        senders=dict(opened.get("senders") or {}),
        knowledge=opened.get("knowledge"),
        llm=opened.get("llm"),
        wecom=opened.get("wecom"),
        records=records,
        media=opened.get("media"),
    )
