"""Pick the storage backend the settings ask for."""

from __future__ import annotations

from bot.settings import Settings
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage


def create_storage(settings: Settings) -> Storage:
    """``RedisStorage`` when ``settings.redis_url`` is set (shared by replicas), else memory.

    Nothing connects yet: the first command does, so a down Redis shows up as ``StorageError``
    there (or as ``ping() == False``), not here.
    """
    if not settings.redis_url:
        return MemoryStorage()
    return RedisStorage.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
