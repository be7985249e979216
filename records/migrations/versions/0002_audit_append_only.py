"""PostgreSQL refuses to delete or change an audit record, except retention's redaction.

The hash chain finds tampering after the fact; this trigger stops it before, for every role
that does not own the table's triggers. An UPDATE may only blank the payload (and set
``redacted_at``); every other column must stay as it was. SQLite has no roles, so there the
chain alone guards the trail.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNCHANGED = " AND ".join(
    f"NEW.{column} IS NOT DISTINCT FROM OLD.{column}"
    for column in (
        "seq",
        "at",
        "kind",
        "doctor_id",
        "case_id",
        "actor",
        "digest",
        "prev_hash",
        "hash",
        "source_id",
    )
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION audit_entries_append_only() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.payload IS NULL AND {_UNCHANGED} THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'audit_entries is append-only (% of record %)', TG_OP, OLD.seq;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER audit_entries_append_only ON audit_entries")
    op.execute("DROP FUNCTION audit_entries_append_only()")
