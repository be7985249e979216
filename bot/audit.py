"""Compliance audit trail: an append-only record of what came in, what went out and why.

The bot appends to the storage stream ``audit`` (one cheap write in the message path); the
app's audit sink (``records/sink.py``) moves each entry into the system of record's
hash-chained audit table, which ``virtualrep audit verify|export`` checks and exports. Ops
commands append to the chain directly (``records`` given). Audit records
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
