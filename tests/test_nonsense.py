"""Nonsense from a doctor, through the whole production wiring: a clear answer, nothing else.

Seeded random noise (characters of every script, emoji, control characters, markup, injection
strings, very long and empty messages) goes through every middleware and skill. Each message
must be handled without an error, answered, with no sentence that is not approved content,
a citation or standard wording, and without opening a form (an MI request, verification, an
adverse-event report) or escalating to a rep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from skills.adverse_events.cases import CASES_SET
from tests.qa_support import (
    approved_sentences,
    build_bot,
    fixed_sentences,
    message,
    reply_texts,
    unapproved_statements,
)


def _chars(rng: random.Random, low: int, high: int, size: int) -> str:
    return "".join(chr(rng.randint(low, high)) for _ in range(size))


NOISE: list[Callable[[random.Random], str]] = [
    lambda rng: _chars(rng, 0x21, 0x7E, rng.randint(1, 40)),  # ASCII symbols and letters
    lambda rng: _chars(rng, 0x3040, 0x30FF, rng.randint(1, 20)),  # kana
    lambda rng: _chars(rng, 0xAC00, 0xD7A3, rng.randint(1, 20)),  # hangul
    lambda rng: _chars(rng, 0x1F300, 0x1F64F, rng.randint(1, 12)),  # emoji
    lambda rng: _chars(rng, 0x2000, 0x206F, rng.randint(1, 12)),  # punctuation and spaces
    lambda rng: _chars(rng, 0x00, 0x1F, rng.randint(1, 8)) + "x",  # control characters
    lambda rng: rng.choice(["。。。", "？？？", "!!!", "……", "、、", "～", " ", "\n\n"]),
    lambda rng: rng.choice(["1", "0", "-1", "99999999999999999999", "3.14", "1e308"]),
    lambda rng: rng.choice(
        [
            "'; DROP TABLE doctors; --",
            "<script>alert(1)</script>",
            "{{7*7}}",
            "${jndi:ldap://x}",
            "%s%s%s%n",
            "../../etc/passwd",
            "\u202etxt.exe",
            "\ufeff\u200b\u200d",
        ]
    ),
    lambda rng: " ".join(
        rng.choice(["蓝色", "桌子", "飞翔", "周三", "banana", "quantum", "的", "了", "and", "月亮"])
        for _ in range(rng.randint(2, 9))
    ),
]


LONG_NOISE: list[Callable[[random.Random], str]] = [
    lambda rng: "哈" * rng.randint(1, 3000),
    lambda rng: "a" * rng.randint(1000, 6000),
]
"""Very long messages: each costs seconds of encoding (sentence windows), and past the input
cap (``max_text_bytes``) every length takes the same path, so they come fewer times."""
LONG_ROUNDS = 3


def noise(rng: random.Random) -> list[str]:
    """The seeded messages: ten rounds of every short kind, three of every long kind."""
    return [
        make(rng)
        for round_index in range(10)
        for make in NOISE + (LONG_NOISE if round_index < LONG_ROUNDS else [])
    ]


@pytest.fixture(scope="module")
def allowed(qa_kb: Any) -> set[str]:
    return approved_sentences(qa_kb, date.today()) | fixed_sentences()


async def test_nonsense_gets_an_answer_and_changes_nothing(qa_kb: Any, allowed: set[str]) -> None:
    services, dispatcher, _ = build_bot(qa_kb, full=True)
    for n, text in enumerate(noise(random.Random(7))):
        ctx = await dispatcher.feed(message(text, user=f"noise-{n}"))
        assert ctx.error is None, (text, ctx.error)
        assert ctx.replies, text
        replies = reply_texts(ctx.replies)
        if "audit_input_cut_at" in ctx.data:  # the input cap's notice (tests/test_bounded_work.py)
            assert replies.pop().startswith(("（您的消息较长", "(Your message was long")), text
        for reply in replies:
            assert not unapproved_statements(reply, allowed), (text, reply)
        assert ctx.conversation is not None and ctx.conversation.form is None, text
        assert "audit_escalation" not in ctx.data, text
    assert await services.storage.set_members(CASES_SET) == set()
