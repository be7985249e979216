"""The managers' page: open handoffs of their team (waiting with their SLA, breaches first) and
the conversations a rep has taken over (human mode)."""

from __future__ import annotations

from aiohttp import web

from console.auth import requires
from console.keys import MEMBER
from console.pages import backends, render, services_of
from skills.handoff.roster import Role


@requires(Role.MANAGER, Role.ADMIN)
async def handoffs(request: web.Request) -> web.Response:
    services = services_of(request)
    now = services.clock()
    rows = await backends(request).handoffs.open_handoffs(request[MEMBER].userid, now)
    return render(
        request,
        "managers.html",
        {
            "waiting": [row for row in rows if not row.human_mode],
            "human": [row for row in rows if row.human_mode],
            "breaches": sum(row.breached for row in rows),
            "now": now,
        },
    )
