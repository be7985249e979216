"""The rep roster: who answers which doctor, when they work, and who stands in for them.

Loaded from ``VREP_REP_ROSTER`` (YAML or CSV, see ``sample_roster.yaml`` for the YAML shape and
``parse_csv`` for the CSV one); without it the sample roster shipped with the bot is used.

Every member has roles (``Role``): what they may do is decided from the roles and from their
relationship to the doctor (``skills.roles``). A roster written before roles existed stays
valid: a member without ``roles`` is a rep (an MSL when only in ``mi_group``), and everyone
named as a backup is also a backup.

Working hours are the basis of every SLA: ``add_working_time`` lets the SLA clock run only
while the rep is at work, so a card sent at 22:00 is due ten minutes after the next opening,
not at 22:10.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot.escalation import EscalationReason
from bot.models import Locale
from bot.profiles import DoctorProfile
from bot.settings import SettingsError

SAMPLE_ROSTER = "sample_roster.yaml"
DEFAULT_HOURS = ("mon-fri 09:00-18:00",)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEARCH_DAYS = 60  # how far ahead an opening is looked for (covers long holidays)


class RosterError(SettingsError):
    """The roster file (``VREP_REP_ROSTER``) is malformed; the message names the entry.

    A ``SettingsError``: start-up stops with this one line, like any invalid setting.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(f"invalid VREP_REP_ROSTER: {' '.join(detail.split())}")


@dataclass(frozen=True)
class WorkingWindow:
    """One recurring window, e.g. Monday to Friday 09:00-18:00 (local time)."""

    weekdays: frozenset[int]  # 0 = Monday
    start: time
    end: time


def parse_hours(spec: str) -> WorkingWindow:
    """``"mon-fri 09:00-18:00"`` or ``"sat,sun 10:00-12:00"`` → a window."""
    try:
        days_part, times_part = spec.split()
        start_text, end_text = times_part.split("-")
        start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
        weekdays: set[int] = set()
        for chunk in days_part.lower().split(","):
            if "-" in chunk:
                first, last = (_DAYS.index(day) for day in chunk.split("-"))
                weekdays.update(range(first, last + 1))
            else:
                weekdays.add(_DAYS.index(chunk))
    except ValueError as exc:
        raise RosterError(f"working hours {spec!r}: expected e.g. 'mon-fri 09:00-18:00'") from exc
    if end <= start:
        raise RosterError(f"working hours {spec!r}: the end must be after the start")
    return WorkingWindow(frozenset(weekdays), start, end)


class Role(StrEnum):
    """What a corp member is in the roster; one member may hold several roles."""

    REP = "rep"  # answers the doctors assigned to them
    BACKUP = "backup"  # stands in for a rep when offered a handoff
    MSL = "msl"  # medical science liaison / medical information: MI requests
    PV = "pv"  # pharmacovigilance officer: acknowledges adverse-event cases
    MANAGER = "manager"  # acts on every doctor of their team
    ADMIN = "admin"  # acts on everything


_ROLE_ALIASES = {"mi": Role.MSL, "pv_officer": Role.PV}


def parse_role(value: object, where: str) -> Role:
    text = str(value).strip().lower()
    try:
        return _ROLE_ALIASES.get(text) or Role(text)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise RosterError(f"{where}: unknown role {value!r} (expected one of {known})") from None


@dataclass(frozen=True)
class Rep:
    """A corp member of the roster (reps, but also MSLs, PV officers, managers, admins)."""

    userid: str
    name: str
    backups: tuple[str, ...] = ()
    hours: tuple[WorkingWindow, ...] = ()
    roles: frozenset[Role] = frozenset({Role.REP})
    team: str | None = None  # a rep's team; for a manager, the team they manage
    language: Locale | None = None  # the member's language when their message shows none


@dataclass(frozen=True)
class Stage:
    """One step of the escalation ladder: the reps offered the card at the same time."""

    kind: str  # "rep", "backup", "pool" or "mi"
    userids: tuple[str, ...]


@dataclass
class Roster:
    timezone: ZoneInfo
    reps: dict[str, Rep]
    doctors: dict[str, str] = field(default_factory=dict)  # doctor id → rep userid
    hospitals: dict[str, str] = field(default_factory=dict)  # hospital name → rep userid
    pool: tuple[str, ...] = ()
    mi_group: tuple[str, ...] = ()
    holidays: frozenset[date] = frozenset()
    default_hours: tuple[WorkingWindow, ...] = ()

    # -- who --------------------------------------------------------------------------------
    def name_of(self, userid: str) -> str:
        rep = self.reps.get(userid)
        return rep.name if rep else userid

    def roles_of(self, userid: str) -> frozenset[Role]:
        """The member's roles; empty for anyone not in the roster."""
        rep = self.reps.get(userid)
        return rep.roles if rep else frozenset()

    def members_with(self, role: Role) -> tuple[str, ...]:
        return tuple(sorted(userid for userid, rep in self.reps.items() if role in rep.roles))

    def team_of(self, userid: str | None) -> str | None:
        rep = self.reps.get(userid or "")
        return rep.team if rep else None

    def language_of(self, userid: str) -> Locale | None:
        rep = self.reps.get(userid)
        return rep.language if rep else None

    def with_pv_officers(self, userids: tuple[str, ...]) -> None:
        """Add the PV role to ``userids`` (``VREP_PV_USERS``), adding unknown ones as members."""
        for userid in userids:
            rep = self.reps.get(userid) or Rep(userid=userid, name=userid, roles=frozenset())
            self.reps[userid] = replace(rep, roles=rep.roles | {Role.PV})

    def assigned_rep(self, profile: DoctorProfile) -> str | None:
        """The doctor's own rep: by doctor id, then the profile's assignment, then the hospital."""
        for candidate in (
            self.doctors.get(profile.doctor_id),
            profile.assigned_rep,
            self.hospitals.get(profile.hospital or ""),
        ):
            if candidate:
                return candidate
        return None

    def stages(self, profile: DoctorProfile, reason: EscalationReason) -> list[Stage]:
        """The ladder for one escalation: MI requests go to the MI/MSL group; everything else
        to the assigned rep, then each of their backups, then the on-duty pool."""
        if reason is EscalationReason.MEDICAL_INFORMATION and self.mi_group:
            return [Stage("mi", self.mi_group)]
        ladder: list[Stage] = []
        seen: set[str] = set()
        assigned = self.assigned_rep(profile)
        if assigned:
            ladder.append(Stage("rep", (assigned,)))
            seen.add(assigned)
            rep = self.reps.get(assigned)
            for backup in rep.backups if rep else ():
                if backup not in seen:
                    ladder.append(Stage("backup", (backup,)))
                    seen.add(backup)
        pool = tuple(userid for userid in self.pool if userid not in seen)
        if pool:
            ladder.append(Stage("pool", pool))
        return ladder

    # -- when -------------------------------------------------------------------------------
    def _windows(self, userid: str) -> tuple[WorkingWindow, ...]:
        rep = self.reps.get(userid)
        return (rep.hours if rep and rep.hours else None) or self.default_hours

    def _intervals(self, userids: tuple[str, ...], day: date) -> list[tuple[datetime, datetime]]:
        """Working intervals of any of ``userids`` on ``day`` (aware datetimes), sorted."""
        if day in self.holidays:
            return []
        spans = {
            (
                datetime.combine(day, window.start, self.timezone),
                datetime.combine(day, window.end, self.timezone),
            )
            for userid in userids
            for window in self._windows(userid)
            if day.weekday() in window.weekdays
        }
        return sorted(spans)

    def on_duty(self, userids: tuple[str, ...], at: datetime) -> bool:
        local = at.astimezone(self.timezone)
        return any(start <= local < end for start, end in self._intervals(userids, local.date()))

    def next_opening(self, userids: tuple[str, ...], at: datetime) -> datetime | None:
        """``at`` when one of them is at work, else the start of the next working interval."""
        local = at.astimezone(self.timezone)
        for offset in range(_SEARCH_DAYS):
            for start, end in self._intervals(userids, local.date() + timedelta(days=offset)):
                if end > local:
                    return max(start, local)
        return None

    def add_working_time(
        self, userids: tuple[str, ...], start: datetime, duration: timedelta
    ) -> datetime:
        """The moment when ``duration`` of working time has passed since ``start``.

        Falls back to plain elapsed time when nobody has working hours in the next weeks (an
        escalation must never wait forever).
        """
        local = start.astimezone(self.timezone)
        left = duration
        for offset in range(_SEARCH_DAYS):
            for begin, end in self._intervals(userids, local.date() + timedelta(days=offset)):
                if end <= local:
                    continue
                begin = max(begin, local)
                if end - begin >= left:
                    return begin + left
                left -= end - begin
        return start + duration

    def on_duty_among(self, userids: tuple[str, ...], at: datetime) -> tuple[str, ...]:
        """Those of ``userids`` at work at ``at`` (all of them when none is: cards wait)."""
        present = tuple(userid for userid in userids if self.on_duty((userid,), at))
        return present or userids


def _hours(specs: Any, where: str) -> tuple[WorkingWindow, ...]:
    if specs is None:
        return ()
    if isinstance(specs, str):
        specs = [specs]
    if not isinstance(specs, list):
        raise RosterError(f"{where}: hours must be a string or a list of strings")
    return tuple(parse_hours(str(spec)) for spec in specs)


def _userids(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(";") if part.strip())
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    raise RosterError(f"{where}: expected a list of userids")


def roster_from_dict(data: dict[str, Any], fallback_timezone: str) -> Roster:
    """Build a roster from the YAML shape (also what ``parse_csv`` produces)."""
    try:
        timezone = ZoneInfo(str(data.get("timezone") or fallback_timezone))
    except (ValueError, KeyError) as exc:
        raise RosterError(f"timezone {data.get('timezone')!r} is unknown") from exc
    mi_group = _userids(data.get("mi_group"), "mi_group")
    reps: dict[str, Rep] = {}
    for userid, entry in (data.get("reps") or {}).items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise RosterError(f"reps.{userid}: expected a mapping")
        where = f"reps.{userid}"
        default = Role.MSL if str(userid) in mi_group else Role.REP
        reps[str(userid)] = Rep(
            userid=str(userid),
            name=str(entry.get("name") or userid),
            backups=_userids(entry.get("backups"), f"{where}.backups"),
            hours=_hours(entry.get("hours"), f"{where}.hours"),
            roles=_roles(entry.get("roles"), f"{where}.roles") or frozenset({default}),
            team=str(entry["team"]) if entry.get("team") else None,
            language=_language(entry.get("language"), f"{where}.language"),
        )
    try:
        holidays = frozenset(date.fromisoformat(str(day)) for day in data.get("holidays") or ())
    except ValueError as exc:
        raise RosterError(f"holidays: {exc}") from exc
    roster = Roster(
        timezone=timezone,
        reps=reps,
        doctors={str(k): str(v) for k, v in (data.get("doctors") or {}).items()},
        hospitals={str(k): str(v) for k, v in (data.get("hospitals") or {}).items()},
        pool=_userids(data.get("pool"), "pool"),
        mi_group=mi_group,
        holidays=holidays,
        default_hours=_hours(data.get("hours"), "hours") or _hours(list(DEFAULT_HOURS), "hours"),
    )
    mentioned = {*roster.doctors.values(), *roster.hospitals.values(), *roster.pool}
    backups = {backup for rep in reps.values() for backup in rep.backups}
    for userid in (mentioned | backups) - reps.keys():
        roster.reps[userid] = Rep(userid=userid, name=userid)
    for userid in set(roster.mi_group) - reps.keys():
        roster.reps[userid] = Rep(userid=userid, name=userid, roles=frozenset({Role.MSL}))
    for userid in backups:
        rep = roster.reps[userid]
        roster.reps[userid] = replace(rep, roles=rep.roles | {Role.BACKUP})
    return roster


def _roles(value: Any, where: str) -> frozenset[Role]:
    if value is None:
        return frozenset()
    items = value.replace(";", ",").split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise RosterError(f"{where}: expected a list of roles")
    return frozenset(parse_role(item, where) for item in items if str(item).strip())


def _language(value: Any, where: str) -> Locale | None:
    if value is None or value == "":
        return None
    try:
        return Locale(str(value).strip().lower())
    except ValueError:
        raise RosterError(f"{where}: language {value!r} must be zh or en") from None


def parse_csv(text: str) -> dict[str, Any]:
    """The CSV form: a header ``kind,key,value`` and one fact per row.

    kinds: ``timezone`` (key = zone), ``hours`` (key ``*`` or a rep userid, value a window),
    ``rep`` (key userid, value name), ``backup`` (key rep, value backup userid), ``doctor``
    (key doctor id, value rep), ``hospital`` (key hospital, value rep), ``pool`` and ``mi``
    (key userid), ``holiday`` (key YYYY-MM-DD), ``role`` (key userid, value a role; one row per
    role), ``team`` (key userid, value team), ``language`` (key userid, value zh or en).
    """
    data: dict[str, Any] = {"reps": {}, "doctors": {}, "hospitals": {}, "pool": [], "hours": []}
    data.update({"mi_group": [], "holidays": []})
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"kind", "key"} <= set(reader.fieldnames):
        raise RosterError("CSV roster needs the header kind,key,value")
    for line, row in enumerate(reader, start=2):
        kind = (row.get("kind") or "").strip().lower()
        key = (row.get("key") or "").strip()
        value = (row.get("value") or "").strip()
        if not kind or kind.startswith("#"):
            continue
        if not key:
            raise RosterError(f"CSV roster line {line}: key is empty")
        member_kinds = ("rep", "backup", "role", "team", "language")
        rep = data["reps"].setdefault(key, {}) if kind in member_kinds else None
        if kind == "timezone":
            data["timezone"] = key
        elif kind == "hours" and key == "*":
            data["hours"].append(value)
        elif kind == "hours":
            data["reps"].setdefault(key, {}).setdefault("hours", []).append(value)
        elif kind == "rep" and rep is not None:
            rep["name"] = value or key
        elif kind == "backup" and rep is not None:
            rep.setdefault("backups", []).append(value)
        elif kind == "role" and rep is not None:
            rep.setdefault("roles", []).append(parse_role(value, f"CSV roster line {line}"))
        elif kind in ("team", "language") and rep is not None:
            rep[kind] = value
        elif kind in ("doctor", "hospital"):
            data[kind + "s"][key] = value
        elif kind == "pool":
            data["pool"].append(key)
        elif kind == "mi":
            data["mi_group"].append(key)
        elif kind == "holiday":
            data["holidays"].append(key)
        else:
            raise RosterError(f"CSV roster line {line}: unknown kind {kind!r}")
    return data


def load_roster(path: Path | None, fallback_timezone: str) -> Roster:
    """Read the roster at ``path`` (``.csv`` or YAML), or the shipped sample when None."""
    if path is None:
        text = resources.files(__package__).joinpath(SAMPLE_ROSTER).read_text("utf-8")
        suffix = ".yaml"
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise RosterError(f"cannot read the roster {path}: {exc.strerror}") from exc
        suffix = path.suffix.lower()
    if suffix == ".csv":
        data = parse_csv(text)
    else:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RosterError(f"roster is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise RosterError("roster must be a YAML mapping")
        data = loaded
    return roster_from_dict(data, fallback_timezone)
