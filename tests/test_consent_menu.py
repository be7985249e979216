"""The privacy notice's question and the main menu in one turn, through the console transport:
the notice is answered in words or by a tap, a typed digit is always the main menu's.

Trial #10/#33: both came numbered ("1. 同意 2. 暂不同意" and "1. 文献与产品问答 …"), so a
typed "1" picked the main menu while the doctor may have meant consent; in the kf welcome one
bubble carried six buttons.
"""

from __future__ import annotations

import io
from contextlib import AsyncExitStack

import pytest

from bot.dispatcher import Dispatcher
from bot.models import Channel
from bot.runtime import build_runtime
from bot.settings import load_settings
from bot.storage.memory import MemoryStorage
from handlers.terminal import ConsoleSender, run_chat


async def chat(lines: str) -> str:
    """A doctor's console session on a fresh store with the notice on; the transcript."""

    async def open_bot(stack: AsyncExitStack, sender: ConsoleSender) -> Dispatcher:
        settings = load_settings(privacy_notice=True)
        _, dispatcher = build_runtime(settings, MemoryStorage(), senders={Channel.CONSOLE: sender})
        return dispatcher

    out = io.StringIO()
    await run_chat(open_bot, user="d1", as_rep=False, stdin=io.StringIO(lines), stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("lines", "expected", "not_expected"),
    [("你好\n1\n", "请直接输入您的问题", "已记录您"),
     ("你好\n2\n", "近期学术会议", "已记录您"),
     ("你好\n同意\n", "谢谢，已记录您的同意", "近期学术会议"),
     ("你好\n暂不同意\n", "已记录您暂不同意", "已记录您的同意"),
     ("hello\nagree\n", "your consent is recorded", "not agree"),
     ("hello\nnot now\n", "you do not agree for now", "consent is recorded"),
     ("hello\n4\n", "rep on duty", "consent is recorded")],
)  # fmt: skip
async def test_a_digit_is_the_main_menus_and_the_notice_is_answered_in_words(
    lines: str, expected: str, not_expected: str
) -> None:
    transcript = await chat(lines)
    assert "[同意]   [暂不同意]" in transcript or "[Agree]   [Not now]" in transcript
    assert "1. 同意" not in transcript and "1. Agree" not in transcript  # never numbered
    assert "1. 文献与产品问答" in transcript or "1. Literature and product questions" in transcript
    assert expected in transcript, transcript
    assert not_expected not in transcript, transcript


async def test_the_answer_to_the_notice_brings_the_main_menu() -> None:
    """The kf welcome carries only the notice's two buttons; the answer shows what comes next."""
    transcript = await chat("你好\n同意\n")
    agreed = transcript.index("已记录您的同意")
    assert transcript.index("请问需要什么帮助？\n  1. 文献与产品问答", agreed) > agreed
