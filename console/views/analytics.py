"""Analytics (admins and MSLs see everyone; a manager sees their own team): AE volume, doctors'
questions per week by topic and product, content gaps grouped by similarity, the documents
answers cite most, the meeting funnel and per-rep response times to handoffs — every figure
from the system of record (``records.analytics``), filtered by period, product, team and rep,
each exportable as CSV (exports audited).

Scope is decided here, from the roster as it is now: the filters a manager may choose are
their own team and its reps; whatever the query string says, the query never widens past
them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from console.auth import Member, requires
from console.handoffs import team_members
from console.keys import MEMBER
from console.pages import audit, render, services_of
from records.analytics import FUNNEL_STEPS, AnalyticsQuery, AnalyticsReport
from skills import handoff
from skills.handoff.roster import Role, Roster

PERIODS = (4, 12, 26, 52)  # weeks
DEFAULT_WEEKS = 12
SEE_ALL = (Role.ADMIN, Role.MSL)
SECTIONS = ("questions", "topics", "products", "gaps", "documents", "ae", "funnel", "response")
EXPORT_ROUTE = "/analytics/{section:" + "|".join(SECTIONS) + "}.csv"


@dataclass(frozen=True)
class Scope:
    """What the member may look at and what they chose."""

    teams: list[str]  # the teams they may pick (a manager: their own)
    reps: list[tuple[str, str]]  # (userid, name) they may pick, within the chosen team
    team: str
    rep: str
    allowed: tuple[str, ...] | None  # the reps the query is limited to; None: everyone


class FilterRefused(Exception):
    """A filter outside the member's scope or not understood (or no system of record to ask);
    ``key`` names the message."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def scope_of(member: Member, roster: Roster, team: str, rep: str) -> Scope:
    """The member's scope with the chosen team and rep (``FilterRefused`` when outside it)."""
    if member.has(*SEE_ALL):
        teams = sorted({rep.team for rep in roster.reps.values() if rep.team})
    else:
        own = roster.team_of(member.userid)
        teams = [own] if own else []
        if not teams:
            raise FilterRefused("no_team")
        team = team or own or ""
    if team and team not in teams:
        raise FilterRefused("not_your_team")
    members = team_members(roster, team) if team else sorted(roster.reps)
    reps = [(userid, roster.name_of(userid)) for userid in members if userid != member.userid]
    if rep and rep not in members:
        raise FilterRefused("not_your_team")
    allowed: tuple[str, ...] | None = None
    if rep:
        allowed = (rep,)
    elif team:
        allowed = tuple(members)
    return Scope(teams, reps, team, rep, allowed)


def _weeks(now: datetime, zone: ZoneInfo, count: int) -> tuple[tuple[datetime, ...], datetime]:
    """Week starts (Monday 00:00 business time) of the last ``count`` weeks, and the end."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    starts = [monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]
    bounds = [datetime.combine(day, time(), zone) for day in starts]
    return tuple(bounds), datetime.combine(monday + timedelta(weeks=1), time(), zone)


def _weeks_param(value: str | None) -> int:
    try:
        weeks = int(value or DEFAULT_WEEKS)
    except ValueError:
        raise FilterRefused("bad_period") from None
    if weeks not in PERIODS:
        raise FilterRefused("bad_period")
    return weeks


async def _report(request: web.Request) -> tuple[AnalyticsReport, Scope, int]:
    services = services_of(request)
    params = request.query
    weeks = _weeks_param(params.get("weeks"))
    roster = handoff.get_service(services).roster
    scope = scope_of(
        request[MEMBER], roster, params.get("team", "").strip(), params.get("rep", "").strip()
    )
    starts, end = _weeks(services.clock(), ZoneInfo(services.settings.timezone), weeks)
    product = params.get("product", "").strip()[:128] or None
    query = AnalyticsQuery(starts, end, product=product, reps=scope.allowed)
    records = services.records
    if records is None:  # the app always opens it; a host without it gets a clear page
        raise FilterRefused("no_records")
    return await records.analytics(query), scope, weeks


def _peak(values: Iterable[int]) -> int:
    return max([1, *values])


@requires(Role.ADMIN, Role.MSL, Role.MANAGER)
async def overview(request: web.Request) -> web.Response:
    try:
        found, scope, weeks = await _report(request)
    except FilterRefused as refused:
        status = 503 if refused.key == "no_records" else 400
        return render(request, "analytics.html", {"refused": refused.key}, status=status)
    services = services_of(request)
    roster = handoff.get_service(services).roster
    questions = found.questions
    context: dict[str, Any] = {
        "refused": None,
        "found": found,
        "scope": scope,
        "weeks": weeks,
        "periods": PERIODS,
        "product": found.query.product or "",
        "labels": [start.strftime("%m-%d") for start in found.query.weeks],
        "peak_questions": _peak(questions.messages),
        "peak_ae": _peak(found.ae.per_week),
        "peak_cell": _peak(n for row in questions.by_topic.values() for n in row),
        "peak_product_cell": _peak(n for row in questions.by_product.values() for n in row),
        "peak_docs": _peak(d.uses for d in found.documents),
        "peak_ae_products": _peak(n for _, n in found.ae.by_product),
        "funnel": [(step, found.funnel[step]) for step in FUNNEL_STEPS],
        "peak_funnel": _peak(found.funnel.values()),
        "name_of": roster.name_of,
        "sees_all": request[MEMBER].has(*SEE_ALL),
        "minutes": lambda seconds: f"{seconds / 60:.1f}",
        "query_string": request.query_string,
    }
    return render(request, "analytics.html", context, partial="figures")


def _rows(found: AnalyticsReport, section: str) -> tuple[list[str], Sequence[Sequence[Any]]]:
    """The header and rows of one section's CSV."""
    weeks = [start.date().isoformat() for start in found.query.weeks]
    q = found.questions
    if section == "questions":
        return ["week", "messages", "questions", "answered", "gaps"], [
            list(row)
            for row in zip(weeks, q.messages, q.questions, q.answered, q.gaps, strict=True)
        ]
    if section in ("topics", "products"):
        table = q.by_topic if section == "topics" else q.by_product
        return [section[:-1], *weeks], [[name, *counts] for name, counts in table.items()]
    if section == "gaps":
        header = ["asked", "no_information", "mi_requests", "topic", "last_at", "question", "also"]
        return header, [
            [
                g.count,
                g.no_information,
                g.mi_requests,
                g.topic or "",
                g.last_at.isoformat(),
                g.question,
                " | ".join(g.examples),
            ]
            for g in found.gaps
        ]
    if section == "documents":
        return ["doc_id", "approval_code", "uses"], [
            [d.doc_id, d.approval_code or "", d.uses] for d in found.documents
        ]
    if section == "ae":
        return ["dimension", "value", "cases"], [
            *(["product", name, n] for name, n in found.ae.by_product),
            *(["category", name, n] for name, n in found.ae.by_category),
            ["seriousness", "serious", found.ae.serious],
            ["seriousness", "non_serious", found.ae.total - found.ae.serious],
            *(["week", w, n] for w, n in zip(weeks, found.ae.per_week, strict=True)),
        ]
    if section == "funnel":
        return ["step", "doctors"], [[step, found.funnel[step]] for step in FUNNEL_STEPS]
    return ["rep", "taken", "median_s", "p90_s", "slowest_s"], [
        [r.rep_id, r.taken, r.median_s, r.p90_s, r.slowest_s] for r in found.handoffs.per_rep
    ]


@requires(Role.ADMIN, Role.MSL, Role.MANAGER)
async def export(request: web.Request) -> web.Response:
    """One section as CSV, with the page's filters; the export is audited."""
    section = request.match_info["section"]
    try:
        found, scope, weeks = await _report(request)
    except FilterRefused as refused:
        raise web.HTTPBadRequest(text=refused.key) from None
    header, rows = _rows(found, section)
    await audit(
        request,
        "console_analytics_export",
        userid=request[MEMBER].userid,
        section=section,
        rows=len(rows),
        weeks=weeks,
        product=found.query.product,
        team=scope.team or None,
        rep=scope.rep or None,
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="analytics-{section}.csv"'},
    )
