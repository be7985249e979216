"""What the rep must know before taking a conversation over.

A short rolling transcript kept in the conversation state (the last few messages, clipped),
the open adverse-event case ids (read from the index the AE case workflow keeps), the open
medical-information requests (kept here, per doctor) and the interest profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.masking import mask_identifiers
from bot.models import Conversation
from bot.profiles import DoctorProfile
from bot.storage.base import Storage
from skills.handoff import interests

TRANSCRIPT_KEY = "handoff_transcript"  # in Conversation.data
TRANSCRIPT_TURNS = 8
TRANSCRIPT_CLIP = 120  # characters per message


def open_ae_cases_key(doctor_id: str) -> str:
    """Set of the doctor's adverse-event case ids that reached handoff (escalation references);
    the AE case workflow may add its open cases here too."""
    return f"ae:open-cases:{doctor_id}"


def open_mi_requests_key(doctor_id: str) -> str:
    """Set of the doctor's open medical-information request references (kept by handoff)."""
    return f"handoff:mi-open:{doctor_id}"


def remember_turn(conversation: Conversation, who: str, text: str, at: datetime) -> None:
    """Append one message ("doctor", "bot" or "rep") to the rolling transcript."""
    text = mask_identifiers(" ".join(text.split()))  # the rep's summary never shows identifiers
    if not text:
        return
    clipped = text if len(text) <= TRANSCRIPT_CLIP else text[: TRANSCRIPT_CLIP - 1] + "…"
    turns = list(conversation.data.get(TRANSCRIPT_KEY, []))
    turns.append({"who": who, "text": clipped, "at": at.isoformat(timespec="seconds")})
    conversation.data[TRANSCRIPT_KEY] = turns[-TRANSCRIPT_TURNS:]


def transcript_lines(conversation: Conversation | None) -> list[str]:
    if conversation is None:
        return []
    labels = {"doctor": "医生", "bot": "助手", "rep": "代表"}
    return [
        f"{labels.get(turn['who'], turn['who'])}: {turn['text']}"
        for turn in conversation.data.get(TRANSCRIPT_KEY, [])
    ]


@dataclass(frozen=True)
class Briefing:
    doctor: str
    hospital: str
    department: str
    transcript: list[str]
    ae_cases: list[str]
    mi_requests: list[str]
    interests: str


async def gather(
    storage: Storage, profile: DoctorProfile, conversation: Conversation | None
) -> Briefing:
    return Briefing(
        doctor=profile.display_name,
        hospital=profile.hospital or "—",
        department=profile.department or "—",
        transcript=transcript_lines(conversation),
        ae_cases=sorted(await storage.set_members(open_ae_cases_key(profile.doctor_id))),
        mi_requests=sorted(await storage.set_members(open_mi_requests_key(profile.doctor_id))),
        interests=interests.summary(profile),
    )
