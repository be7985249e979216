"""Builds the per-process service container and dispatcher from opened resources.

Shared by the webhook app and the console chat so both run exactly the same bot.
"""

from __future__ import annotations

from typing import Any

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


def build_runtime(
    settings: Settings,
    storage: Storage,
    *,
    metrics: Metrics | None = None,
    senders: dict[Channel, ChannelSender] | None = None,
    clock: Clock = system_clock,
    **resources: Any,
) -> tuple[Services, Dispatcher]:
    """Create the services (with optional ``knowledge``, ``llm``, ``wecom``) and dispatcher."""
    metrics = metrics or Metrics()
    services = Services(
        settings=settings,
        storage=storage,
        metrics=metrics,
        audit=AuditLog(storage),
        scheduler=ScheduleRunner(storage, clock, metrics),
        clock=clock,
        senders=dict(senders or {}),
        **resources,
    )
    return services, build_dispatcher(services)
