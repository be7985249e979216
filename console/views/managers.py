"""The handoffs page: open handoffs (waiting with their SLA, breaches first) and the
conversations a rep has taken over (human mode), and response times over the last 30 days
(taken over, median and longest wait, declined). Managers see their team's (and the on-duty
pool's for doctors with no rep), reps their own doctors' and those offered to them."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from aiohttp import web

from console.auth import requires
from console.keys import MEMBER
from console.pages import backends, render, services_of
from skills.handoff.roster import Role

RESPONSE_PERIOD: Final = timedelta(days=30)


@requires(Role.MANAGER, Role.ADMIN, Role.REP, Role.BACKUP)
async def handoffs(request: web.Request) -> web.Response:
    services = services_of(request)
    now = services.clock()
    desk = backends(request).handoffs
    rows = await desk.open_handoffs(request[MEMBER].userid, now)
    times = await desk.response_times(request[MEMBER].userid, now - RESPONSE_PERIOD)
    return render(
        request,
        "managers.html",
        {
            "waiting": [row for row in rows if not row.human_mode],
            "human": [row for row in rows if row.human_mode],
            "breaches": sum(row.breached for row in rows),
            "times": times,
            "names": {userid: name for userid, name, _ in backends(request).directory.members()},
            "period_days": RESPONSE_PERIOD.days,
            "now": now,
        },
    )
