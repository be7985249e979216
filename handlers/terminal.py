"""Terminal transport: ``virtualrep chat`` — talk to the full bot in a terminal.

The same dispatcher, skills and storage as the webhook; only the transport differs. Lines
come from stdin (scriptable when stdin is not a TTY) and replies are printed. A number typed
after a menu chooses that option, like a tap on a kf menu item; a rep types a card button's
key as printed, e.g. ``hcp:approve:d3``, to press it.
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from contextvars import ContextVar
from typing import TextIO

from bot.dispatcher import Dispatcher
from bot.models import (
    CardReply,
    Channel,
    FileReply,
    InboundMessage,
    LinkReply,
    MenuOption,
    MenuReply,
    MessageKind,
    OutboundMessage,
    Reply,
    SenderType,
    TextReply,
)


def render_reply(reply: Reply) -> str:
    """Plain-text rendering of one reply for a terminal."""
    if isinstance(reply, TextReply):
        return reply.text
    if isinstance(reply, MenuReply) and not reply.numbered:
        lines = [reply.head, "  " + "   ".join(f"[{option.label}]" for option in reply.options)]
        return "\n".join([*lines, reply.tail] if reply.tail else lines)
    if isinstance(reply, MenuReply):
        lines = [reply.head]
        lines += [f"  {number}. {option.label}" for number, option in enumerate(reply.options, 1)]
        if reply.tail:
            lines.append(reply.tail)
        return "\n".join(lines)
    if isinstance(reply, LinkReply):
        return f"{reply.title}\n  {reply.url}" + (
            f"\n  {reply.description}" if reply.description else ""
        )
    if isinstance(reply, CardReply):
        lines = [f"[{reply.title}]", *([reply.description] if reply.description else [])]
        lines += [f"  {name}: {value}" for name, value in reply.fields]
        lines += [f"  ({button.key}) {button.text}" for button in reply.buttons]
        return "\n".join(lines)
    assert isinstance(reply, FileReply)
    return f"[file {reply.filename}, {len(reply.content)} bytes] {reply.caption}".rstrip()


OTHER_CONVERSATION = "[非发给您的通知 · a notice not addressed to you]"
_IN_TURN: ContextVar[bool] = ContextVar("console_turn", default=False)
"""True in what the user's own line runs (and the tasks it starts), not in the scheduler's
task, which was started before: a context variable, as both run while the other awaits."""


class ConsoleSender:
    """Prints replies and remembers each conversation's last menu for numbered choices."""

    channel = Channel.CONSOLE

    def __init__(self, out: TextIO, own_conversation: str) -> None:
        self._out = out
        self._own_conversation = own_conversation
        self.last_menu: dict[str, tuple[MenuOption, ...]] = {}

    async def send(self, message: OutboundMessage) -> None:
        # Messages for someone else (e.g. a rep's handoff card, without a WeCom app) are shown
        # too, marked with their recipient, so a console session sees the whole flow. One that
        # comes between the user's turns (a scheduled reminder of another conversation, or a
        # rep's handoff card sent by the outbox after the turn) says it is not for the user, so
        # that the user does not read it as addressed to them — worded to be true of both. It
        # is still printed: the terminal is the only channel a console rep has, and it is not
        # sent again.
        own = message.conversation_key == self._own_conversation
        prompt = "bot> " if own else f"bot → {message.recipient_id}> "
        if not own and not _IN_TURN.get():
            prompt = f"bot → {message.recipient_id} {OTHER_CONVERSATION}> "
        for reply in message.replies:
            if own:  # a number picks a menu option only while that menu is the last thing shown
                if isinstance(reply, MenuReply) and reply.numbered:
                    self.last_menu[message.conversation_key] = reply.options
                else:
                    self.last_menu.pop(message.conversation_key, None)
            self._out.write(f"{prompt}{render_reply(reply)}\n")
        self._out.flush()


def console_conversation_key(user: str, as_rep: bool) -> str:
    return f"console:{'rep' if as_rep else 'doctor'}:{user}"


CARD_KEY = re.compile(r"[a-z_]+:[a-z_]+:[^\s:]+")
"""The shape of a card button's key as the terminal prints it, e.g. ``(hcp:approve:d3)``."""


def console_message(
    line: str, user: str, as_rep: bool, menu: tuple[MenuOption, ...] | None
) -> InboundMessage:
    """Turn a typed line into an inbound message: a menu number becomes a click, and so does
    a rep's line that is a card button's key as printed (the terminal has no buttons to
    press); the skills check the rep's right to that action as for a tap in WeCom."""
    text = line.strip()
    kind, click_id = MessageKind.TEXT, None
    if menu and text.isdigit() and 1 <= int(text) <= len(menu):
        option = menu[int(text) - 1]
        kind, click_id, text = MessageKind.CLICK, option.id, option.label
    elif as_rep and CARD_KEY.fullmatch(text):
        kind, click_id = MessageKind.CLICK, text
    return InboundMessage(
        message_id=uuid.uuid4().hex,
        channel=Channel.CONSOLE,
        conversation_key=console_conversation_key(user, as_rep),
        sender_id=user,
        sender_type=SenderType.MEMBER if as_rep else SenderType.EXTERNAL,
        kind=kind,
        text=text,
        click_id=click_id,
    )


async def run_chat(
    dispatcher_factory: Callable[[AsyncExitStack, ConsoleSender], Awaitable[Dispatcher]],
    *,
    user: str,
    as_rep: bool,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    """Read lines until EOF (or 'exit'), feeding each to the dispatcher; returns the exit code.

    ``dispatcher_factory`` opens the resources it needs on the exit stack (closed at the end).
    """
    sender = ConsoleSender(stdout, console_conversation_key(user, as_rep))
    interactive = stdin.isatty()
    async with AsyncExitStack() as stack:
        dispatcher = await dispatcher_factory(stack, sender)
        if interactive:
            stdout.write("virtualrep chat — type a message, a menu number, or 'exit'.\n")
        while True:
            if interactive:
                stdout.write("you> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if line.strip() in ("exit", "quit", "/exit"):
                break
            if not line.strip():
                continue
            menu = sender.last_menu.get(console_conversation_key(user, as_rep))
            turn = _IN_TURN.set(True)
            try:
                await dispatcher.feed(console_message(line, user, as_rep, menu))
            finally:
                _IN_TURN.reset(turn)
    return 0
