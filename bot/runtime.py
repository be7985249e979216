"""Builds the per-process service container and dispatcher from opened resources.

Shared by the webhook app and the console chat so both run exactly the same bot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.audit import AuditLog
from bot.dispatcher import Dispatcher
from bot.metrics import Metrics
from bot.models import Channel
from bot.outbound import ChannelSender
from bot.scheduler import Clock, ScheduleRunner
from bot.services import Services, system_clock
from bot.settings import Settings
from bot.storage.base import Storage
from bot.wiring import build_dispatcher

if TYPE_CHECKING:
    from bot.llm import LLMClient
    from bot.wecom.client import WeComClient
    from knowledge.base import KnowledgeBase
    from media import MediaReader
    from records import Records


def build_runtime(
    settings: Settings,
    storage: Storage,
    *,
    metrics: Metrics | None = None,
    senders: dict[Channel, ChannelSender] | None = None,
    clock: Clock = system_clock,
    knowledge: KnowledgeBase | None = None,
    llm: LLMClient | None = None,
    wecom: WeComClient | None = None,
    records: Records | None = None,
    media: MediaReader | None = None,
) -> tuple[Services, Dispatcher]:
    """Create the services (with the optional resources that are configured) and dispatcher."""
    metrics = metrics or Metrics()
    services = Services(
        settings=settings,
        storage=storage,
        metrics=metrics,
        audit=AuditLog(storage),  # the stream; records/sink.py moves it into the chain
        scheduler=ScheduleRunner(storage, clock, metrics),
        clock=clock,
        senders=dict(senders or {}),
        knowledge=knowledge,
        llm=llm,
        wecom=wecom,
        records=records,
        media=media,
    )
    return services, build_dispatcher(services)
