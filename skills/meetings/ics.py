"""An iCalendar (RFC 5545) invitation for one meeting, delivered as a small .ics file."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Locale
from skills.meetings.catalog import Meeting

_ICS_LINE_OCTETS = 75


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character."""
    parts: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        limit = _ICS_LINE_OCTETS if not parts else _ICS_LINE_OCTETS - 1  # continuation: " "
        if size + width > limit:
            parts.append(current)
            current, size = "", 0
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def meeting_ics(meeting: Meeting, locale: Locale, now: datetime) -> bytes:
    """The calendar entry with the join link (or venue) and a reminder one hour before."""
    description = meeting.summary.get(locale)
    if meeting.join_url:
        description += "\n" + meeting.join_url
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//virtualrep//meetings//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{meeting.id}@virtualrep",
        f"DTSTAMP:{_utc(now)}",
        f"DTSTART:{_utc(meeting.start)}",
        f"DTEND:{_utc(meeting.end)}",
        f"SUMMARY:{_escape(meeting.title.get(locale))}",
        f"DESCRIPTION:{_escape(description)}",
    ]
    if meeting.location:
        lines.append(f"LOCATION:{_escape(meeting.location)}")
    if meeting.join_url:
        lines.append(f"URL:{meeting.join_url}")
    lines += [
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        f"DESCRIPTION:{_escape(meeting.title.get(locale))}",
        "TRIGGER:-PT1H",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode("utf-8")


def ics_filename(meeting: Meeting) -> str:
    return f"{meeting.id}.ics"
