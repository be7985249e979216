"""Compliance audit trail: an append-only record of what came in, what went out and why.

With the system of record open (``records``, the app and the CLI always open it) every record
is appended to its hash-chained audit table, which ``virtualrep audit verify|export`` checks
and exports. Without it (unit tests that build the runtime on a bare storage) records go to
the storage stream ``audit``, which ``virtualrep db import-redis`` imports once. Audit records
contain message text with identifiers masked (``bot.masking``; the transcript is source data
for pharmacovigilance); logs never do at INFO.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bot.storage.base import Storage

AUDIT_QUEUE = "audit"


class AuditSink(Protocol):
    """Where records go when the system of record is open (``records.Records``)."""

    async def append_audit(self, kind: str, at: datetime, fields: dict[str, Any]) -> object: ...


class AuditLog:
    def __init__(self, storage: Storage, records: AuditSink | None = None) -> None:
        self._storage = storage
        self._records = records

    async def record(self, kind: str, at: datetime, **fields: Any) -> None:
        """Append one record; ``fields`` must be JSON-serialisable."""
        if self._records is not None:
            await self._records.append_audit(kind, at, fields)
            return
        await self._storage.enqueue(AUDIT_QUEUE, {"kind": kind, "at": at.isoformat(), **fields})
