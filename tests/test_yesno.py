"""The negation-aware yes/no reader: many real phrasings per answer, zh and en."""

from __future__ import annotations

import pytest

from bot.yesno import YesNo, read_yes_no

YES = (
    "同意",
    "我同意",
    "同意的",
    "同意。",
    "好的",
    "好",
    "好滴",
    "好哒",
    "好呀",
    "好吧",
    "可以",
    "可以联系",
    "可以的",
    "可以，请联系我",
    "行",
    "行吧",
    "嗯嗯",
    "嗯",
    "恩恩",
    "是的",
    "对",
    "没问题",
    "没问题！",
    "当然可以",
    "愿意",
    "我愿意配合随访",
    "确认",
    "同以",  # typo
    "可已",  # typo
    "不介意",
    "ok",
    "OK的",
    "Ok",
    "okay",
    "okk",
    "yes",
    "Yes.",
    "YES!",
    "yes please",
    "Yes, please contact me",
    "yep",
    "yup",
    "yeah",
    "yeah sure",
    "sure",
    "Sure!",
    "sure thing",
    "of course",
    "absolutely",
    "fine",
    "alright",
    "agree",
    "I agree",
    "I don't mind",
    "no problem",
    "why not",
    "go ahead",
    "yse",  # typo
    "yess",
    "👍",
    "好的👌",
    "同意 🙂",
    "y",
    "中",
)
NO = (
    "不同意",
    "我不同意",
    "不同意。",
    "不同意！！",
    "不需要",
    "不用了",
    "不用了，谢谢",
    "谢谢，不用",
    "别联系我",
    "请不要联系我",
    "不要联系我",
    "不要",
    "不要不要",
    "不不不",
    "不",
    "不了",
    "不行",
    "不可以",
    "不可以联系",
    "不愿意",
    "不太愿意",
    "没必要",
    "不必了",
    "算了",
    "算了吧",
    "免了",
    "拒绝",
    "否",
    "好吧不要了",
    "嗯，不用了",
    "同意…还是算了",
    "是的，不需要联系",
    "不桐意",  # typo keeps the negation
    "bu不同意",
    "不可能",
    "不要打电话给我",
    "别打扰我",
    "无需联系",
    "no",
    "No.",
    "NO",
    "no thanks",
    "No thank you",
    "no, thanks",
    "nope",
    "nah",
    "noo",
    "n",
    "never",
    "please don't contact me",
    "Please do not contact me",
    "don't",
    "I do not agree",
    "I disagree",
    "decline",
    "I decline",
    "I'd rather not",
    "not really",
    "no way",
    "absolutely not",
    "I refuse",
    "not interested",
    "pass",
    "👎",
    "🙅不要",
    "no谢谢",
)
UNCLEAR = (
    "",
    "   ",
    "…",
    "???",
    "？",
    "1",
    "3",
    "嗯？",
    "什么意思",
    "啥意思？",
    "你们会怎么联系我？",
    "可以吗？",
    "要不要同意？",
    "同意什么",
    "谁会联系我",
    "不知道",
    "不清楚",
    "不确定",
    "不一定",
    "不好说",
    "看情况",
    "再说吧",
    "我考虑一下",
    "让我想想",
    "可能吧",
    "也许",
    "随便",
    "无所谓",
    "诺拉维的推荐剂量是多少？",
    "你好",
    "患者现在好多了吗",
    "3天前",
    "张医生",
    "13812345678",
    "呃",
    "hmm",
    "maybe",
    "perhaps later",
    "not sure",
    "I'm not sure",
    "don't know",
    "I don't know",
    "no idea",
    "idk",
    "depends",
    "it depends on who calls",
    "let me think",
    "why?",
    "who will contact me?",
    "what do you mean",
    "yes or no?",
    "hello",
    "Noravex",
    "whatever",
    "🤔",
    "😂",
    "asdf",
)


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
