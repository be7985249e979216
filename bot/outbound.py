"""Outbound seam: the channel sender protocol and byte-accurate message splitting.

WeCom truncates text and markdown longer than 2048 UTF-8 *bytes*; every sender splits long
texts with ``split_text`` and sends the parts in order.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.models import Channel, OutboundMessage

WECOM_TEXT_LIMIT_BYTES = 2048

# Break preferences, best first: paragraph, line, sentence end (zh/en), clause, space.
_BREAKS: tuple[tuple[str, ...], ...] = (
    ("\n\n",),
    ("\n",),
    ("。", "！", "？", "；", ". ", "! ", "? ", "; "),
    ("，", "、", ", ", "：", ": "),
    (" ",),
)


class ChannelSender(Protocol):
    """Delivers replies on one channel. Implementations must keep the replies' order."""

    channel: Channel

    async def send(self, message: OutboundMessage) -> None: ...


@runtime_checkable
class ConfirmingSender(Protocol):
    """A sender that can also send at once and say whether the receiver accepted it.

    ``deliver`` returns only once every message was accepted and raises
    ``bot.outbox.SendFailed`` otherwise; for callers with their own durable retry (PV cards).
    """

    async def deliver(self, message: OutboundMessage) -> None: ...


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _hard_cut(text: str, max_bytes: int) -> int:
    """Largest character index whose prefix fits in ``max_bytes`` UTF-8 bytes."""
    size = 0
    for index, char in enumerate(text):
        size += len(char.encode("utf-8"))
        if size > max_bytes:
            return index
    return len(text)


def split_text(text: str, max_bytes: int = WECOM_TEXT_LIMIT_BYTES) -> list[str]:
    """Split ``text`` into parts of at most ``max_bytes`` UTF-8 bytes, on character boundaries.

    Prefers paragraph, then line, sentence and clause breaks, then spaces, within the last
    half of each part; falls back to a hard cut between characters. Joining the parts gives
    back the text except for whitespace stripped at the cut points.
    """
    if max_bytes < 4:
        raise ValueError("max_bytes must fit at least one UTF-8 character")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if utf8_len(rest) <= max_bytes:
            parts.append(rest)
            break
        limit = _hard_cut(rest, max_bytes)
        window = rest[:limit]
        cut = 0
        for separators in _BREAKS:
            found = [window.rfind(sep) for sep in separators]
            best = max(
                (at + len(sep) for at, sep in zip(found, separators, strict=True) if at >= 0),
                default=0,
            )
            if best > limit // 2:
                cut = best
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [part for part in parts if part]
