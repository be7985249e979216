"""Medical-information pages (MSL): requests with their due time and who has them, closing one
with what was done, and handing one to a colleague with a note.

Listed from the system of record (paged on the database); closing goes through the Q&A skill's
``MIStore``. A hand-over is checked against the roster (only to another MSL, only an open
request), recorded in the system of record, audited (``mi_assigned``) and told to the colleague
by a WeCom app message through the app channel's sender (its outbox retries until WeCom takes
it); bad input changes nothing and says why.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from yarl import URL

from bot.i18n import local_time
from bot.models import Channel, Locale, OutboundMessage, TextReply
from bot.storage.base import StorageError
from console.auth import requires
from console.keys import MEMBER
from console.pages import PREFIX, audit, backends, page_number, render, services_of
from records.results import MIRecord
from skills.handoff.roster import Role

MAX_NOTE_CHARS: Final = 2000
PAGE_SIZE: Final = 25


@requires(Role.MSL)
async def requests(request: web.Request) -> web.Response:
    include_closed = request.query.get("all") == "1"
    page = page_number(request)
    found = await backends(request).mi.requests(
        include_closed=include_closed, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    return render(
        request,
        "mi.html",
        {
            "requests": found.items,
            "include_closed": include_closed,
            "colleagues": _colleagues(request),
            "names": {userid: name for userid, name, _ in backends(request).directory.members()},
            "page": page,
            "more": found.total > page * PAGE_SIZE,
            "now": services_of(request).clock(),
            "notice": request.query.get("notice"),
        },
    )


def _colleagues(request: web.Request) -> list[tuple[str, str]]:
    """Whom this member may hand a request to: every other member with the MSL role."""
    me = request[MEMBER].userid
    return [
        (userid, name)
        for userid, name, roles in backends(request).directory.members()
        if Role.MSL in roles and userid != me
    ]


def _back(notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(str(URL(f"{PREFIX}/mi").with_query(notice=notice)))


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
    raise _back(notice)


@requires(Role.MSL)
async def assign(request: web.Request) -> web.Response:
    mi_id = request.match_info["mi_id"]
    form = await request.post()
    to = str(form.get("to", "")).strip()
    note = str(form.get("note", "")).strip()[:MAX_NOTE_CHARS]
    member = request[MEMBER]
    desk = backends(request).mi
    found = await desk.request(mi_id)
    if found is None:
        raise _back("mi_unknown")
    if found.status != "open":
        raise _back("mi_already_closed")
    if to not in dict(_colleagues(request)):
        raise _back("mi_not_colleague")
    at = services_of(request).clock()
    await desk.assign(mi_id, to, at=at)
    told = await _tell(request, found, to, note)
    await audit(
        request,
        "mi_assigned",
        mi_id=mi_id,
        by=member.userid,
        to=to,
        note=note,
        told=told,
        via="console",
    )
    raise _back("mi_handed" if told else "mi_handed_untold")


async def _tell(request: web.Request, found: MIRecord, to: str, note: str) -> bool:
    """Queue the WeCom app message to the colleague (in their roster language); False when
    the app channel is not configured here or the outbox could not take it."""
    services = services_of(request)
    sender = services.senders.get(Channel.APP)
    if sender is None:
        return False
    directory = backends(request).directory
    due = local_time(found.respond_by, services.settings.timezone)
    by = directory.name_of(request[MEMBER].userid)
    if directory.language_of(to) is Locale.EN:
        text = f"{by} handed you medical-information request {found.mi_id} (respond by {due})."
        text += f"\nQuestion: {found.question}" + (f"\nNote: {note}" if note else "")
    else:
        text = f"{by} 将医学信息请求 {found.mi_id} 转交给您（答复期限 {due}）。"
        text += f"\n问题：{found.question}" + (f"\n说明：{note}" if note else "")
    message = OutboundMessage(
        channel=Channel.APP,
        conversation_key=f"mi:{found.mi_id}",
        recipient_id=to,
        replies=(TextReply(text=text),),
    )
    try:
        await sender.send(message)
    except StorageError:  # the outbox is out of reach: the hand-over stands, the page says so
        services.metrics.errors.labels("mi_handover_message").inc()
        return False
    return True
