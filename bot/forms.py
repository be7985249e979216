"""How every form reads a typed answer: checked for its slot, re-asked once, questions answered.

The adverse-event report, the meeting registration and the HCP verification share one rule set,
kept here so that no form stores whatever arrives:

- ``check(kind, text)`` says whether an answer fits its slot — a product name and not
  "yesterday", a plausible date or duration, a phone number or e-mail address and not "确认",
  a job title that is not a question;
- ``first_miss(form, step)`` lets a form re-ask a slot once (with ``example(ctx, kind)``) and
  then record it as unknown instead of asking forever;
- ``is_question(text)`` spots a question typed in the middle of a form; the form hands it to
  ``answer_question`` (Q&A's entry point for questions asked inside another flow, wired in
  ``bot.wiring``) and then asks its pending question again, so the question is never stored as
  the answer.

A bare number is an answer to a menu only while that menu is the question being asked; every
form reads digits through its own menu step, never from an earlier one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from enum import StrEnum

from bot.dispatcher import Context
from bot.models import ActiveForm, Reply
from bot.services import Services
from bot.yesno import YesNo, read_yes_no

QuestionAnswerer = Callable[[Context, str], Awaitable[list[Reply]]]
_ANSWERER = "forms.question_answerer"


class SlotKind(StrEnum):
    """What a slot accepts."""

    TEXT = "text"  # free text: a description, a list of medicines
    SHORT_TEXT = "short_text"  # a name, a hospital, a department
    PRODUCT = "product"
    WHEN = "when"  # a date, a time or a duration
    CONTACT = "contact"  # a phone number or an e-mail address
    JOB_TITLE = "job_title"


_QUESTION_MARK = re.compile(r"[?？]\s*$|[?？]")
_ZH_QUESTION = re.compile(
    r"吗\s*[。.!！]*\s*$|呢\s*[。.!！]*\s*$|什么|怎么|怎样|如何|多少|几种|哪些|哪个|哪种|为什么|"
    r"能否|可否|是否|能不能|可不可以|会不会|有没有|是不是|请问"
)
_EN_QUESTION = re.compile(
    r"^\s*(?:what|how|why|which|who|when|where|can|could|does|do|is|are|should|would|will|"
    r"may)\b",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[A-Za-z\u4e00-\u9fff]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(
    r"(?<!\d)(?:(?:\+|00)?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)|"  # mainland mobile
    r"(?<!\d)0\d{2,3}[- ]?\d{7,8}(?!\d)|"  # mainland landline
    r"\+\d{1,3}[\d ()-]{6,16}\d"  # international
)
_DATE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})(?:\s*[-/.月]\s*(?P<d>\d{1,2})日?)?"
)
_WHEN = re.compile(
    r"\d+(?:\.\d+)?\s*(?:个)?(?:多)?(?:分钟|小时|天|日|周|星期|礼拜|个?月|年|次|"
    r"min(?:ute)?s?|h(?:ou)?rs?|days?|weeks?|months?|years?|doses?)|"
    r"[一二两三四五六七八九十半几]+\s*(?:个)?(?:多)?(?:分钟|小时|天|日|周|星期|礼拜|个?月|年|次)|"
    r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]|\d{1,2}[/-]\d{1,2}|"
    r"今天|今早|今晚|昨天|昨晚|前天|大前天|上周|上星期|上个?月|上礼拜|去年|前几天|最近|刚才|刚刚|"
    r"早上|上午|中午|下午|晚上|当天|当晚|次日|第二天|用药后|服药后|马上|立刻|立即|不久|"
    r"(?<![a-z])(?:today|yesterday|tonight|this morning|last (?:night|week|month|year)|"
    r"same day|next day|immediately|right after|shortly after|soon after|recently|"
    r"a (?:few|couple of) (?:days|weeks|months)|ago|since)(?![a-z])",
    re.IGNORECASE,
)
_UNKNOWN_WORD = re.compile(
    r"^\s*(?:不知道|不清楚|不确定|不详|未知|unknown|not sure|don'?t know|n/?a)\s*[。.!！]*\s*$",
    re.IGNORECASE,
)
_NOT_A_TITLE = re.compile(r"\d{3,}|@|https?://", re.IGNORECASE)

_EXAMPLES = {
    SlotKind.TEXT: ("例如：服药第3天出现全身皮疹", "e.g. 'rash all over on day 3'"),
    SlotKind.SHORT_TEXT: ("请用几个字回答", "a few words are enough"),
    SlotKind.PRODUCT: (
        "例如：诺拉维，批号 B2311；不清楚可回复“不知道”",
        "e.g. 'Noravex, lot B2311'; reply 'don't know' if unsure",
    ),
    SlotKind.WHEN: (
        "例如：3天前、服药后第2周、2026-11-20",
        "e.g. '3 days ago', 'week 2 of treatment', '2026-11-20'",
    ),
    SlotKind.CONTACT: (
        "例如：13800000000 或 name@hospital.cn",
        "e.g. '+86 138 0000 0000' or 'name@hospital.org'",
    ),
    SlotKind.JOB_TITLE: ("例如：主任医师、主治医师", "e.g. 'consultant', 'attending physician'"),
}


def is_question(text: str) -> bool:
    """True when ``text`` asks something rather than answering (a question mark, a Chinese
    question word, an English sentence that opens like a question)."""
    text = text.strip()
    if len(text) < 2:
        return False
    return bool(
        _QUESTION_MARK.search(text) or _ZH_QUESTION.search(text) or _EN_QUESTION.match(text)
    )


def is_unknown(text: str) -> bool:
    """The person says they do not know ("不知道", "not sure")."""
    return bool(_UNKNOWN_WORD.match(text))


def _plausible_date(text: str, today: date) -> bool:
    """Every full date written is a real calendar day between 1900 and today."""
    for match in _DATE.finditer(text):
        year, month = int(match.group("y")), int(match.group("m"))
        day = int(match.group("d") or 1)
        try:
            written = date(year, month, day)
        except ValueError:
            return False
        if not date(1900, 1, 1) <= written <= today:
            return False
    return True


def check(kind: SlotKind, text: str, today: date) -> bool:
    """Whether ``text`` is an acceptable answer for a slot of ``kind`` (see the module doc)."""
    text = text.strip()
    if not text or is_question(text):
        return False
    if kind is SlotKind.CONTACT:
        return bool(_PHONE.search(text) or _EMAIL.search(text))
    if kind is SlotKind.WHEN:
        return bool(_WHEN.search(text) or _DATE.search(text)) and _plausible_date(text, today)
    if not _LETTERS.search(text):
        return False  # "3", "…": a number typed where no menu is showing is not an answer
    if kind is not SlotKind.TEXT and read_yes_no(text) is not YesNo.UNCLEAR:
        return False  # "确认" or "no" is not a name, a product or a title
    if kind is SlotKind.PRODUCT:  # "yesterday" is a time; "诺拉维，用了3天" still names one
        return len(text) <= 60 and len(_LETTERS.findall(_WHEN.sub("", text))) >= 2
    if kind is SlotKind.JOB_TITLE:
        return len(text) <= 30 and not _NOT_A_TITLE.search(text)
    if kind is SlotKind.SHORT_TEXT:
        return len(text) <= 100
    return True


def example(ctx: Context, kind: SlotKind) -> str:
    """A short example of a good answer, in the conversation's language."""
    return ctx.t(*_EXAMPLES[kind])


def reask_text(ctx: Context, kind: SlotKind) -> str:
    """The line sent before a question asked again after an answer that did not fit."""
    return ctx.t(
        f"抱歉，这个回答我没能识别（{example(ctx, kind)}）。",
        f"Sorry, I could not use that answer ({example(ctx, kind)}).",
    )


def first_miss(form: ActiveForm, step: str) -> bool:
    """Record a miss at ``step``; True the first time (ask again), False after (give up)."""
    missed: list[str] = form.slots.setdefault("missed", [])
    if step in missed:
        return False
    missed.append(step)
    return True


def set_question_answerer(services: Services, answerer: QuestionAnswerer) -> None:
    """Wire the Q&A entry point that answers questions typed inside a form."""
    services.extras[_ANSWERER] = answerer


async def answer_question(ctx: Context, question: str) -> None:
    """Answer a question typed inside a form from approved content (the form then re-asks)."""
    answerer: QuestionAnswerer | None = ctx.services.extras.get(_ANSWERER)
    if answerer is None:  # no Q&A in this runtime: say so rather than store the question
        ctx.reply(
            ctx.t(
                "这个问题我稍后再回答，先请回答下面的问题。",
                "I will come back to that question; first, please answer this one.",
            )
        )
        return
    ctx.reply(*await answerer(ctx, question))
