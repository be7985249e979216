"""What a doctor's words ask of the meetings skill where the category head is not asked: inside
the registration form, and right after a meeting list or the doctor's registrations.

Narrow on purpose (Chinese first, English too): "我报了哪些会" typed at the form's name
question is a request for the registrations, not a name; "这个会我去不了了" is a withdrawal, as
is "不去了，取消吧" inside the form (where the meeting is implied); "register me for the first
one" picks from the list just shown.
"""

from __future__ import annotations

import re

_MINE = re.compile(
    r"(我|俺)?(都)?(报了|报名了|报的|报名的|参加了)(哪些|哪几个|什么|几个)?(会|会议)?|我的(报名|会议)|"
    r"\bmy (registrations?|meetings|sign-?ups)\b|"
    r"\b(which|what) (meetings )?(have|did) i (register|sign(ed)? up)",
    re.IGNORECASE,
)
_WITHDRAW = re.compile(
    r"去不了|不去了|参加不了|来不了|没法参加|不能参加|不参加了|不报了|不想报了?|退出|取消报名|"
    r"取消(吧|了|掉)|\bcan'?t (make it|attend|come|join)\b|\bcannot (attend|come|join)\b|"
    r"\bcancel\b|\bnot (going|coming|attending)\b|\bwithdraw\b",
    re.IGNORECASE,
)
_MEETING_WORD = re.compile(
    r"会议|[这那个场的]会|研讨会|报名|meeting|registration|webinar|symposium", re.IGNORECASE
)
_REGISTER = re.compile(
    r"报名|报个名|参加|注册|\bregister\b|\bsign (me )?up\b|\benrol", re.IGNORECASE
)
# A bare "sign me up" typed at a meeting's details: its "报名参加" option, in words.
REGISTER_WORDS = re.compile(
    r"(我要|我想|帮我)?(报名|报名参加|参加)(吧|一下)?|"
    r"(please )?(register( me)?|sign me up|sign up)( please)?",
    re.IGNORECASE,
)
_ORDINALS = (
    (re.compile(r"第\s*(一|1)\s*个?|\b(first|1st|number one|no\.? ?1)\b", re.I), 0),
    (re.compile(r"第\s*(二|2)\s*个?|\b(second|2nd|number two|no\.? ?2)\b", re.I), 1),
    (re.compile(r"第\s*(三|3)\s*个?|\b(third|3rd|number three|no\.? ?3)\b", re.I), 2),
    (re.compile(r"第\s*(四|4)\s*个?|\b(fourth|4th)\b", re.I), 3),
    (re.compile(r"第\s*(五|5)\s*个?|\b(fifth|5th)\b", re.I), 4),
    (re.compile(r"最后一个|\blast one\b", re.I), -1),
)
_QUESTION_OF_OTHERS = re.compile(r"患者|病人|patient", re.IGNORECASE)


def asks_for_registrations(text: str) -> bool:
    """ "我报了哪些会", "我的报名", "what have I registered for", "my registrations"."""
    return bool(_MINE.search(text)) and not _WITHDRAW.search(text)


def withdraws(text: str, *, meeting_implied: bool = False) -> bool:
    """A doctor saying they will not attend: "这个会我去不了了", "cancel my registration";
    inside the form, where the meeting is implied, "不去了，取消吧". About a patient ("病人去不
    了医院") it is not."""
    if _QUESTION_OF_OTHERS.search(text) or not _WITHDRAW.search(text):
        return False
    return meeting_implied or bool(_MEETING_WORD.search(text))


def position_to_register(text: str) -> int | None:
    """The list position in "register me for the first one", "第二个帮我报名" (0-based, -1 for
    the last), or None."""
    if not _REGISTER.search(text) or withdraws(text, meeting_implied=True):
        return None
    for pattern, position in _ORDINALS:
        if pattern.search(text):
            return position
    return None
