"""Medical-information pages (MSL): open requests with their due time, and closing one with
what was done. Read and written through the Q&A skill's ``MIStore``; closing is audited."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from console.auth import requires
from console.keys import MEMBER
from console.pages import PREFIX, audit, backends, render, services_of
from skills.handoff.roster import Role

MAX_NOTE_CHARS = 2000


@requires(Role.MSL)
async def requests(request: web.Request) -> web.Response:
    include_closed = request.query.get("all") == "1"
    found = await backends(request).mi.list(include_closed=include_closed)
    return render(
        request,
        "mi.html",
        {
            "requests": found,
            "include_closed": include_closed,
            "now": services_of(request).clock(),
            "notice": request.query.get("notice"),
        },
    )


@requires(Role.MSL)
async def close(request: web.Request) -> web.Response:
    mi_id = request.match_info["mi_id"]
    form = await request.post()
    note = str(form.get("note", "")).strip()[:MAX_NOTE_CHARS]
    member = request[MEMBER]
    at = services_of(request).clock()
    try:
        await backends(request).mi.close(mi_id, by=member.userid, at=at, resolution=note)
        notice = "mi_closed"
        await audit(request, "mi_closed", mi_id=mi_id, by=member.userid, via="console")
    except KeyError:
        notice = "mi_unknown"
    except ValueError:
        notice = "mi_already_closed"
    raise web.HTTPSeeOther(str(URL(f"{PREFIX}/mi").with_query(notice=notice)))
