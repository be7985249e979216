"""PV pages: the case queue, a case, its E2B/JSON export, acknowledgement and redelivery.

Each view parses the request, calls the PV desk once (whose reads are audited with the member
as reader) and renders; actions answer htmx with the changed block and plain forms with a
redirect back to the case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from aiohttp import web
from yarl import URL

from console.auth import requires
from console.keys import MEMBER
from console.pages import PREFIX, backends, is_htmx, page_number, render, services_of
from media.download import case_links
from records.results import CaseState, QueueFilter
from skills.handoff.roster import Role

PAGE_SIZE: Final = 25


def _reader(request: web.Request) -> str:
    return f"console:{request[MEMBER].userid}"


def _now(request: web.Request) -> datetime:
    return services_of(request).clock()


@requires(Role.PV)
async def queue(request: web.Request) -> web.Response:
    state = request.query.get("state", "")
    if state not in {item.value for item in CaseState}:
        state = ""
    serious = request.query.get("serious") == "1"
    product = request.query.get("product", "")[:100]
    wanted = QueueFilter(CaseState(state) if state else None, serious, product)
    now = _now(request)
    page = page_number(request)
    found = await backends(request).pv.queue(
        wanted, now=now, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, reader=_reader(request)
    )
    return render(
        request,
        "pv_queue.html",
        {
            "rows": found.page.items,
            "counts": found.counts,
            "total": found.all_cases,
            "states": list(CaseState),
            "state": state,
            "serious": serious,
            "product": product,
            "page": page,
            "more": found.page.total > page * PAGE_SIZE,
            "now": now,
        },
        partial="queue",
    )


@requires(Role.PV)
async def case(request: web.Request) -> web.Response:
    case_id = request.match_info["case_id"]
    now = _now(request)
    found = await backends(request).pv.case(case_id, reader=_reader(request), at=now)
    if found is None:
        return render(request, "pv_case.html", {"view": None, "case_id": case_id}, status=404)
    return render(
        request,
        "pv_case.html",
        {
            "view": found.view,
            "attachments": await case_links(request, case_id, found.view.case.sources),
            "events": found.events,
            "case_id": case_id,
            "now": now,
            "notice": request.query.get("notice"),
        },
    )


@requires(Role.PV)
async def export(request: web.Request) -> web.Response:
    case_id, fmt = request.match_info["case_id"], request.match_info["fmt"]
    body = await backends(request).pv.export(
        case_id, fmt, reader=_reader(request), at=_now(request)
    )
    if body is None:
        raise web.HTTPNotFound(text="no such case")
    suffix, kind = ("xml", "application/xml") if fmt == "e2b" else ("json", "application/json")
    return web.Response(
        body=body,
        content_type=kind,
        headers={"Content-Disposition": f'attachment; filename="{case_id}.{suffix}"'},
    )


@requires(Role.PV)
async def acknowledge(request: web.Request) -> web.Response:
    case_id = request.match_info["case_id"]
    pv = backends(request).pv
    ack = await pv.acknowledge(case_id, by=request[MEMBER].userid, at=_now(request))
    if ack is None:
        raise web.HTTPNotFound(text="no such case")
    return await _after_action(request, case_id, "acknowledged")


@requires(Role.PV)
async def redeliver(request: web.Request) -> web.Response:
    case_id = request.match_info["case_id"]
    pv = backends(request).pv
    outcome = await pv.redeliver(case_id, by=request[MEMBER].userid, at=_now(request))
    return await _after_action(request, case_id, outcome.value)


async def _after_action(request: web.Request, case_id: str, notice: str) -> web.Response:
    """htmx: the case's action block again (re-read, audited); a form: back to the case."""
    if not is_htmx(request):
        target = URL(f"{PREFIX}/pv/cases/{case_id}").with_query(notice=notice)
        raise web.HTTPSeeOther(str(target))
    now = _now(request)
    found = await backends(request).pv.case(case_id, reader=_reader(request), at=now)
    context = {
        "view": found.view if found else None,
        "events": found.events if found else [],
        "case_id": case_id,
        "now": now,
        "notice": notice,
    }
    return render(request, "pv_case.html", context, partial="actions")
