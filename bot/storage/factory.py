"""Pick the storage backend the settings ask for, and refuse a Redis that forgets."""

from __future__ import annotations

import logging

from bot.settings import Settings
from bot.storage.base import Storage, StorageError
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage
from bot.storage.sqlite import SqliteStorage

log = logging.getLogger(__name__)

VOLATILE_OVERRIDE = "VREP_REDIS_ALLOW_VOLATILE=true"


class VolatileStorageError(StorageError):
    """Redis would lose acknowledged state on a restart; ``str(err)`` is the operator's line."""


def create_storage(settings: Settings) -> Storage:
    """``RedisStorage`` when ``settings.redis_url`` is set (shared by replicas), else the
    durable ``SqliteStorage`` in ``<data_dir>/state.sqlite3``, or ``MemoryStorage`` when
    ``VREP_EMBEDDED_STORAGE=memory`` (tests only: everything is lost on exit).

    Nothing connects yet: the first command does, so a down Redis shows up as ``StorageError``
    there (or as ``ping() == False``), not here.
    """
    if settings.redis_url:
        return RedisStorage.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    if settings.embedded_storage == "memory":
        log.warning("VREP_EMBEDDED_STORAGE=memory: all state is lost when the process exits")
        return MemoryStorage()
    return SqliteStorage.in_data_dir(settings.data_dir)


async def require_persistence(storage: Storage, settings: Settings) -> None:
    """Refuse a Redis without AOF (``VolatileStorageError``) unless the operator allowed it.

    Without AOF a restarted Redis forgets dedup claims, queues and counters: old messages are
    answered again, a case is posted twice and case numbers restart. RDB snapshots lose the
    last minutes, so they need the override too. An unreachable Redis is not refused here
    (the service starts and waits for it, see /readyz; a command reports the outage).
    """
    if not isinstance(storage, RedisStorage) or settings.redis_allow_volatile:
        return
    try:
        config = await storage.persistence()
    except StorageError as exc:  # the outage itself is reported by whoever uses the storage
        log.debug("Redis persistence not checked, Redis is unreachable: %s", exc)
        return
    if config is None:
        raise VolatileStorageError(
            "cannot read Redis persistence (CONFIG GET is not allowed on this server); if it "
            f"persists with AOF (appendonly yes), set {VOLATILE_OVERRIDE} to start anyway"
        )
    if config.get("appendonly") == "yes":
        return
    save = config.get("save")
    kept = f"RDB snapshots only, save {save!r}" if save else "no RDB snapshots either"
    raise VolatileStorageError(
        f"Redis has no AOF persistence (appendonly no; {kept}): a Redis restart would replay "
        "old messages and reuse case ids. Turn it on (redis.conf: appendonly yes; live: "
        f"redis-cli CONFIG SET appendonly yes) or set {VOLATILE_OVERRIDE} to accept the risk"
    )
