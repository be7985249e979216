"""Reads a typed yes/no answer in Chinese or English, negation first.

Forms ask yes/no questions ("may PV contact you?") and people answer in their own words:
"不同意", "好吧不要了", "no thanks", "嗯嗯", "yes please 👍". A reader that looks for the first
matching value gets "不同意" wrong (it contains "同意"), so this one decides in a fixed order:

1. idioms whose words look negative but mean yes ("没问题", "不介意", "no problem") count as yes,
   and polite fillers ("不好意思", "不客气") are dropped;
2. hedges ("不知道", "可能吧", "not sure", "maybe") and questions ("可以吗？", "要不要",
   "why?") are UNCLEAR;
3. any negation left ("不", "别", "没", "拒绝", "算了", "no", "don't", "never") is NO, whatever
   yes words surround it ("好吧不要了");
4. a yes word ("同意", "好的", "可以", "嗯嗯", "yes", "sure", "ok", "👍") is YES;
5. anything else is UNCLEAR.

UNCLEAR is never YES: the caller asks again or records the answer as unknown.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class YesNo(StrEnum):
    YES = "yes"
    NO = "no"
    UNCLEAR = "unclear"


_EMOJI_WORDS = {
    "👍": " yes ",
    "👌": " yes ",
    "✅": " yes ",
    "🙆": " yes ",
    "👎": " no ",
    "🙅": " no ",
    "❌": " no ",
    "🚫": " no ",
}

# Strong refusals containing a yes word or a hedge ("不可能" holds "可能").
_NO_IDIOMS = re.compile(r"不可能|没可能|no way|no chance|hell no|absolutely not|of course not")
# Words that look negative but agree ("no problem", "why not").
_YES_IDIOMS = re.compile(
    r"没问题|没有问题|没关系|没事|没毛病|没错|不错|不介意|不反对|何乐而不为|"
    r"no problem|not a problem|no worries|why not|don'?t mind|do not mind|not at all a problem"
)
# Polite fillers that carry no answer.
_FILLERS = re.compile(
    r"不好意思|不客气|不过|没什么|谢谢|感谢|你好|您好|"
    r"(?<![a-z])(?:thanks?|thank you|thx|please|pls|plz|hello|hi|hey)(?![a-z])"
)
_HEDGES = re.compile(
    r"不知道|不晓得|不清楚|不确定|不一定|不好说|说不好|说不准|不太确定|看情况|再说|再看|考虑|"
    r"想想|想一想|犹豫|也许|或许|可能|大概|随便|无所谓|都行吧|不懂|啥意思|什么意思|"
    r"(?<![a-z])(?:maybe|perhaps|not sure|unsure|i'?m not sure|don'?t know|dont know|do not know|"
    r"no idea|idk|depends|it depends|let me think|think about it|later|not decided|whatever|"
    r"possibly|probably|dunno|hmm+)(?![a-z])"
)
# A question: a question mark, a Chinese question particle, or the A-不-A form ("要不要").
_QUESTION = re.compile(
    r"[?？]|吗|么\s*$|呢\s*$|什么|啥|咋|怎么|为何|谁|哪|(?<!不)([^不])不\1|(?<!没)([^没])没\2|"
    r"(?<![a-z])(?:why|how|who|when|which|what)(?![a-z])"
)
_NEGATION = re.compile(
    r"[不别没否甭勿]|拒绝|算了|免了|罢了|拉倒|无需|无须|无必要|休想|"
    r"(?<![a-z])(?:no+|n|nope|nah|naw|nay|not|never|don'?t|dont|do not|won'?t|wont|will not|"
    r"can'?t|cannot|can not|shouldn'?t|decline[sd]?|refuse[sd]?|reject(?:ed)?|negative|"
    r"disagree[sd]?|pass|rather not)(?![a-z])"
)
_YES_WORDS = re.compile(
    r"同意|同以|桐意|愿意|确认|确定|可以|可已|可|好|行|对|是|嗯|恩|当然|必须的|欢迎|^\W*(?:中|成|妥|要)\W*$|"
    r"联系我|要的|需要|ok|没问题|yes_idiom|"
    r"(?<![a-z])(?:y|ye+s*|yes+|yse|yeah?|yea+h*|yep|yup|ya|sure+|shure|sur|ok+|okay|oky|oaky|k|kk|"
    r"alright|all right|fine|agree[sd]?|agreed|certainly|absolutely|of course|definitely|"
    r"go ahead|contact me|consent|correct|right|affirmative|aye)(?![a-z])"
)


def _normalise(text: str) -> str:
    """NFKC (full-width to half-width), lower case, emoji turned into words."""
    text = unicodedata.normalize("NFKC", text).lower()
    for emoji, word in _EMOJI_WORDS.items():
        text = text.replace(emoji, word)
    return text.replace("’", "'").replace("`", "'")


def read_yes_no(text: str) -> YesNo:
    """YES, NO or UNCLEAR for a typed answer to a yes/no question (see the module docstring)."""
    text = _normalise(text)
    if _NO_IDIOMS.search(text):
        return YesNo.NO
    text = _YES_IDIOMS.sub(" yes_idiom ", text)
    text = _FILLERS.sub(" ", text)
    if _HEDGES.search(text) or _QUESTION.search(text):
        return YesNo.UNCLEAR
    if _NEGATION.search(text):
        return YesNo.NO
    if _YES_WORDS.search(text):
        return YesNo.YES
    return YesNo.UNCLEAR
