"""Handoff declines per rep (the managers' page reads the reps' response times from the
system of record: who declined an offer, when).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 16:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import records.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "handoff_declines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("handoff_id", sa.String(length=64), nullable=False),
        sa.Column("rep_id", sa.String(length=128), nullable=False),
        sa.Column("at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_declines")),
    )
    with op.batch_alter_table("handoff_declines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_handoff_declines_handoff_id"), ["handoff_id"], unique=False
        )
        batch_op.create_index("ix_handoff_declines_period", ["at", "rep_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("handoff_declines", schema=None) as batch_op:
        batch_op.drop_index("ix_handoff_declines_period")
        batch_op.drop_index(batch_op.f("ix_handoff_declines_handoff_id"))
    op.drop_table("handoff_declines")
