"""The negation-aware yes/no reader: many real phrasings per answer, zh and en."""

from __future__ import annotations

import pytest

from bot.yesno import YesNo, read_yes_no
from tests.yesno_phrasings import NO, UNCLEAR, YES


@pytest.mark.parametrize("text", YES)
def test_yes(text: str) -> None:
    assert read_yes_no(text) is YesNo.YES


@pytest.mark.parametrize("text", NO)
def test_no(text: str) -> None:
    assert read_yes_no(text) is YesNo.NO


@pytest.mark.parametrize("text", UNCLEAR)
def test_unclear(text: str) -> None:
    assert read_yes_no(text) is YesNo.UNCLEAR


def test_tables_are_large_and_disjoint() -> None:
    assert min(len(YES), len(NO), len(UNCLEAR)) >= 40
    assert (
        not (set(YES) & set(NO)) and not (set(NO) & set(UNCLEAR)) and not (set(YES) & set(UNCLEAR))
    )


def test_negation_wins_over_the_yes_word_it_contains() -> None:
    """The bug this module replaces: "不同意" contains "同意" and was read as consent."""
    for yes_word in ("同意", "可以", "需要", "愿意", "要", "联系我"):
        assert read_yes_no(yes_word) is YesNo.YES
        assert read_yes_no("不" + yes_word) is YesNo.NO
