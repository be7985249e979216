"""Builds the per-process service container and dispatcher from opened resources.

Shared by the webhook app and the console chat so both run exactly the same bot.
"""

from __future__ import annotations

from typing import Unpack

from bot.dispatcher import Dispatcher
from bot.services import Resources, Services, build_services
from bot.settings import Settings
from bot.storage.base import Storage
from bot.wiring import build_dispatcher


def build_runtime(
    settings: Settings, storage: Storage, **opened: Unpack[Resources]
) -> tuple[Services, Dispatcher]:
    """Create the services (with the optional resources that are configured) and dispatcher."""
    services = build_services(settings, storage, **opened)
    return services, build_dispatcher(services)
