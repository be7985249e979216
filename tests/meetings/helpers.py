"""Shared pieces of the meetings tests: an injected clock, catalogs, runtimes, messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.dispatcher import Dispatcher
from bot.models import (
    Channel,
    InboundMessage,
    MenuReply,
    MessageKind,
    OutboundMessage,
    Reply,
    SenderType,
)
from bot.runtime import build_runtime
from bot.services import Services
from bot.settings import Settings, load_settings
from bot.storage.base import Storage
from handlers.terminal import render_reply
from tests.helpers import RecordingSender

T0 = datetime(2027, 1, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def meeting_entry(meeting_id: str, start: datetime, **overrides: Any) -> dict[str, Any]:
    """A valid catalog entry starting at ``start`` (one hour long) — override any field."""
    entry: dict[str, Any] = {
        "id": meeting_id,
        "title": {"zh": f"测试会议 {meeting_id}", "en": f"Test meeting {meeting_id}"},
        "summary": {"zh": "一次测试用的学术会议。", "en": "An academic meeting for tests."},
        "speakers": [{"name": "王教授", "affiliation": "示例医院"}],
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "format": "online",
        "join_url": f"https://meeting.example.test/{meeting_id}",
        "capacity": 10,
        "audience_specialties": ["心内科", "cardiology"],
        "therapeutic_area": "cardiovascular",
        "compliance_code": f"TEST-{meeting_id}",
        "materials": [{"doc_id": f"doc-{meeting_id}", "title": f"Material of {meeting_id}"}],
    }
    entry.update(overrides)
    return entry


def write_catalog(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"meetings": entries}, allow_unicode=True), encoding="utf-8")
    return path


def meetings_settings(catalog: Path, **overrides: Any) -> Settings:
    return load_settings(meetings_file=catalog, **overrides)


@dataclass
class Bot:
    """One runtime (a replica, or a process after a restart) with recording senders."""

    services: Services
    dispatcher: Dispatcher
    senders: dict[Channel, RecordingSender] = field(default_factory=dict)

    def sent(self, channel: Channel) -> list[OutboundMessage]:
        return self.senders[channel].sent

    def replies(self, channel: Channel = Channel.CONSOLE, user: str | None = None) -> list[Reply]:
        return [
            reply
            for message in self.sent(channel)
            if user is None or message.recipient_id == user
            for reply in message.replies
        ]

    def transcript(self, channel: Channel = Channel.CONSOLE, user: str | None = None) -> str:
        """Everything sent on ``channel`` (to ``user``), rendered as the console shows it."""
        return "\n".join(render_reply(reply) for reply in self.replies(channel, user))

    def last_menu(self, channel: Channel = Channel.CONSOLE) -> MenuReply:
        menus = [reply for reply in self.replies(channel) if isinstance(reply, MenuReply)]
        return menus[-1]

    def clear(self) -> None:
        for sender in self.senders.values():
            sender.sent.clear()


def make_bot(settings: Settings, storage: Storage, clock: Clock) -> Bot:
    senders = {channel: RecordingSender(channel=channel) for channel in Channel}
    services, dispatcher = build_runtime(
        settings,
        storage,
        senders=dict(senders),
        clock=clock,
    )
    return Bot(services, dispatcher, senders)


_counter = 0


def inbound(
    user: str,
    clock: Clock,
    *,
    text: str = "",
    click: str | None = None,
    channel: Channel = Channel.CONSOLE,
    member: bool = False,
) -> InboundMessage:
    """A doctor's (or, with ``member``, a rep's) text or menu click, received now."""
    global _counter
    _counter += 1
    return InboundMessage(
        message_id=f"m{_counter}",
        channel=channel,
        conversation_key=f"{channel.value}:{user}",
        sender_id=user,
        sender_type=SenderType.MEMBER if member else SenderType.EXTERNAL,
        kind=MessageKind.CLICK if click else MessageKind.TEXT,
        text=text,
        click_id=click,
        received_at=clock(),
    )
