"""The system of record: AE cases and their lifecycle, MI requests, consent records, HCP
verifications, meeting registrations and the tamper-evident compliance audit trail, in a
relational database (SQLite embedded, PostgreSQL in production; SQLAlchemy 2 async, Alembic).

The seam:

- ``open_records(settings)``: async context manager yielding ``Records`` (migrated to head
  first unless ``VREP_DATABASE_UPGRADE_ON_START=false``); the app holds it under
  ``bot.keys.RECORDS`` and hands it to skills as ``Services.records``.
- ``Records`` (``records.service``): its writers and readers are documented there; what they
  take and return are the frozen dataclasses of ``records.results`` (import them from there;
  the writers' snapshots are re-exported here for the stores that call them).
- ``schema_status(records)`` for ``/readyz``; ``install_retention`` arms the daily job.

Storage (Redis or the embedded store) keeps queues, locks, dedup and conversation state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from records.chain import ChainCheck
from records.database import (
    RecordsUnavailable,
    create_engine,
    database_url,
    local_url,
    upgrade,
)
from records.database import schema_status as _schema_status
from records.results import CaseQuery, CaseSnapshot, DeliverySnapshot, MISnapshot, SchemaStatus
from records.retention import RetentionPolicy, install_retention
from records.service import Records

log = logging.getLogger(__name__)

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0

__all__ = [
    "CaseQuery",
    "CaseSnapshot",
    "ChainCheck",
    "DeliverySnapshot",
    "MISnapshot",
    "Records",
    "RecordsUnavailable",
    "RetentionPolicy",
    "install_retention",
    "open_records",
    "schema_status",
]


@asynccontextmanager
async def open_records(
    settings: Settings, *, migrate: bool | None = None, wait: bool = False
) -> AsyncIterator[Records]:
    """The records database, migrated to head first (``migrate`` overrides the setting).

    A database that cannot be reached raises ``RecordsUnavailable`` (a ``StorageError``: the
    CLI says so in one line) — unless ``wait``: the app starts anyway, ``/readyz`` says 503 and
    the migration is retried in the background until the database answers.
    """
    with local_url(database_url(settings)) as (url, durable):
        async with _opened(create_engine(url, durable=durable), settings, migrate, wait) as records:
            yield records


@asynccontextmanager
async def _opened(
    engine: AsyncEngine, settings: Settings, migrate: bool | None, wait: bool
) -> AsyncIterator[Records]:
    retrying: asyncio.Task[None] | None = None
    try:
        if settings.database_upgrade_on_start if migrate is None else migrate:
            try:
                await upgrade(engine)
            except RecordsUnavailable:
                if not wait:
                    raise
                log.error("records database unreachable at start-up; retrying", exc_info=True)
                retrying = asyncio.create_task(_upgrade_when_reachable(engine))
        yield Records(engine)
    finally:
        if retrying is not None:
            retrying.cancel()
            with suppress(asyncio.CancelledError):
                await retrying
        await engine.dispose()


async def _upgrade_when_reachable(engine: AsyncEngine) -> None:
    delay = RETRY_FIRST_S
    while True:
        await asyncio.sleep(delay)
        try:
            await upgrade(engine)
        except RecordsUnavailable:
            delay = min(delay * 2, RETRY_MAX_S)
            continue
        log.info("records database reachable again: schema at head")
        return


async def schema_status(records: Records) -> SchemaStatus:
    """The schema revision of the database and the newest the code knows."""
    return await _schema_status(records.engine)
