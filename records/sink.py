"""The audit sink: moves the bot's audit stream into the hash-chained audit table.

Writers in the message path append to the storage stream ``audit`` (one cheap write inside
the conversation lock); this worker appends each entry to the chain, idempotently (the stream
entry id is kept as ``source_id``), then acknowledges it. At least once, never twice; an
entry a dead replica left pending is reclaimed by another.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from bot.audit import AUDIT_QUEUE
from bot.metrics import Metrics
from bot.queue_worker import QueueConsumer
from bot.storage.base import QueueEntry, Storage
from records.service import Records

AUDIT_GROUP = "records"


async def append_entry(records: Records, entry: QueueEntry) -> bool:
    """Append one stream entry to the chain unless it is there already (by its stream id)."""
    fields = dict(entry.payload)
    kind = str(fields.pop("kind", "unknown"))
    at = datetime.fromisoformat(str(fields.pop("at")))
    appended = await records.append_audit(kind, at, fields, source_id=f"stream:{entry.entry_id}")
    return appended is not None


def audit_sink(records: Records, storage: Storage, metrics: Metrics) -> QueueConsumer:
    """The worker (the app and the chat start and stop it)."""

    async def process(entry: QueueEntry) -> None:
        await append_entry(records, entry)
        await storage.ack(AUDIT_QUEUE, AUDIT_GROUP, entry.entry_id)

    return QueueConsumer(
        storage,
        metrics,
        queue=AUDIT_QUEUE,
        group=AUDIT_GROUP,
        consumer=f"records-{uuid.uuid4().hex[:8]}",
        process=process,
        count=100,
        block_ms=500,
        reclaim_idle_ms=30_000,
    )
