"""The console route behind the signed links of ``media.links``: PV officers only, audited.

Also the case page's list of a case's originals (``case_links``): each with a link signed
when the page is shown, so a PV officer whose link from the webhook or card has expired gets
a fresh one from the case; an expired link says so and points to the case page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from aiohttp import web

from bot.keys import MEDIA
from console.auth import requires
from console.keys import MEMBER
from console.pages import audit, render, services_of
from media.sniff import MediaType, sniff
from skills.adverse_events.cases import SourceMessage
from skills.handoff.roster import Role

_KINDS: Final = {media_type.extension: media_type for media_type in MediaType}


@dataclass(frozen=True)
class CaseAttachment:
    """One original a case was read from, as the case page lists it."""

    ref: str
    kind: str  # "voice", "image" or "file"
    received_at: datetime
    url: str | None  # a link signed for this page view (no host: the console's own); None: off
    expires_at: datetime | None


def _kind(ref: str) -> str:
    media_type = _KINDS.get(ref.rpartition(".")[2])
    if media_type is not None and media_type.is_audio:
        return "voice"
    return "image" if media_type is not None and media_type.is_image else "file"


async def case_links(
    request: web.Request, case_id: str, sources: Iterable[SourceMessage]
) -> list[CaseAttachment]:
    """The case's originals (one per stored file, first received first), each with a link
    signed now for the signed-in PV officer; the issue is audited (``media_link_issued``:
    member, case, refs, expiry). Without ``VREP_MEDIA_LINK_KEY``: listed by ref, no link."""
    first: dict[str, datetime] = {}
    for source in sorted(sources, key=lambda source: source.received_at):
        if source.media and source.media not in first:
            first[source.media] = source.received_at
    reader = request.config_dict.get(MEDIA)
    signer = reader.links if reader is not None else None
    now = services_of(request).clock()
    rows = []
    for ref, received_at in first.items():
        url, expires = signer.path(ref, case_id, now) if signer else (None, None)
        rows.append(CaseAttachment(ref, _kind(ref), received_at, url, expires))
    if signer is not None and rows:
        await audit(
            request,
            "media_link_issued",
            userid=request[MEMBER].userid,
            case_id=case_id,
            refs=[row.ref for row in rows],
            expires_at=rows[0].expires_at.isoformat() if rows[0].expires_at else None,
        )
    return rows


@requires(Role.PV)
async def download(request: web.Request) -> web.Response:
    """``GET /console/pv/media/{ref}?case&exp&sig``: the original, to a PV officer, audited."""
    services = services_of(request)
    ref, query = request.match_info["ref"], request.query
    case_id = query.get("case", "")
    reader = request.config_dict.get(MEDIA)
    signer = reader.links if reader is not None else None
    refused = "links are off" if signer is None else None
    if signer is not None:
        refused = signer.check(ref, case_id, query.get("exp", ""), query.get("sig", ""),
                               services.clock())  # fmt: skip
    content = await reader.read(ref) if reader is not None and refused is None else None
    if refused is None and content is None:
        refused = "missing"
    await audit(
        request,
        "media_download",
        userid=request[MEMBER].userid,
        case_id=case_id,
        ref=ref,
        outcome=refused or "served",
        bytes=len(content) if content is not None else None,
    )
    if refused == "missing":
        raise web.HTTPNotFound(text="no such file")
    if refused == "expired":  # a genuine link, only old: the case page issues a fresh one
        return render(request, "media_expired.html", {"case_id": case_id}, status=403)
    if refused is not None or content is None:
        raise web.HTTPForbidden(text=f"link refused: {refused}")
    media_type = sniff(content)
    return web.Response(
        body=content,
        content_type=media_type.value if media_type else "application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{case_id}-{ref}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
