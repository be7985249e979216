"""The operators' side of any dead-letter queue: who resolves an entry, and how.

An entry is resolved once the operators' consumer group ``ops`` has acknowledged it; the queue
monitor alerts while any entry is unresolved. Shared by the inbound/kf tools
(``bot.dead_letters``) and by PV redelivery (``skills.adverse_events``).
"""

from __future__ import annotations

from typing import Final

from bot.storage.base import QueueEntry, Storage

OPS_GROUP: Final = "ops"
"""The operators' consumer group: an entry it acknowledged is resolved."""
OPS_CONSUMER: Final = "ops-cli"
READ_LIMIT: Final = 1000
"""Unresolved entries read per queue, oldest first: one read holds Redis ~20 ms (10 000: ~200).
Later ones can be seen (and found by id) once older ones are resolved."""
_DELIVER_BATCH: Final = 100


async def unresolved(storage: Storage, queue: str) -> list[QueueEntry]:
    """The queue's entries ``ops`` has not acknowledged, oldest first (at most ``READ_LIMIT``)."""
    return await storage.unacknowledged(queue, OPS_GROUP, count=READ_LIMIT)


async def resolve(storage: Storage, entry: QueueEntry) -> None:
    """Acknowledge a dead letter for ``ops`` (it is resolved) and trim what ``ops`` is done with."""
    if entry.deliveries == 0:
        # An acknowledgement settles only an entry the group was handed: hand ``ops`` the
        # entries up to this one (they stay pending, i.e. unresolved, until acknowledged).
        while batch := await storage.consume(
            entry.queue, OPS_GROUP, OPS_CONSUMER, count=_DELIVER_BATCH, block_ms=0
        ):
            if any(e.entry_id == entry.entry_id for e in batch):
                break
    await storage.ack(entry.queue, OPS_GROUP, entry.entry_id)
    await storage.trim_acknowledged(entry.queue)
