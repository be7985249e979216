"""The one access middleware of the console: sessions, roles and CSRF checked in one place.

See ``console.auth`` for the tags it reads.
"""

from __future__ import annotations

from aiohttp import web

from console.auth import CSRF_FIELD, SAFE_METHODS, Handler, Member, csrf_matches, rule_of
from console.keys import MEMBER
from console.pages import PREFIX, audit, backends, is_htmx, render, sessions
from console.sessions import COOKIE


async def _deny(request: web.Request, reason: str, userid: str | None) -> web.Response:
    await audit(
        request,
        "console_denied",
        path=request.path,
        method=request.method,
        userid=userid,
        reason=reason,
    )
    return render(request, "denied.html", {"reason": reason}, status=403)


def _to_login(request: web.Request, expired: bool) -> web.Response:
    target = f"{PREFIX}/login" + ("?expired=1" if expired else "")
    if is_htmx(request):  # a partial cannot be redirected in place: htmx loads the page
        return web.Response(status=401, headers={"HX-Redirect": target})
    raise web.HTTPSeeOther(target)


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sign the request in, check the route's tag and the CSRF token; deny untagged routes."""
    if request.match_info.http_exception is not None:
        raise request.match_info.http_exception  # 404 / 405 as they are
    rule = rule_of(request.match_info.handler)
    if rule is None:
        return await _deny(request, "untagged route", None)
    if rule.public:
        return await handler(request)
    token = request.cookies.get(COOKIE, "")
    session = await sessions(request).load(token)
    if session is None:
        return _to_login(request, expired=bool(token))
    directory = backends(request).directory
    roles = directory.roles_of(session.userid)
    member = Member(
        session.userid, directory.name_of(session.userid), roles, session.csrf, session.session_id
    )
    request[MEMBER] = member  # the refusal page shows who is signed in, and their pages
    if not rule.admits(roles):
        return await _deny(request, "role", session.userid)
    if request.method not in SAFE_METHODS and not csrf_matches(
        member.csrf, request, await _form_token(request)
    ):
        return await _deny(request, "csrf", member.userid)
    return await handler(request)


async def _form_token(request: web.Request) -> str | None:
    """The CSRF field of a form; an upload (multipart, streamed by its handler, larger than
    the app's body limit) carries it in its action URL instead."""
    if request.content_type == "multipart/form-data":
        return request.query.get(CSRF_FIELD)
    value = (await request.post()).get(CSRF_FIELD)
    return value if isinstance(value, str) else None


SECURITY_HEADERS = {
    # Only our own scripts and styles (htmx is vendored); inline style attributes for the bars.
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every console answer: no framing, no foreign scripts; pages with regulated data are not
    kept in the browser's or a proxy's cache (static files may be)."""
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/console/static/"):
        response.headers["Cache-Control"] = "no-store"
