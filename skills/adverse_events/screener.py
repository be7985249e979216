"""The verdict on one message: offline detector always, LLM verdict added when configured.

A positive from either counts (recall first): an LLM "report" makes a clear report of a
message the detector would only ask to confirm; an LLM failure never blocks screening.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.llm import LLMClient
from skills.adverse_events.cues import CATEGORIES

log = logging.getLogger(__name__)


class Detection(Protocol):
    """What the offline detector answers (``skills.adverse_events.detector.AEDetection``)."""

    @property
    def report(self) -> bool: ...

    @property
    def confirm(self) -> bool: ...

    @property
    def categories(self) -> tuple[str, ...]: ...

    @property
    def score(self) -> float: ...

    @property
    def language(self) -> str: ...

    @property
    def is_known_effect_question(self) -> bool: ...

    @property
    def evidence(self) -> tuple[str, ...]: ...


class OfflineDetector(Protocol):
    def detect(self, text: str) -> Detection: ...


@dataclass(frozen=True)
class Verdict:
    """The combined verdict on one message: ``report`` opens a case at once, ``confirm`` asks
    the doctor one confirmation question first (never both)."""

    report: bool
    confirm: bool
    categories: tuple[str, ...]
    language: str
    is_known_effect_question: bool
    detail: dict[str, Any] = field(default_factory=dict)  # per-source scores for the case


LLM_SYSTEM = (
    "You screen messages that doctors send to a pharmaceutical company for pharmacovigilance. "
    "report = true when the message says that an identifiable patient (or the doctor) experienced "
    "something after a medicinal product — an adverse event, even when phrased as a question — "
    "or describes a special situation: pregnancy or breastfeeding exposure, overdose, abuse, "
    "misuse, medication error, off-label use, lack of efficacy, occupational exposure, a product "
    "quality complaint, or a drug interaction. A general question about known side effects with "
    "no patient who experienced something is NOT a report. known_effect_question = true when the "
    "message asks whether an effect is known, expected or common. "
    "Messages may be Chinese or English."
)

LLM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "report": {"type": "boolean"},
        "categories": {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}},
        "known_effect_question": {"type": "boolean"},
    },
    "required": ["report", "categories", "known_effect_question"],
    "additionalProperties": False,
}


class Screener:
    """Offline detector plus optional LLM; the detector runs in a thread (it is CPU work)."""

    def __init__(self, detector: OfflineDetector, llm: LLMClient | None) -> None:
        self._detector = detector
        self._llm = llm

    async def screen(self, text: str) -> Verdict:
        offline_task = asyncio.to_thread(self._detector.detect, text)
        if self._llm is None:
            offline = await offline_task
            llm_verdict = None
        else:
            offline, llm_verdict = await asyncio.gather(offline_task, self._ask_llm(text))
        detail: dict[str, Any] = {
            "offline": {
                "report": offline.report,
                "confirm": offline.confirm,
                "score": offline.score,
                "evidence": list(offline.evidence),
            }
        }
        report, confirm = offline.report, offline.confirm
        categories = set(offline.categories)
        known_question = offline.is_known_effect_question
        if llm_verdict is not None:
            detail["llm"] = llm_verdict
            if llm_verdict["report"]:
                report, confirm = True, False
                categories |= set(llm_verdict["categories"]) or {"adverse_event"}
            known_question = known_question or bool(llm_verdict["known_effect_question"])
        return Verdict(
            report=report,
            confirm=confirm,
            categories=tuple(name for name in CATEGORIES if name in categories)
            if report or confirm
            else (),
            language=offline.language,
            is_known_effect_question=known_question,
            detail=detail,
        )

    async def _ask_llm(self, text: str) -> dict[str, Any] | None:
        """The LLM's verdict, or None when it failed in any way (never blocks screening)."""
        assert self._llm is not None
        try:
            answer = await self._llm.complete_json(LLM_SYSTEM, text, LLM_SCHEMA, name="ae_screen")
            categories = [c for c in answer.get("categories", []) if c in CATEGORIES]
            return {
                "report": answer["report"] is True,
                "categories": categories,
                "known_effect_question": answer.get("known_effect_question") is True,
            }
        except Exception:  # timeouts, refusals, bad shapes: the offline verdict stands
            log.warning("LLM adverse-event screening failed; offline verdict used", exc_info=True)
            return None
