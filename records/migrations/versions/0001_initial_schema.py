"""Initial schema of the system of record: audit chain, AE cases and events, MI requests,
consent records, HCP verifications, meeting registrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-07 12:55:33.963577
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import records.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ae_cases",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("doctor_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("day0", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.Column("products", sa.Text(), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("delivered_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dead_lettered_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.Column("acknowledged_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("last_event_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_ae_cases")),
    )
    with op.batch_alter_table("ae_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ae_cases_doctor_id"), ["doctor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ae_cases_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ae_cases_last_event_at"), ["last_event_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ae_cases_status"), ["status"], unique=False)

    op.create_table(
        "audit_entries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("doctor_id", sa.String(length=128), nullable=True),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=True),
        sa.Column("redacted_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_entries_hash")),
        sa.UniqueConstraint("source_id", name=op.f("uq_audit_entries_source_id")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_doctor_id"), ["doctor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_kind"), ["kind"], unique=False)

    op.create_table(
        "consent_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=True),
        sa.Column("via", sa.String(length=64), nullable=True),
        sa.Column("at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_records_last_event_at"), ["last_event_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consent_records_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "hcp_verifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("doctor_id", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("by", sa.String(length=128), nullable=True),
        sa.Column("at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("last_event_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hcp_verifications")),
    )
    with op.batch_alter_table("hcp_verifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hcp_verifications_doctor_id"), ["doctor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_hcp_verifications_last_event_at"), ["last_event_at"], unique=False
        )

    op.create_table(
        "meeting_registrations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("meeting_id", sa.String(length=128), nullable=False),
        sa.Column("doctor_id", sa.String(length=128), nullable=False),
        sa.Column("compliance_code", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("registered_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("last_event_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_registrations")),
        sa.UniqueConstraint(
            "meeting_id", "doctor_id", name=op.f("uq_meeting_registrations_meeting_id_doctor_id")
        ),
    )
    with op.batch_alter_table("meeting_registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_registrations_doctor_id"), ["doctor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_meeting_registrations_last_event_at"), ["last_event_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_meeting_registrations_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "mi_requests",
        sa.Column("mi_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("doctor_id", sa.String(length=128), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("created_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("respond_by", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", records.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("assigned_to", sa.String(length=128), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("last_event_at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mi_id", name=op.f("pk_mi_requests")),
    )
    with op.batch_alter_table("mi_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mi_requests_doctor_id"), ["doctor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mi_requests_last_event_at"), ["last_event_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mi_requests_respond_by"), ["respond_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_mi_requests_status"), ["status"], unique=False)

    op.create_table(
        "ae_case_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("at", records.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["ae_cases.case_id"],
            name=op.f("fk_ae_case_events_case_id_ae_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ae_case_events")),
    )
    with op.batch_alter_table("ae_case_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ae_case_events_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ae_case_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ae_case_events_case_id"))

    op.drop_table("ae_case_events")
    with op.batch_alter_table("mi_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mi_requests_status"))
        batch_op.drop_index(batch_op.f("ix_mi_requests_respond_by"))
        batch_op.drop_index(batch_op.f("ix_mi_requests_last_event_at"))
        batch_op.drop_index(batch_op.f("ix_mi_requests_doctor_id"))

    op.drop_table("mi_requests")
    with op.batch_alter_table("meeting_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_registrations_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_meeting_registrations_last_event_at"))
        batch_op.drop_index(batch_op.f("ix_meeting_registrations_doctor_id"))

    op.drop_table("meeting_registrations")
    with op.batch_alter_table("hcp_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hcp_verifications_last_event_at"))
        batch_op.drop_index(batch_op.f("ix_hcp_verifications_doctor_id"))

    op.drop_table("hcp_verifications")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_records_subject_id"))
        batch_op.drop_index(batch_op.f("ix_consent_records_last_event_at"))

    op.drop_table("consent_records")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_kind"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_doctor_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_case_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_at"))

    op.drop_table("audit_entries")
    with op.batch_alter_table("ae_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ae_cases_status"))
        batch_op.drop_index(batch_op.f("ix_ae_cases_last_event_at"))
        batch_op.drop_index(batch_op.f("ix_ae_cases_due_at"))
        batch_op.drop_index(batch_op.f("ix_ae_cases_doctor_id"))

    op.drop_table("ae_cases")
