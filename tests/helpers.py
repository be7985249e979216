"""Small test doubles shared by several test modules (no network boundary is faked here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.models import Channel, InboundMessage, MessageKind, OutboundMessage, SenderType, TextReply


@dataclass
class RecordingSender:
    """A channel sender that keeps what crossed the outbound seam."""

    channel: Channel = Channel.CONSOLE
    sent: list[OutboundMessage] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> None:
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
