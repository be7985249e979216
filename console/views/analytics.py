"""Analytics (admin, MSL): medical-information requests per week, and the content gaps they
show — the questions approved content did not answer and that became MI requests — exportable
as CSV for Medical Affairs. AE volume, questions by topic and the meeting funnel need the system
of record's aggregates (``records/``) and are not drawn here yet."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from console.auth import requires
from console.keys import MEMBER
from console.pages import audit, backends, render, services_of
from skills.handoff.roster import Role
from skills.qa.mi import MIRequest

WEEKS = 12


async def _requests(request: web.Request) -> list[MIRequest]:
    return await backends(request).mi.list(include_closed=True)


@requires(Role.ADMIN, Role.MSL)
async def overview(request: web.Request) -> web.Response:
    services = services_of(request)
    zone = ZoneInfo(services.settings.timezone)
    today = services.clock().astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    weeks = [monday - timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)]
    found = await _requests(request)
    days = [item.created_at.astimezone(zone).date() for item in found]
    per_week = Counter(day - timedelta(days=day.weekday()) for day in days)
    bars = [(week, per_week.get(week, 0)) for week in weeks]
    return render(
        request,
        "analytics.html",
        {"bars": bars, "peak": max([count for _, count in bars] + [1]), "gaps": found[-50:][::-1]},
    )


@requires(Role.ADMIN, Role.MSL)
async def gaps_export(request: web.Request) -> web.Response:
    """Every question that became an MI request (CSV), oldest first; the export is audited."""
    found = await _requests(request)
    await audit(request, "console_gaps_export", userid=request[MEMBER].userid, rows=len(found))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["mi_id", "created_at", "status", "question", "resolution"])
    for item in found:
        created = item.created_at.isoformat()
        writer.writerow([item.mi_id, created, item.status.value, item.question, item.resolution])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="content-gaps.csv"'},
    )
