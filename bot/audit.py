"""Compliance audit trail: an append-only record of what came in, what went out and why.

Records go to a storage stream (``audit``), so every replica writes to one shared trail that
survives restarts. Audit records contain message text with identifiers masked
(``bot.masking``; the transcript is source data for pharmacovigilance); logs never do at INFO.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.storage.base import Storage

AUDIT_QUEUE = "audit"


class AuditLog:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def record(self, kind: str, at: datetime, **fields: Any) -> None:
        """Append one record; ``fields`` must be JSON-serialisable."""
        await self._storage.enqueue(AUDIT_QUEUE, {"kind": kind, "at": at.isoformat(), **fields})
