"""Choose the storage backend from the settings."""

from __future__ import annotations

from bot.settings import Settings
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage


def create_storage(settings: Settings) -> Storage:
    """Redis when ``VREP_REDIS_URL`` is set, else in-process memory."""
    if settings.redis_url:
        from bot.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()
