"""Analytics: doctors' messages, cited documents, doctors' reps and handoffs projected from
the audit trail; the meeting funnel's steps; (covering) indexes for the console's period
queries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 16:18:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import records.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "doctor_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("doctor_id", sa.String(length=128), nullable=False),
        sa.Column("rep_id", sa.String(length=128), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("skill", sa.String(length=64), nullable=True),
        sa.Column("intent", sa.String(length=64), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("product", sa.String(length=128), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("gap", sa.Boolean(), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("last_event_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doctor_messages")),
    )
    with op.batch_alter_table("doctor_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_doctor_messages_doctor_id"), ["doctor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_doctor_messages_last_event_at"), ["last_event_at"], unique=False
        )
        batch_op.create_index(
            "ix_doctor_messages_period",
            ["at", "rep_id", "topic", "product", "answered", "gap"],
            unique=False,
        )
        batch_op.create_index(
            "ix_doctor_messages_team",
            ["rep_id", "at", "topic", "product", "answered", "gap"],
            unique=False,
        )

    op.create_table(
        "doctor_reps",
        sa.Column("doctor_id", sa.String(length=128), nullable=False),
        sa.Column("rep_id", sa.String(length=128), nullable=False),
        sa.Column("at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("doctor_id", name=op.f("pk_doctor_reps")),
    )
    with op.batch_alter_table("doctor_reps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_doctor_reps_rep_id"), ["rep_id"], unique=False)

    op.create_table(
        "document_uses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("doc_id", sa.String(length=256), nullable=False),
        sa.Column("approval_code", sa.String(length=128), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("rep_id", sa.String(length=128), nullable=True),
        sa.Column("product", sa.String(length=128), nullable=True),
        sa.Column("last_event_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_uses")),
    )
    with op.batch_alter_table("document_uses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_uses_last_event_at"), ["last_event_at"], unique=False
        )
        batch_op.create_index(
            "ix_document_uses_period",
            ["at", "rep_id", "product", "doc_id", "approval_code"],
            unique=False,
        )
        batch_op.create_index(
            "ix_document_uses_team",
            ["rep_id", "at", "product", "doc_id", "approval_code"],
            unique=False,
        )

    op.create_table(
        "handoff_records",
        sa.Column("handoff_id", sa.String(length=64), nullable=False),
        sa.Column("doctor_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("requested_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("declined", sa.Integer(), nullable=False),
        sa.Column("sla_breached", sa.Boolean(), nullable=False),
        sa.Column("taken_by", sa.String(length=128), nullable=True),
        sa.Column("taken_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("waited_s", sa.Float(), nullable=True),
        sa.Column("closed_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("handoff_id", name=op.f("pk_handoff_records")),
    )
    with op.batch_alter_table("handoff_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_handoff_records_doctor_id"), ["doctor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_handoff_records_last_event_at"), ["last_event_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_handoff_records_requested_at"), ["requested_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_handoff_records_taken_by"), ["taken_by"], unique=False)

    with op.batch_alter_table("ae_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ae_cases_opened_at"), ["opened_at"], unique=False)

    with op.batch_alter_table("meeting_registrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invited_at", records.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reminded_at", records.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("attended_at", records.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("feedback_at", records.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("feedback_score", sa.Integer(), nullable=True))

    with op.batch_alter_table("mi_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mi_requests_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mi_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mi_requests_created_at"))

    with op.batch_alter_table("meeting_registrations", schema=None) as batch_op:
        batch_op.drop_column("feedback_score")
        batch_op.drop_column("feedback_at")
        batch_op.drop_column("attended_at")
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("invited_at")

    with op.batch_alter_table("ae_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ae_cases_opened_at"))

    with op.batch_alter_table("handoff_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handoff_records_taken_by"))
        batch_op.drop_index(batch_op.f("ix_handoff_records_requested_at"))
        batch_op.drop_index(batch_op.f("ix_handoff_records_last_event_at"))
        batch_op.drop_index(batch_op.f("ix_handoff_records_doctor_id"))

    op.drop_table("handoff_records")
    with op.batch_alter_table("document_uses", schema=None) as batch_op:
        batch_op.drop_index("ix_document_uses_team")
        batch_op.drop_index("ix_document_uses_period")
        batch_op.drop_index(batch_op.f("ix_document_uses_last_event_at"))

    op.drop_table("document_uses")
    with op.batch_alter_table("doctor_reps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_doctor_reps_rep_id"))

    op.drop_table("doctor_reps")
    with op.batch_alter_table("doctor_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_doctor_messages_team")
        batch_op.drop_index("ix_doctor_messages_period")
        batch_op.drop_index(batch_op.f("ix_doctor_messages_last_event_at"))
        batch_op.drop_index(batch_op.f("ix_doctor_messages_doctor_id"))

    op.drop_table("doctor_messages")
