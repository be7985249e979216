"""Scheduled items whose handler needs a channel this process cannot send on (finding F17:
``serve`` on the store of ``virtualrep chat`` retried a terminal rep's handoff reminder every
minute, forever). Such an item is parked once, with one warning line, is not run again by a
process without that sender, and runs exactly once in a process that has it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.audit import AuditLog
from bot.metrics import Metrics
from bot.models import Channel, OutboundMessage, TextReply
from bot.outbound import ChannelSender
from bot.scheduler import NEEDS_CHANNEL, PARK_S, ScheduleRunner
from bot.services import Services
from bot.settings import load_settings
from bot.storage.base import ScheduledItem
from bot.storage.memory import MemoryStorage

NOW = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


class Terminal:
    """The console sender of a chat process: records what it printed."""

    channel = Channel.CONSOLE

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> None:
        self.sent.append(message)


class Process:
    """One process on the shared store: its own services, senders and clock."""

    def __init__(self, storage: MemoryStorage, senders: dict[Channel, ChannelSender]) -> None:
        self.now = NOW
        metrics = Metrics()
        self.services = Services(
            settings=load_settings(), storage=storage, metrics=metrics,
            audit=AuditLog(storage), scheduler=ScheduleRunner(storage, self.clock, metrics),
            clock=self.clock, senders=senders,
        )  # fmt: skip
        self.runs = 0
        self.services.scheduler.register("reminder", self.remind)

    def clock(self) -> datetime:
        return self.now

    async def remind(self, item: ScheduledItem) -> None:
        self.runs += 1
        sender = self.services.sender(Channel.CONSOLE)
        await sender.send(
            OutboundMessage(
                channel=Channel.CONSOLE, conversation_key="console:rep_wang",
                recipient_id="rep_wang", replies=(TextReply(text=str(item.payload["text"])),),
            )
        )  # fmt: skip


async def test_an_item_for_a_channel_without_sender_waits_for_a_process_that_has_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = MemoryStorage()
    await storage.schedule("reminder", "h1", NOW, {"text": "⏰ 未在时限内响应"})
    serve = Process(storage, {})
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        assert await serve.services.scheduler.run_due() == 0
        for hours in range(1, 6):  # serve keeps running: the item is not run (nor logged) again
            serve.now = NOW + timedelta(hours=hours)
            assert await serve.services.scheduler.run_due() == 0
    assert serve.runs == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "console" in warnings[0].getMessage()
    assert "virtualrep chat" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    (parked,) = await storage.scheduled("reminder")
    assert parked.payload[NEEDS_CHANNEL] == "console"
    assert parked.payload["text"] == "⏰ 未在时限内响应"  # nothing of the item lost
    assert parked.due_at == serve.now + timedelta(seconds=PARK_S)

    terminal = Terminal()
    chat = Process(storage, {Channel.CONSOLE: terminal})
    chat.now = parked.due_at
    assert await chat.services.scheduler.run_due() == 1
    assert [m.replies[0] for m in terminal.sent] == [TextReply(text="⏰ 未在时限内响应")]
    assert await storage.scheduled("reminder") == []
    chat.now += timedelta(hours=1)
    assert await chat.services.scheduler.run_due() == 0
    assert len(terminal.sent) == 1  # once, not again


async def test_an_item_parked_for_an_unknown_channel_runs_where_it_is_claimed() -> None:
    storage = MemoryStorage()
    await storage.schedule("reminder", "h1", NOW, {"text": "t", NEEDS_CHANNEL: "fax"})
    terminal = Terminal()
    chat = Process(storage, {Channel.CONSOLE: terminal})
    assert await chat.services.scheduler.run_due() == 1
    assert len(terminal.sent) == 1
