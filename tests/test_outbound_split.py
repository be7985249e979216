"""Byte-accurate splitting of long replies (WeCom truncates at 2048 UTF-8 bytes)."""

from __future__ import annotations

import pytest

from bot.outbound import WECOM_TEXT_LIMIT_BYTES, split_text, utf8_len


def _joined_without_space(parts: list[str]) -> str:
    return "".join("".join(parts).split())


@pytest.mark.parametrize(
    "text",
    [
        "中" * 5000,  # 3-byte characters: the limit falls inside a character
        "😀" * 1500,  # 4-byte characters
        "a" * 2047 + "😀" + "b" * 10,  # emoji straddling the boundary
        "中文句子。" * 900,
        ("Paragraph one sentence. " * 60 + "\n\n") * 5,
        "x" * 2048,
    ],
)
def test_parts_fit_and_keep_every_character(text: str) -> None:
    parts = split_text(text)
    assert all(0 < utf8_len(part) <= WECOM_TEXT_LIMIT_BYTES for part in parts)
    assert _joined_without_space(parts) == "".join(text.split())


def test_short_text_is_one_part() -> None:
    assert split_text("你好") == ["你好"]


def test_prefers_sentence_breaks() -> None:
    sentence = "这是一个完整的句子，用于测试断句。"
    parts = split_text(sentence * 200)
    assert len(parts) > 1
    assert all(part.endswith("。") for part in parts)


def test_prefers_paragraph_breaks() -> None:
    paragraph = "word " * 150
    text = "\n\n".join([paragraph.strip()] * 6)
    parts = split_text(text, max_bytes=1600)
    assert all(part == paragraph.strip() or "\n\n" in part for part in parts)
    assert all(not part.startswith("\n") for part in parts)


def test_emoji_at_exact_boundary_is_not_cut() -> None:
    text = "a" * 2046 + "😀😀"
    parts = split_text(text)
    assert parts[0] == "a" * 2046
    assert parts[1] == "😀😀"


def test_tiny_limit_refused() -> None:
    with pytest.raises(ValueError):
        split_text("abc", max_bytes=3)
