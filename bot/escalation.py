"""Escalation requests: how any skill asks for a human, without knowing how handoff works.

Skills (Q&A, adverse events, the explicit "talk to a rep" request) call ``request_escalation``;
the request goes to a durable queue that the handoff skill consumes, so a request survives a
crash and is acted on once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from bot.i18n import detect_locale
from bot.models import Conversation
from bot.storage.base import Storage

ESCALATION_QUEUE: Final = "escalations"


class EscalationReason(StrEnum):
    EXPLICIT_REQUEST = "explicit_request"
    NOT_HELPED = "not_helped"  # two messages in a row the bot could not help with
    MEDICAL_INFORMATION = "medical_information"  # → the MI / MSL route
    SERIOUS_ADVERSE_EVENT = "serious_adverse_event"  # rep informed; the case still goes to PV
    ADVERSE_EVENT_IN_HUMAN_MODE = "adverse_event_in_human_mode"
    COMPLAINT = "complaint"
    REP_TAKEOVER = "rep_takeover"


def count_not_helped(conversation: Conversation, text: str) -> None:
    """Count a message the bot could not help with toward the ``NOT_HELPED`` escalation.

    A message without a single word (emoji, digits, symbols) is not counted: paging a rep over
    it wastes the rep's time, and the reply to it already offers a rep.
    """
    if detect_locale(text) is not None:
        conversation.unhelped_in_a_row += 1


async def request_escalation(
    storage: Storage,
    *,
    conversation_key: str,
    doctor_id: str,
    reason: EscalationReason,
    at: datetime,
    detail: str = "",
    reference: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Queue an escalation; returns the queue entry id. ``reference`` = case or MI id."""
    return await storage.enqueue(
        ESCALATION_QUEUE,
        {
            "conversation_key": conversation_key,
            "doctor_id": doctor_id,
            "reason": reason.value,
            "at": at.isoformat(),
            "detail": detail,
            "reference": reference,
            "extra": extra or {},
        },
    )
