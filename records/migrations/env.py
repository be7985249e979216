"""Alembic environment for the records schema (async engines, batch mode for SQLite).

The bot runs migrations itself (``records.database.upgrade``) and hands the open connection
in ``config.attributes["connection"]``; ``alembic`` run by hand reads the URL from
``VREP_DATABASE_URL`` (or the embedded default) the same way the bot does.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from records.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters a table by copying it; names come from metadata
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    from bot.settings import load_settings
    from records.database import create_engine, database_url

    engine = create_engine(database_url(load_settings()))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_async())
