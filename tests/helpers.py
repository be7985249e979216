"""Small test doubles shared by several test modules (no network boundary is faked here)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.audit import AUDIT_QUEUE
from bot.metrics import Metrics
from bot.models import Channel, InboundMessage, MessageKind, OutboundMessage, SenderType, TextReply
from bot.pipeline import INBOUND_GROUP, INBOUND_QUEUE, InboundWorkers
from bot.storage.base import Storage
from records.service import Records
from records.sink import AUDIT_GROUP, audit_sink


@dataclass
class RecordingSender:
    """A channel sender that keeps what crossed the outbound seam."""

    channel: Channel = Channel.CONSOLE
    sent: list[OutboundMessage] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> None:
        self.sent.append(message)

    async def deliver(self, message: OutboundMessage) -> None:
        """A confirmed send (``bot.outbound.ConfirmingSender``): recorded like any other."""
        self.sent.append(message)

    def texts(self, conversation_key: str | None = None) -> list[str]:
        return [
            reply.text
            for message in self.sent
            if conversation_key in (None, message.conversation_key)
            for reply in message.replies
            if isinstance(reply, TextReply)
        ]


def text_message(
    conversation: str,
    text: str,
    message_id: str,
    *,
    channel: Channel = Channel.CONSOLE,
    sender_type: SenderType = SenderType.EXTERNAL,
    kind: MessageKind = MessageKind.TEXT,
) -> InboundMessage:
    return InboundMessage(
        message_id=message_id,
        channel=channel,
        conversation_key=conversation,
        sender_id=conversation,
        sender_type=sender_type,
        kind=kind,
        text=text,
    )


async def drain_inbound(workers: InboundWorkers, storage: Storage, timeout_s: float = 20.0) -> None:
    """Run ``workers`` until the inbound queue has nothing unacknowledged, then stop them."""
    workers.start()
    try:
        async with asyncio.timeout(timeout_s):
            # Polls shared storage (possibly another process's): no event to wait on.
            while await storage.queue_depth(INBOUND_QUEUE, INBOUND_GROUP):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await workers.stop()


async def audit_trail(
    records: Records, storage: Storage, kind: str | None = None
) -> list[dict[str, Any]]:
    """The audit records so far (of ``kind``, or all), read from the system of record once the
    storage stream is drained into it: by the app's own sink where one runs, else by this one
    (the sink acknowledges and later trims the stream, so a reader must not use the stream)."""
    sink = audit_sink(records, storage, Metrics())
    while await storage.queue_depth(AUDIT_QUEUE, AUDIT_GROUP):
        if not await sink.run_once(block_ms=0):
            await asyncio.sleep(0.01)  # another sink holds the rest: let it finish
    trail = records.audit_entries(kind=kind)
    return [{**(record.payload or {}), "kind": record.kind} async for record in trail]
