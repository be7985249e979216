"""The meeting catalog: typed entries, validation, and a source that reloads without a restart.

A catalog comes from a YAML/JSON file (``VREP_MEETINGS_FILE``, default the packaged sample) or
an HTTP JSON document (``VREP_MEETINGS_URL``). Either holds a list of meetings, or a mapping
with a ``meetings`` list. An invalid entry is reported with the source and the entry id and
skipped; an unreadable source keeps the last good catalog. The bot keeps running either way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.models import Locale
from bot.settings import Settings
from skills.meetings.compliance import inducement_words

log = logging.getLogger(__name__)

SAMPLE_CATALOG = Path(__file__).with_name("sample_meetings.yaml")
_DATETIME_FIELDS = ("start", "end", "registration_deadline")


class CatalogError(Exception):
    """The catalog source as a whole could not be read (missing file, broken YAML, HTTP error)."""


class LocalizedText(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, locale: Locale) -> str:
        return self.zh if locale is Locale.ZH else self.en


class Speaker(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    affiliation: str = ""


class Material(BaseModel):
    """An approved document of the knowledge base; ``title`` is used when the KB is absent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    doc_id: str = Field(min_length=1)
    title: str = ""


class Meeting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
    title: LocalizedText
    summary: LocalizedText
    speakers: tuple[Speaker, ...] = ()
    start: datetime
    end: datetime
    timezone: str = "Asia/Shanghai"
    format: Literal["online", "offline", "hybrid"]
    join_url: str | None = None
    location: str | None = None
    capacity: int = Field(gt=0)
    audience_specialties: tuple[str, ...] = ()
    therapeutic_area: str = ""
    registration_deadline: datetime | None = None
    compliance_code: str = Field(min_length=1)
    materials: tuple[Material, ...] = ()
    tags: tuple[str, ...] = ()
    owner: str | None = None  # the rep or manager who runs it: sees every attendee
    share_attendees: bool = False  # the owner lets managers and MSLs see every attendee

    @model_validator(mode="before")
    @classmethod
    def _localise_times(cls, data: Any) -> Any:
        """Naive times are in the entry's time zone (default Asia/Shanghai)."""
        if not isinstance(data, dict):
            return data
        try:
            zone = ZoneInfo(str(data.get("timezone", "Asia/Shanghai")))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("timezone: not a known IANA time zone") from None
        data = dict(data)
        for name in _DATETIME_FIELDS:
            value = data.get(name)
            if isinstance(value, date) and not isinstance(value, datetime):
                raise ValueError(f"{name}: needs a time of day, not only a date")
            if isinstance(value, str):
                try:
                    value = datetime.fromisoformat(value)
                except ValueError:
                    raise ValueError(f"{name}: not an ISO 8601 date-time") from None
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=zone)
            if value is not None:
                data[name] = value
        return data

    @field_validator("materials", mode="before")
    @classmethod
    def _material_ids(cls, value: Any) -> Any:
        """A material may be given as a bare document id."""
        if isinstance(value, list | tuple):
            return [{"doc_id": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Meeting:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.registration_deadline is not None and self.registration_deadline > self.start:
            raise ValueError("registration_deadline must not be after start")
        if self.format in ("online", "hybrid") and not (
            self.join_url and self.join_url.startswith(("https://", "http://"))
        ):
            raise ValueError(f"a {self.format} meeting needs an http(s) join_url")
        if self.format in ("offline", "hybrid") and not self.location:
            raise ValueError(f"a {self.format} meeting needs a location")
        texts = [self.title.zh, self.title.en, self.summary.zh, self.summary.en]
        found = sorted({word for text in texts for word in inducement_words(text)})
        if found:
            raise ValueError(f"inducement wording is not allowed: {', '.join(found)}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def closes_at(self) -> datetime:
        """Registration closes at the deadline, or at the start when there is none."""
        return self.registration_deadline or self.start

    def registration_open(self, now: datetime) -> bool:
        return now < self.closes_at

    def local(self, moment: datetime) -> str:
        """``moment`` in the meeting's time zone, e.g. ``2026-12-03 19:30 (Asia/Shanghai)``."""
        return f"{moment.astimezone(self.zone):%Y-%m-%d %H:%M} ({self.timezone})"

    def when(self) -> str:
        local_start, local_end = self.start.astimezone(self.zone), self.end.astimezone(self.zone)
        end = (
            f"{local_end:%H:%M}"
            if local_end.date() == local_start.date()
            else f"{local_end:%Y-%m-%d %H:%M}"
        )
        return f"{local_start:%Y-%m-%d %H:%M}–{end} ({self.timezone})"


@dataclass(frozen=True)
class Catalog:
    """The valid meetings of one load (by id, earliest start first) and what was skipped."""

    source: str
    meetings: dict[str, Meeting] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def get(self, meeting_id: str) -> Meeting | None:
        return self.meetings.get(meeting_id)

    def upcoming(self, now: datetime) -> list[Meeting]:
        return [meeting for meeting in self.meetings.values() if meeting.end > now]


def _compact(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_catalog(data: Any, source: str) -> Catalog:
    """Validate every entry of a loaded document; invalid entries become problems."""
    entries = data.get("meetings") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise CatalogError(f"{source}: expected a list of meetings or a 'meetings' list")
    meetings: dict[str, Meeting] = {}
    problems: list[str] = []
    for number, entry in enumerate(entries, 1):
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        label = f"entry {entry_id!r}" if entry_id else f"entry #{number}"
        if not isinstance(entry, dict):
            problems.append(f"{source}: {label}: not a mapping")
            continue
        try:
            meeting = Meeting.model_validate(entry)
        except ValidationError as err:
            problems.append(f"{source}: {label}: {_compact(err)}")
            continue
        if meeting.id in meetings:
            problems.append(f"{source}: {label}: duplicate id, the first one is kept")
            continue
        meetings[meeting.id] = meeting
    ordered = dict(sorted(meetings.items(), key=lambda item: (item[1].start, item[0])))
    return Catalog(source=source, meetings=ordered, problems=tuple(problems))


def load_catalog_file(path: Path) -> Catalog:
    """Read and validate a YAML or JSON catalog file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CatalogError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise CatalogError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {err}"
        ) from None
    return parse_catalog(data, str(path))


async def fetch_catalog(url: str, timeout_s: float = 10.0) -> Catalog:
    """Fetch and validate a JSON catalog over HTTP."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                raise CatalogError(f"{url}: HTTP {response.status}")
            data = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as err:
        raise CatalogError(f"{url}: {type(err).__name__}: {err}") from None
    return parse_catalog(data, url)


class CatalogSource:
    """The current catalog: re-read when the file changes, or every ``meetings_refresh_s``.

    Checking a file costs one ``stat`` per access, so an edited catalog is live on the next
    message. A failed reload is logged and the previous catalog stays in use.
    """

    def __init__(self, settings: Settings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._url = settings.meetings_url
        self._path = settings.meetings_file or SAMPLE_CATALOG
        self._refresh_s = settings.meetings_refresh_s
        self._monotonic = monotonic
        self._catalog = Catalog(source=self._url or str(self._path))
        self._stamp: tuple[int, int] | None = None  # (mtime, size) of the file last read
        self._loaded = False
        self._fetched_at: float | None = None
        self.load_error: str | None = None

    async def get(self) -> Catalog:
        if self._url is not None:
            due = (
                self._fetched_at is None or self._monotonic() - self._fetched_at >= self._refresh_s
            )
            if due:
                await self.reload()
        else:
            if not self._loaded or self._file_stamp() != self._stamp:
                await self.reload()
        return self._catalog

    async def reload(self) -> Catalog:
        """Read the source now; on failure keep the previous catalog and remember the error."""
        self._loaded = True
        try:
            if self._url is not None:
                self._fetched_at = self._monotonic()
                catalog = await fetch_catalog(self._url)
            else:
                self._stamp = self._file_stamp()
                catalog = load_catalog_file(self._path)
        except CatalogError as err:
            self.load_error = str(err)
            log.error("meeting catalog not loaded; keeping the previous one: %s", err)
            return self._catalog
        self.load_error = None
        for problem in catalog.problems:
            log.warning("meeting catalog entry skipped: %s", problem)
        self._catalog = catalog
        return catalog

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size
