"""How the doctor's next message is read after the confirmation question, and when the question
is not asked at all.

The question ("您提到的情况是患者用药后发生的吗？…请回复“是”或“不是”") expects a yes or a no. A
message counts as its **answer** only when it is one: it opens with a yes/no word ("是的",
"不是", "没有，只是问问", "对，吃了诺拉维以后", "no, just asking", "yse", "nope") — read with its
negation by ``bot.yesno`` — or it is a short reply ("不知道", "?", "嗯……不太确定"), which is an
unclear answer.
A longer message that opens with neither and asks or requests something ("诺拉维的剂量是多少",
"帮我报名下周的会议", "Is it OK in pregnancy?") is **not an answer**: it is a new question, and
the caller lets it go to its own skill (``NOT_AN_ANSWER``). Anything else — a statement, a
message telling of an event — is an unclear answer: when in doubt, report.

``plainly_asks`` decides the earlier step: a message in the confirmation band is not asked
about when the Q&A classifier is sure it is a question (p ≥ ``QUESTION_SURE``), it asks
something, and it tells of nothing that happened (``HAPPENED``). Such a message goes straight
to its skill (an off-label, advice or injection question gets its category's response).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Final

from bot.yesno import YesNo, read_yes_no
from skills.adverse_events.cues import PATIENT, detect_language, normalize

# The caller's reading of a message that is not an answer to the question.
NOT_AN_ANSWER: Final = None

# At most this many "units" (a CJK character, a Latin word, any other symbol run) make a reply
# short: a short reply is always an answer, read with its negation.
SHORT_UNITS = 4

# Probability of the Q&A classifier's top, non-small-talk category above which a question that
# tells of nothing that happened is answered without the confirmation question.
QUESTION_SURE = 0.8

# At most this many characters (Chinese) or words (English), with no patient or person named,
# read like a search box entry.
SEARCH_UNITS = 10
SEARCH_WORDS = 6

# What a Q&A classifier says about a message: its top category and that category's probability.
QuestionGauge = Callable[[str], Awaitable[tuple[str, float]]]

# Unsure, although it opens with a negation ("不是很确定", "不记得了", "not really sure").
_UNSURE = re.compile(
    r"不是很(确定|清楚|肯定|了解)|不(太|大)?(记得|清楚|确定|肯定)|没(想好|注意|留意|问)|说不(清|准|好)|"
    r"(?<![a-z])(?:not (?:really |quite |entirely )?(?:sure|certain)|(?:can'?t|don'?t|do not) "
    r"(?:remember|recall|know))(?![a-z])"
)
_UNIT = re.compile(r"[\u3400-\u9fff]|[a-z0-9']+|[^\s\w]+")
_CLAUSE_END = re.compile(r"[，,。.!！;；:：…~～\n]|\s-\s")

# Asking or requesting something: a question mark or particle, a question word, a request verb;
# in English a question mark, an opening question word or a request ("The patient is fine",
# "Can't sleep", "Do not take it" ask nothing).
_ASKS = re.compile(
    r"[?？]|吗|呢\s*$|能否|可否|是否|怎么|怎样|如何|多少|什么|哪|几(次|片|粒|毫克|mg|天|周)|"
    r"能不能|可不可以|要不要|行不行|有没有|会不会|请问|帮我|给我|发我|我想|我要|麻烦|想了解|问一?下|问个|"
    r"咨询|请教|"
    r"多大|多久|多长|该不该|能用不|(该|要|应该).{0,12}还是|"
    r"(?:^|[,;:] ?)(?:what|how|which|where|when|who|why)(?![a-z])|"
    r"^(?:would|should|could|can|do|does|is|are) (?:you|i|we|it|this|that|they)(?![a-z])|"
    r"(?<![a-z])(?:please|pls|tell me|send me|i'd like|i would like|i want to|help me|"
    r"sign me up|show me|let me know|a question|wondering)(?![a-z])"
)

# After the confirmation question, a message opening with an auxiliary ("can I add …", "is it
# safe …") is a new question too (a statement such as "Can't sleep" is read by ``_UNSURE`` or
# tells of an event).
_ASKS_AUX = re.compile(r"^(?:can|could|should|may|is|are|does|do|would|will)(?![a-z'])")

# Telling of something that happened: an aspect marker after an onset or outcome verb ("出现了",
# "吃了…以后"), a time in the past ("昨天", "上周", "最近"), a stay in hospital; in English a
# person with a past-tense experience verb, "since starting", "made me …".
HAPPENED = re.compile(
    r"(出现|发生|开始|变得|引起|导致|起|长|得|发|肿|疼|痛|晕|吐|拉|升|降|高|低|掉|黄|黑|红)了|"
    r"了.{0,12}(以后|之后|后)|过后|已经|后来|结果|自从|昨天|前天|今天|今早|上周|上个月|这几天|最近|"
    r"一直|送(去|到)?(急诊|医院)|住院|停(了|药)|"
    r"\b(i|he|she|they|we|patient|pt|my \w+)\b.{0,25}\b(had|got|developed|became|felt|started|"
    r"noticed|was|were|went|ended up|broke out|passed out|fainted|gained|lost|stopped|quit|"
    r"complained|presented|died|admitted)\b|\bsince (starting|i started|taking|going on|the dose|"
    r"then)\b|\bever since\b|\b(made|gave|left|kept) (me|him|her)\b|"
    r"\b(i've|i have|he has|she has|he's|she's) (had|been)\b|"
    r"\b(was|were) (admitted|hospitali[sz]ed)"
)


def _units(text: str) -> int:
    return len(_UNIT.findall(text))


def _lead(text: str) -> str:
    """The first clause: up to the first comma, full stop or similar."""
    return _CLAUSE_END.split(text, maxsplit=1)[0].strip()


def _opens_with_answer(lead: str) -> bool:
    """Whether the clause starts with a yes/no word ("是…", "不是…", "没有…", "yes …", "nope")."""
    first = lead.split()[0] if lead.split() else ""
    # A Latin word (or an emoji) leads, or the first two characters of Chinese.
    head = first if first and not re.match(r"[\u3400-\u9fff]", first) else lead[:2]
    if read_yes_no(head) is not YesNo.UNCLEAR:
        return True
    # One yes/no character followed by more words ("是吃了药以后", "对他说了") leads too.
    return read_yes_no(lead[:1]) is not YesNo.UNCLEAR and bool(re.match(r"[是对嗯恩不没否]", lead))


def read_confirmation(text: str) -> YesNo | None:
    """The answer to the confirmation question, or ``NOT_AN_ANSWER`` for a new question."""
    norm = normalize(text)
    if not norm:
        return YesNo.UNCLEAR
    lead = _lead(norm)
    if lead and _opens_with_answer(lead) and not _UNSURE.search(norm):
        answer = read_yes_no(lead)
        if answer is YesNo.NO or (answer is YesNo.YES and read_yes_no(norm) is YesNo.YES):
            return answer
        if answer is YesNo.YES:
            return YesNo.UNCLEAR  # "是的，不过也不确定": a yes with a hedge or a question
    if _units(norm) <= SHORT_UNITS or not (_ASKS.search(norm) or _ASKS_AUX.search(norm)):
        return YesNo.UNCLEAR  # a short reply, or a statement: when in doubt, report
    return NOT_AN_ANSWER


def tells_of_something_that_happened(text: str) -> bool:
    return HAPPENED.search(normalize(text)) is not None


def _search_query(norm: str) -> bool:
    """A few words typed like a search ("诺拉维 肾损伤 剂量", "noravex breastfeeding"), naming no
    patient or person and not ending as a sentence: a question in all but its form. (Case-report
    and forum sentences of that length end with a full stop: "brain fog memory loss.")"""
    limit = SEARCH_UNITS if detect_language(norm) == "zh" else SEARCH_WORDS
    return (
        _units(norm) <= limit
        and not PATIENT.search(norm)
        and not norm.rstrip().endswith((".", "。", "!", "！"))
    )


def reads_like_a_search(text: str) -> bool:
    """A few words typed like a search that tell of nothing that happened (see
    ``_search_query``): a clear score on one is asked about, not a case at once."""
    return _search_query(normalize(text)) and not tells_of_something_that_happened(text)


async def plainly_asks(text: str, gauge: QuestionGauge | None) -> tuple[str, float] | None:
    """The classifier's category and probability when ``text`` is plainly a question that tells
    of nothing that happened (so no confirmation is asked), else None."""
    norm = normalize(text)
    if gauge is None or tells_of_something_that_happened(text):
        return None
    if not (_ASKS.search(norm) or _search_query(norm)):
        return None
    label, probability = await gauge(text)
    if label == "chitchat" or probability < QUESTION_SURE:
        return None
    return label, probability
