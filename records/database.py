"""Engines and schema: which database, how SQLite is set up, Alembic upgrade and status.

The URL is ``VREP_DATABASE_URL`` (``postgresql://`` or ``postgresql+asyncpg://``, or any
``sqlite+aiosqlite://``); without it the records live in ``<data_dir>/records.sqlite3`` next
to the embedded store (a file of their own: the store's writer and the records' writer never
wait on each other's lock), or in memory when the embedded store is memory (tests).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.settings import Settings
from bot.storage.base import StorageError
from records.results import SchemaStatus

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
RECORDS_FILE = "records.sqlite3"
MEMORY_URL = "sqlite+aiosqlite://"  # the process's own, gone at exit (the store is memory too)
_UPGRADE_LOCK = 0x76726563  # PostgreSQL advisory lock: one replica migrates at a time


def database_url(settings: Settings) -> str:
    """The async SQLAlchemy URL of the records database for these settings."""
    url = settings.database_url
    if url:
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url.removeprefix(plain)
        return url
    if settings.embedded_storage == "memory":
        return MEMORY_URL
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / RECORDS_FILE
    path.touch(mode=0o600, exist_ok=True)  # personal data: readable by the bot's user only
    return f"sqlite+aiosqlite:///{path.resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, durable: bool = True) -> None:
    """WAL (readers never block the writer), fsync on commit (``durable``: not for the
    throw-away memory-mode file), foreign keys, wait when busy."""
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        f"synchronous={'FULL' if durable else 'OFF'}",
        "foreign_keys=ON",
        "busy_timeout=10000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
    dbapi_connection.isolation_level = None  # the driver's own BEGIN is replaced below


def _sqlite_begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when a transaction starts, waiting up to the busy timeout.

    A deferred transaction that reads and then writes fails at once with "database is
    locked" when another process (a CLI command beside the bot) wrote in between; an
    immediate one waits its turn instead. WAL readers are not blocked by it.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@contextmanager
def local_url(url: str) -> Iterator[tuple[str, bool]]:
    """``url`` and whether it is durable: the memory database becomes a file in a temporary
    directory, removed afterwards (SQLite's memory database is one connection, which
    concurrent transactions cannot share), not synced (it dies with the process anyway)."""
    if url != MEMORY_URL:
        yield url, True
        return
    with tempfile.TemporaryDirectory(prefix="vrep-records-") as directory:
        yield f"sqlite+aiosqlite:///{Path(directory) / RECORDS_FILE}", False


def create_engine(url: str, *, durable: bool = True) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_pre_ping=not url.startswith("sqlite"),
        json_serializer=_json,  # Chinese stays readable in the database
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, durable=durable))
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("records migrations have no head")
    return head


def _quiet_alembic() -> None:
    """Alembic tells every step at INFO; ``upgrade`` logs the one line that matters."""
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _upgrade(connection: Connection) -> str | None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_UPGRADE_LOCK})"))
    _quiet_alembic()
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(alembic_config(connection), "head")
    return before


class RecordsUnavailable(StorageError):
    """The records database cannot be reached (down, refused, wrong address)."""


@contextmanager
def unavailable_as_storage_error() -> Iterator[None]:
    """Turn "cannot reach the database" into ``RecordsUnavailable``; other errors pass."""
    try:
        yield
    except (OSError, InterfaceError) as error:
        raise RecordsUnavailable(f"records database: {error}") from error
    except OperationalError as error:
        if "locked" in str(error):  # SQLite busy: the caller's retry handles it
            raise
        raise RecordsUnavailable(f"records database: {error}") from error


async def upgrade(engine: AsyncEngine) -> SchemaStatus:
    """Migrate to the newest schema (idempotent; replicas starting together take turns).

    Raises ``RecordsUnavailable`` when the database cannot be reached."""
    with unavailable_as_storage_error():
        async with engine.begin() as connection:
            before = await connection.run_sync(_upgrade)
    status = await schema_status(engine)
    if before != status.current:  # a new database is created quietly, an upgrade is told
        level = logging.INFO if before is not None else logging.DEBUG
        log.log(level, "records schema migrated", extra={"from": before, "to": status.current})
    return status


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    def current(connection: Connection) -> str | None:
        _quiet_alembic()
        return MigrationContext.configure(connection).get_current_revision()

    with unavailable_as_storage_error():
        async with engine.connect() as connection:
            revision = await connection.run_sync(current)
    return SchemaStatus(current=revision, head=_head())
