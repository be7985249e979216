"""A bot runtime for the handoff tests: a doctor on kf, reps on the app, a clock that moves
only when told, and the escalation worker driven by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from bot.escalation import ESCALATION_QUEUE
from bot.middlewares import load_conversation
from bot.models import (
    CardReply,
    Channel,
    Conversation,
    InboundMessage,
    MessageKind,
    SenderType,
)
from bot.outbound import ChannelSender
from bot.runtime import build_runtime
from bot.services import Services
from bot.settings import Settings, load_settings
from bot.storage.base import Storage
from skills import handoff
from skills.handoff.service import HandoffService
from skills.handoff.worker import ESCALATION_GROUP, EscalationWorker
from tests.helpers import RecordingSender

OPEN_KFID = "wkTESTKF"
# Monday 16 June 2025, 10:00 in Shanghai: inside the sample roster's working hours.
MONDAY_10AM = datetime(2025, 6, 16, 2, 0, tzinfo=UTC)
# Saturday 21 June 2025, 22:00 in Shanghai: outside them.
SATURDAY_10PM = datetime(2025, 6, 21, 14, 0, tzinfo=UTC)


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class CardRecordingSender(RecordingSender):
    """Reps' app sender: records messages and card updates (as the AppSender would make)."""

    updates: list[tuple[str, str, str]] = field(default_factory=list)

    async def update_card(
        self, userid: str, response_code: str, replace_name: str, card: CardReply | None = None
    ) -> bool:
        self.updates.append((userid, response_code, replace_name))
        return True

    def cards_for(self, userid: str) -> list[CardReply]:
        return [
            reply
            for message in self.sent
            if message.recipient_id == userid
            for reply in message.replies
            if isinstance(reply, CardReply)
        ]

    def texts_for(self, userid: str) -> list[str]:
        return [
            text
            for message in self.sent
            if message.recipient_id == userid
            for text in self.texts(message.conversation_key)
        ]


class Harness:
    def __init__(
        self,
        storage: Storage,
        *,
        now: datetime = MONDAY_10AM,
        settings: Settings | None = None,
    ) -> None:
        self.clock = ManualClock(now)
        self.doctor_out = RecordingSender(channel=Channel.KF)
        self.reps_out = CardRecordingSender(channel=Channel.APP)
        senders: dict[Channel, ChannelSender] = {
            Channel.KF: self.doctor_out,
            Channel.APP: self.reps_out,
        }
        self.services: Services
        self.services, self.dispatcher = build_runtime(
            settings or load_settings(), storage, senders=senders, clock=self.clock
        )
        self.service: HandoffService = handoff.get_service(self.services)
        self.worker: EscalationWorker = handoff.create_worker(self.services)
        self._ids = count(1)

    def _id(self) -> str:
        return f"m{next(self._ids)}"

    def doctor_message(
        self,
        text: str = "",
        *,
        doctor: str = "doctor",
        kind: MessageKind = MessageKind.TEXT,
        click_id: str | None = None,
        event: str | None = None,
        extra: dict[str, object] | None = None,
    ) -> InboundMessage:
        return InboundMessage(
            message_id=self._id(),
            channel=Channel.KF,
            conversation_key=conversation_key(doctor),
            sender_id=doctor,
            sender_type=SenderType.EXTERNAL,
            kind=kind,
            text=text,
            click_id=click_id,
            event=event,
            extra={"open_kfid": OPEN_KFID, **(extra or {})},
            received_at=self.clock(),
        )

    async def doctor_says(self, text: str, doctor: str = "doctor") -> list[str]:
        """Feed a doctor's text; returns the texts the bot answered with (menus' heads too)."""
        ctx = await self.dispatcher.feed(self.doctor_message(text, doctor=doctor))
        return [getattr(r, "text", None) or getattr(r, "head", "") for r in ctx.replies]

    async def rep_sends(
        self, rep: str, text: str = "", *, click_id: str | None = None, code: str = ""
    ) -> list[str]:
        message = InboundMessage(
            message_id=self._id(),
            channel=Channel.APP,
            conversation_key=f"app:{rep}",
            sender_id=rep,
            sender_type=SenderType.MEMBER,
            kind=MessageKind.CLICK if click_id else MessageKind.TEXT,
            text=text,
            click_id=click_id,
            raw_ids={"ResponseCode": code} if code else {},
        )
        ctx = await self.dispatcher.feed(message)
        return [getattr(r, "text", "") for r in ctx.replies]

    async def drain(self) -> int:
        """Let the escalation worker handle everything queued; returns how many."""
        handled = 0
        while True:
            entries = await self.services.storage.consume(
                ESCALATION_QUEUE, ESCALATION_GROUP, "test-consumer", count=10, block_ms=0
            )
            if not entries:
                return handled
            for entry in entries:
                await self.worker.process(entry)
                handled += 1

    async def conversation(self, doctor: str = "doctor") -> Conversation:
        loaded = await load_conversation(self.services.storage, conversation_key(doctor))
        assert loaded is not None
        return loaded

    async def audit_records(self) -> list[dict[str, Any]]:
        """Every audit record so far (read through a fresh consumer group)."""
        group = f"test-audit-{next(self._ids)}"
        entries = await self.services.storage.consume("audit", group, "t", 10_000, 0)
        return [entry.payload for entry in entries]

    async def audit_events(self) -> list[str]:
        """The ``event`` of every handoff audit record so far."""
        return [r["event"] for r in await self.audit_records() if r.get("kind") == "handoff"]


def conversation_key(doctor: str) -> str:
    return f"kf:{OPEN_KFID}:{doctor}"
