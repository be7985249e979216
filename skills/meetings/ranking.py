"""Orders upcoming meetings by how well they fit a doctor's specialty and interests."""

from __future__ import annotations

from bot.profiles import DoctorProfile
from skills.meetings.catalog import Meeting

SPECIALTY_WEIGHT = 10  # a meeting for the doctor's own specialty comes first
INTEREST_WEIGHT = 1  # then topics they asked about (counts from the interest profile)


def _matches(a: str, b: str) -> bool:
    a, b = a.strip().lower(), b.strip().lower()
    return bool(a and b) and (a in b or b in a)


def relevance(meeting: Meeting, profile: DoctorProfile | None) -> int:
    """Specialty match (department or declared specialties) plus interest counts; nothing for
    a doctor who opted out of personalisation or has not agreed to the notice."""
    if profile is None or not profile.personalised:
        return 0
    own = [*profile.specialties, *([profile.department] if profile.department else [])]
    score = 0
    if any(_matches(mine, audience) for mine in own for audience in meeting.audience_specialties):
        score += SPECIALTY_WEIGHT
    interests = {**profile.topics, **profile.therapeutic_areas}
    labels = [meeting.therapeutic_area, *meeting.tags]
    for interest, count in interests.items():
        if any(_matches(interest, label) for label in labels if label):
            score += INTEREST_WEIGHT * count
    return score


def rank_meetings(meetings: list[Meeting], profile: DoctorProfile | None) -> list[Meeting]:
    """Most relevant first; equally relevant meetings by start time."""
    return sorted(meetings, key=lambda meeting: (-relevance(meeting, profile), meeting.start))
