"""Pick the storage backend the settings ask for."""

from __future__ import annotations

from bot.settings import Settings
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from bot.storage.redis import DEFAULT_PREFIX, RedisStorage


def create_storage(settings: Settings, prefix: str | None = None) -> Storage:
    """``RedisStorage`` when ``settings.redis_url`` is set (shared by replicas), else memory.

    ``prefix`` overrides the Redis key prefix (default ``vrep:``), e.g. for a second deployment.
    Nothing connects yet: the first command does, so a down Redis shows up as ``StorageError``.
    """
    if not settings.redis_url:
        return MemoryStorage()
    return RedisStorage.from_url(settings.redis_url, prefix=prefix or DEFAULT_PREFIX)
