"""How a reply to the adverse-event confirmation question is read: yes and no with their
negations, typos and English; short or unsure replies are unclear (the case opens); a new
question or request is not an answer (it is answered, and the confirmation asked again)."""

from __future__ import annotations

import pytest

from bot.yesno import YesNo
from skills.adverse_events.confirmation import (
    NOT_AN_ANSWER,
    read_confirmation,
    tells_of_something_that_happened,
)

YES = [
    "是",
    "是的",
    "是滴",
    "对",
    "对的",
    "对，吃了诺拉维以后出现的",
    "嗯",
    "嗯嗯",
    "恩",
    "是的，吃药第三天开始的",
    "可以报告",
    "好的",
    "yes",
    "Yes.",
    "YES",
    "yeah",
    "yep",
    "yse",
    "y",
    "ok",
    "Yes, after starting Noravex",
    "yes he did",
    "👍",
]
NO = [
    "不是",
    "不是的",
    "不是的，只是问问",
    "没有",
    "没有没有",
    "不对",
    "否",
    "不",
    "并不是",
    "不是，我只是想问剂量",
    "no",
    "No.",
    "nope",
    "nah",
    "no, just asking",
    "No it didn't",
    "not really",
    "n",
    "👎",
    "不是，请问剂量多少？",
    "没，病人好好的",
]
UNCLEAR = [
    "不知道",
    "不确定",
    "嗯……不太确定",
    "?",
    "？？",
    "不是很确定",
    "不记得了",
    "可能吧",
    "not sure",
    "maybe",
    "I don't know",
    "是吗",
    "患者自己说的",
    "hmm",
    "是的，不过也不确定",
    "应该不是",
]
NOT_ANSWERS = [
    "诺拉维的剂量是多少",
    "帮我报名下周的会议",
    "可以一起吃吗？",
    "诺拉维能用于儿童吗",
    "我想问一下诺拉维的保存条件",
    "Is Noravex OK in pregnancy?",
    "What is the maximum dose of Noravex?",
    "Can we meet next Tuesday to discuss the NOVA-1 data?",
    "I have a question about the dose",
    "can I add noravex to warfarin",
]


@pytest.mark.parametrize("text", YES)
def test_yes(text: str) -> None:
    assert read_confirmation(text) is YesNo.YES


@pytest.mark.parametrize("text", NO)
def test_no_read_with_its_negation(text: str) -> None:
    assert read_confirmation(text) is YesNo.NO


@pytest.mark.parametrize("text", UNCLEAR)
def test_short_or_unsure_replies_are_unclear(text: str) -> None:
    assert read_confirmation(text) is YesNo.UNCLEAR


@pytest.mark.parametrize("text", NOT_ANSWERS)
def test_a_new_question_or_request_is_not_an_answer(text: str) -> None:
    assert read_confirmation(text) is NOT_AN_ANSWER


@pytest.mark.parametrize(
    ("text", "happened"),
    [
        ("病人吃了诺拉维以后腿疼", True),
        ("患者上周住院了", True),
        ("My patient developed a rash after the first dose", True),
        ("诺拉维和华法林能一起用吗", False),
        ("Would you start her on Noravex 20 mg?", False),
    ],
)
def test_something_that_happened(text: str, happened: bool) -> None:
    assert tells_of_something_that_happened(text) is happened
