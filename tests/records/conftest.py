"""Fixtures of the records suite: every test runs on SQLite and on a real PostgreSQL.

The PostgreSQL cluster is started once per session (``tests/postgres_server.py``) with one
database, migrated once and emptied (``TRUNCATE``) before each test; SQLite gets a new file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.settings import Settings, load_settings
from records import Records, open_records
from records.database import create_engine, upgrade
from records.models import Base
from tests.postgres_server import PostgresServer, PostgresServerError

DATABASE = "records"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
        server.start()
    except PostgresServerError as error:
        pytest.fail(str(error))
    try:
        server.create_database(DATABASE)
        yield server
    finally:
        server.stop()


_migrated: set[int] = set()


async def _postgres_database(server: PostgresServer) -> str:
    """The session's database, migrated on first use and emptied for each test."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/{DATABASE}"
    engine = create_engine(url)
    try:
        if server.port not in _migrated:
            await upgrade(engine)
            _migrated.add(server.port)
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
async def records_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings whose ``database_url`` names a fresh database on the backend under test."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}"
    else:
        url = await _postgres_database(request.getfixturevalue("postgres"))
    return load_settings(database_url=url, data_dir=tmp_path)


@pytest.fixture
async def records(records_settings: Settings) -> AsyncIterator[Records]:
    async with open_records(records_settings) as opened:
        yield opened
