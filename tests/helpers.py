"""Small test doubles shared by several test modules (no network boundary is faked here)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.models import Channel, InboundMessage, MessageKind, OutboundMessage, SenderType, TextReply
from bot.pipeline import INBOUND_GROUP, INBOUND_QUEUE, InboundWorkers
from bot.storage.base import Storage


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
