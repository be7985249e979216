"""A partial index for the content gaps: the gap questions of a period, with their text,
without reading every message of the period and then the table (the year view on SQLite).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 17:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("doctor_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_doctor_messages_gaps",
            ["at", "question", "topic", "rep_id", "product", "gap"],
            unique=False,
            sqlite_where=sa.text("gap = 1"),
            postgresql_where=sa.text("gap"),
        )


def downgrade() -> None:
    with op.batch_alter_table("doctor_messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_doctor_messages_gaps",
            sqlite_where=sa.text("gap = 1"),
            postgresql_where=sa.text("gap"),
        )
