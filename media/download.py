"""The console route behind the signed links of ``media.links``: PV officers only, audited."""

from __future__ import annotations

from aiohttp import web

from bot.keys import MEDIA
from console.auth import requires
from console.keys import MEMBER
from console.pages import audit, services_of
from media.sniff import sniff
from skills.handoff.roster import Role


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
