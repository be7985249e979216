"""Bounded work per message: the input cap, sentence windows and fair turns on an encoder."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from bot.audit import AUDIT_QUEUE
from bot.dispatcher import Context, Router
from bot.middlewares import cut_to_bytes
from bot.models import Channel
from bot.runtime import build_runtime
from bot.settings import load_settings
from bot.storage.base import Storage
from knowledge.embeddings import E5Engine
from knowledge.encoder_turns import EncoderTurns, sentence_windows
from tests.helpers import RecordingSender, text_message

QUESTION = "我的病人吃了诺拉维以后肚子有点不舒服，想问一下这个药一般吃多久？"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_long_doctor_message_is_read_up_to_the_cap_and_the_doctor_is_told(
    storage: Storage,
) -> None:
    """The cap, the notice and the full text in the audit trail, on the durable default
    (SQLite) only: the audit queue's behaviour on every store is tests/test_storage.py's, and
    the screening of the capped text costs seconds per store."""
    sender = RecordingSender()
    _, dispatcher = build_runtime(load_settings(), storage, senders={Channel.CONSOLE: sender})
    seen: list[str] = []
    probe = Router("probe", priority=1000)

    @probe.message(lambda ctx: True)
    async def answer(ctx: Context) -> None:
        seen.append(ctx.message.text)
        ctx.reply("好的")

    dispatcher.include_router(probe)
    long_text = (QUESTION * 100)[:3000]  # 9 000 bytes: more than WeCom could deliver
    await dispatcher.feed(text_message("doc", long_text, "m1"))
    assert seen == [cut_to_bytes(long_text, 2048)]
    assert len(seen[0].encode()) <= 2048 and long_text.startswith(seen[0])
    replies = sender.texts("doc")
    assert replies[0] == "好的"
    assert f"只读了前 {len(seen[0])} 个字" in replies[-1]
    [record] = [
        entry.payload
        for entry in await storage.unacknowledged(AUDIT_QUEUE, "nobody")
        if entry.payload.get("kind") == "message"
    ]
    assert record["text"] == long_text  # the audit trail keeps every word

    await dispatcher.feed(text_message("doc", QUESTION, "m2"))  # a normal message: untouched
    assert seen[-1] == QUESTION
    assert not any("只读了前" in text for text in sender.texts("doc")[len(replies) :])


def test_cut_to_bytes_never_splits_a_character() -> None:
    assert cut_to_bytes("诺拉维", 7) == "诺拉"  # 6 bytes; the 7th would be a third of 维
    assert cut_to_bytes("abc", 10) == "abc"


def test_sentence_windows_cover_the_text_within_the_limit() -> None:
    text = (QUESTION * 30) + ("The patient felt dizzy. " * 20) + ("无标点" * 200)
    windows = sentence_windows(text, limit=200)
    assert "".join(windows) == text
    assert all(0 < len(window) <= 200 for window in windows)
    assert sentence_windows(QUESTION) == [QUESTION]
    assert windows[0].endswith("？")  # whole sentences where they fit


def test_callers_take_turns_slice_by_slice_in_arrival_order() -> None:
    """A caller with many slices lets a later caller in after its current slice."""
    turns = EncoderTurns()
    order: list[str] = []
    first_slice = threading.Event()
    release = threading.Event()

    def long_caller() -> None:
        for index in range(3):
            with turns.turn():
                order.append(f"long {index}")
                if index == 0:
                    first_slice.set()
                    release.wait(60)

    def short_caller() -> None:
        with turns.turn():
            order.append("short")

    threads = [threading.Thread(target=long_caller), threading.Thread(target=short_caller)]
    threads[0].start()
    assert first_slice.wait(60)
    threads[1].start()
    while turns.waiting() < 1:  # the short caller is queued behind the running slice
        time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join(60)
    assert order == ["long 0", "short", "long 1", "long 2"]


def test_a_short_call_goes_ahead_of_the_remaining_slices_of_long_ones() -> None:
    """First slices first: a short call (served 0) that arrives while long calls take turns
    waits only for the slice in progress, not for the next slice of every long call; later
    slices then go in arrival order."""
    turns = EncoderTurns()
    order: list[str] = []
    first_slice = threading.Event()
    release = threading.Event()

    def long_caller() -> None:
        for index in range(3):
            with turns.turn(served=100 * index):
                order.append(f"long {index}")
                if index == 0:
                    first_slice.set()
                    release.wait(60)

    def other_long_caller() -> None:  # its second slice: 100 characters encoded already
        with turns.turn(served=100):
            order.append("other 1")

    def short_caller() -> None:
        with turns.turn():
            order.append("short")

    threads = [threading.Thread(target=t) for t in (long_caller, other_long_caller, short_caller)]
    threads[0].start()
    assert first_slice.wait(60)
    for queued, thread in enumerate(threads[1:], start=1):
        thread.start()
        while turns.waiting() < queued:  # queued behind the running slice
            time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join(60)
    assert order == ["long 0", "short", "other 1", "long 1", "long 2"]


def test_a_long_query_is_embedded_in_windows_and_a_short_one_exactly() -> None:
    engine = E5Engine()
    long_text = QUESTION * 20
    short, long_vector = engine.query([QUESTION, long_text])
    assert np.allclose(short, engine._model.query([QUESTION])[0], atol=1e-5)  # batch rounding
    assert abs(float(np.linalg.norm(long_vector)) - 1.0) < 1e-3
    # The same sentence repeated points where the sentence does (a wide margin, no tie).
    assert float(long_vector @ short) > 0.9
