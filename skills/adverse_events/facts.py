"""What a doctor's message already tells about a case, for the report form to skip questions.

The one place that maps the extraction API (``skills.adverse_events.extraction``) to case
fields; the form and the screening middleware only see ``Facts`` and ``mask``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.masking import mask_identifiers
from skills.adverse_events.cases import Outcome, Seriousness
from skills.adverse_events.extraction import extract

_OUTCOMES = {
    "recovered": Outcome.RECOVERED,
    "recovering": Outcome.RECOVERING,
    "not_recovered": Outcome.NOT_RECOVERED,
    "fatal": Outcome.FATAL,
}


@dataclass
class Facts:
    initials: str | None = None
    age: str | None = None  # as written ("45岁", "54-year-old")
    sex: str | None = None  # "male" | "female"
    products: list[str] = field(default_factory=list)
    batch: str | None = None
    seriousness: list[Seriousness] = field(default_factory=list)
    outcome: Outcome | None = None
    onset: str | None = None


def mask(text: str) -> str:
    """The text without patient full names, ID-card numbers or phone numbers."""
    return mask_identifiers(text)


def extract_facts(text: str) -> Facts:
    """Patient initials/age/sex, products, batch, seriousness, outcome and onset in ``text``."""
    found = extract(text)
    return Facts(
        initials=found.patient_initials,
        age=found.age,
        sex=found.sex,
        products=list(found.products),
        batch=found.batch_numbers[0] if found.batch_numbers else None,
        seriousness=[Seriousness(name) for name in found.seriousness],
        outcome=_OUTCOMES.get(found.outcome) if found.outcome else None,
        onset=found.onset[0] if found.onset else None,
    )
