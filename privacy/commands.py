"""Recognises the doctor's privacy requests in what they type, typos and negation included.

A request is a short message close to one of the phrasings below: after normalising (full
width to half width, lower case, no spaces or punctuation, polite words dropped), the text
equals a phrasing or is one edit away from one (two for long Latin phrasings), so "查看我得数据"
and "delet my data" count. A message that negates the request ("不要删除我的数据", "don't
delete my data") is not the request: it is read with the project's yes/no reader, and one that
reads as a refusal matches only a phrasing that is itself a refusal ("不要个性化推荐").
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from bot.yesno import YesNo, read_yes_no


class Request(StrEnum):
    NOTICE = "notice"  # show the notice (and its buttons) again
    MY_DATA = "my_data"
    DELETE = "delete"
    WITHDRAW = "withdraw"
    PERSONALISATION_OFF = "personalisation_off"
    PERSONALISATION_ON = "personalisation_on"
    CORRECT = "correct"  # needs a person: routed to the data-protection contacts


PHRASINGS: dict[Request, tuple[str, ...]] = {
    Request.NOTICE: ("隐私政策", "隐私声明", "隐私", "个人信息保护", "privacy", "privacy policy",
                     "privacy notice"),
    Request.MY_DATA: ("查看我的数据", "我的数据", "导出我的数据", "下载我的数据", "查看我的信息",
                      "我的个人信息", "my data", "show my data", "export my data",
                      "download my data", "see my data"),
    Request.DELETE: ("删除我的数据", "删除我的信息", "删除我的个人信息", "删掉我的数据",
                     "delete my data", "erase my data", "remove my data", "delete my information"),
    Request.WITHDRAW: ("撤回同意", "撤销同意", "取消同意", "收回同意", "withdraw consent",
                       "withdraw my consent", "revoke consent"),
    Request.PERSONALISATION_OFF: ("关闭个性化推荐", "关闭个性化", "不要个性化推荐",
                                  "停止个性化推荐", "stop personalisation",
                                  "stop personalization", "turn off personalisation",
                                  "turn off personalization", "no personalisation",
                                  "no personalization"),
    Request.PERSONALISATION_ON: ("开启个性化推荐", "打开个性化推荐", "开启个性化",
                                 "start personalisation", "start personalization",
                                 "turn on personalisation", "turn on personalization"),
    Request.CORRECT: ("更正我的数据", "更正我的信息", "修改我的数据", "修改我的信息",
                      "correct my data", "correct my information", "fix my data"),
}  # fmt: skip

_POLITE = re.compile(r"请|帮我|我要|我想|麻烦|一下|please|pls|i want to|i'd like to|can you")
_NOISE = re.compile(r"[\W_]+")
_MAX_LENGTH = 40  # normalised characters: longer messages are questions, not requests


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return _NOISE.sub("", _POLITE.sub(" ", text))


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, cut off above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right))
            )
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _tolerance(phrase: str) -> int:
    if phrase.isascii():
        return 2 if len(phrase) >= 10 else 1 if len(phrase) >= 5 else 0
    return 1 if len(phrase) >= 5 else 0


_NORMALISED = {
    request: tuple((normalise(p), read_yes_no(p) is YesNo.NO) for p in phrasings)
    for request, phrasings in PHRASINGS.items()
}


def recognise(text: str) -> Request | None:
    """The privacy request ``text`` makes, or None (closest phrasing wins)."""
    typed = normalise(text)
    if not typed or len(typed) > _MAX_LENGTH:
        return None
    refusal = read_yes_no(text) is YesNo.NO
    best: tuple[int, Request] | None = None
    for request, phrasings in _NORMALISED.items():
        for phrase, phrase_refuses in phrasings:
            if refusal and not phrase_refuses:
                continue
            limit = _tolerance(phrase)
            distance = _distance(typed, phrase, limit)
            if distance <= limit and (best is None or distance < best[0]):
                best = (distance, request)
    return best[1] if best else None
