"""What a doctor's message already tells about a case, for the report form to skip questions.

The one place that maps the extraction API (``skills.adverse_events.extraction``) to case
fields; the form and the screening middleware only see ``Facts`` and ``mask``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from skills.adverse_events.cases import Outcome, Seriousness

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_NAMED = re.compile(r"(患者|病人|姓名[:：]?|叫)([\u4e00-\u9fff]{2,3})(?=[，,。、\s]|$|\d|男|女)")
_INITIALS = re.compile(
    r"(?:患者|病人|patient|initials?|姓名缩写|缩写)\s*[:：]?\s*([A-Z]{2,3})(?![A-Za-z])", re.I
)
_AGE = re.compile(r"(\d{1,3})\s*(岁|周岁|years?[ -]old|yo\b|y/o)", re.IGNORECASE)
_SEX = re.compile(r"(男|女|\bmale\b|\bfemale\b|\bman\b|\bwoman\b)", re.IGNORECASE)
_BATCH = re.compile(
    r"(?:批号|批次|lot|batch)\s*(?:no\.?|number|号)?\s*[:：#]?\s*([A-Za-z0-9-]{3,})", re.I
)
_SERIOUS = (
    (Seriousness.DEATH, re.compile(r"死亡|去世|died|death", re.I)),
    (Seriousness.LIFE_THREATENING, re.compile(r"危及生命|抢救|life[- ]threatening", re.I)),
    (Seriousness.HOSPITALISATION, re.compile(r"住院|入院|hospitali[sz]|admitted", re.I)),
    (Seriousness.DISABILITY, re.compile(r"残疾|致残|disab", re.I)),
    (Seriousness.CONGENITAL_ANOMALY, re.compile(r"先天|畸形|birth defect|congenital", re.I)),
)
_OUTCOMES = (
    (Outcome.FATAL, re.compile(r"死亡|去世|died|fatal", re.I)),
    (Outcome.RECOVERED_WITH_SEQUELAE, re.compile(r"后遗症|sequel", re.I)),
    (Outcome.RECOVERING, re.compile(r"好转|恢复中|recovering|improving", re.I)),
    (Outcome.NOT_RECOVERED, re.compile(r"未恢复|没好|仍然|not recovered|ongoing", re.I)),
    (Outcome.RECOVERED, re.compile(r"已恢复|痊愈|恢复了|消退|recovered|resolved", re.I)),
)


@dataclass
class Facts:
    initials: str | None = None
    age: str | None = None
    sex: str | None = None  # "male" | "female"
    products: list[str] = field(default_factory=list)
    batch: str | None = None
    seriousness: list[Seriousness] = field(default_factory=list)
    outcome: Outcome | None = None


def mask(text: str) -> str:
    """The text with ID numbers, phone numbers and patient names replaced by ``[已屏蔽]``."""
    text = _ID_NUMBER.sub("[已屏蔽]", text)
    text = _PHONE.sub("[已屏蔽]", text)
    return _NAMED.sub(lambda match: f"{match.group(1)}[已屏蔽]", text)


def extract_facts(text: str) -> Facts:
    """Patient initials/age/sex, batch, seriousness and outcome hints stated in ``text``."""
    facts = Facts()
    if match := _INITIALS.search(text):
        facts.initials = match.group(1).upper()
    if match := _AGE.search(text):
        facts.age = match.group(1)
    if match := _SEX.search(text):
        word = match.group(1).lower()
        facts.sex = "male" if word in ("男", "male", "man") else "female"
    if match := _BATCH.search(text):
        facts.batch = match.group(1)
    facts.seriousness = [flag for flag, pattern in _SERIOUS if pattern.search(text)]
    for outcome, pattern in _OUTCOMES:
        if pattern.search(text):
            facts.outcome = outcome
            break
    return facts
