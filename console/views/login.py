"""Signing in and out: WeCom OAuth (in WeCom's browser), WeCom QR sign-in (desktop), and the
simulator's local sign-in.

Both WeCom routes end at ``/console/auth/callback`` with a one-time ``code`` that the server
exchanges for the member's user id (``/cgi-bin/auth/getuserinfo`` with the app's access token),
then checks the roster: only members with a role get a session. The ``state`` of the round trip
is the random value of a short-lived ``HttpOnly`` cookie, so a callback that this browser did
not start is refused; the local sign-in form carries the same value as its CSRF token. Every
sign-in, refusal and sign-out is audited.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final
from urllib.parse import quote, urlencode

from aiohttp import web

from bot.wecom.client import WeComApiError
from console.auth import MEMBER, public, requires
from console.i18n import LANGUAGES
from console.keys import MEMBER as MEMBER_KEY
from console.pages import PREFIX, audit, backends, render, services_of, sessions
from console.sessions import COOKIE, LANG_COOKIE, STATE_COOKIE, set_cookie

OAUTH_URL: Final = "https://open.weixin.qq.com/connect/oauth2/authorize"  # in WeCom's browser
QR_URL: Final = "https://login.work.weixin.qq.com/wwlogin/sso/login"  # desktop browsers
USERINFO_PATH: Final = "/cgi-bin/auth/getuserinfo"
LOGIN_ERRORS: Final = frozenset({"login_failed", "not_in_roster", "not_configured"})


def _state(request: web.Request) -> str:
    return request.cookies.get(STATE_COOKIE) or secrets.token_urlsafe(24)


def authorize_url(corp_id: str, agent_id: int, redirect_uri: str, state: str, qr: bool) -> str:
    """Where WeCom asks the member to sign in and sends them back with a code."""
    if qr:
        query = {
            "login_type": "CorpApp",
            "appid": corp_id,
            "agentid": str(agent_id),
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{QR_URL}?{urlencode(query, quote_via=quote)}"
    query = {
        "appid": corp_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "snsapi_base",
        "state": state,
        "agentid": str(agent_id),
    }
    return f"{OAUTH_URL}?{urlencode(query, quote_via=quote)}#wechat_redirect"


@public
async def login_page(request: web.Request) -> web.Response:
    settings = services_of(request).settings
    state = _state(request)
    members = backends(request).directory.members() if settings.console_local_login else []
    response = render(
        request,
        "login.html",
        {
            "state": state,
            "wecom": services_of(request).wecom is not None,
            "in_wecom": "wxwork" in request.headers.get("User-Agent", "").lower(),
            "local_members": members,
            "error": error if (error := request.query.get("error")) in LOGIN_ERRORS else None,
            "expired": request.query.get("expired") == "1",
        },
    )
    set_cookie(request, response, STATE_COOKIE, state)
    return response


@public
async def wecom_start(request: web.Request) -> web.Response:
    """Send the browser to WeCom's sign-in (QR unless ``mode=oauth``)."""
    settings = services_of(request).settings
    if services_of(request).wecom is None or not settings.wecom_corp_id:
        raise web.HTTPSeeOther(f"{PREFIX}/login?error=not_configured")
    state = secrets.token_urlsafe(24)
    redirect_uri = str(request.url.origin()) + f"{PREFIX}/auth/callback"
    target = authorize_url(
        settings.wecom_corp_id,
        settings.wecom_agent_id or 0,
        redirect_uri,
        state,
        qr=request.query.get("mode") != "oauth",
    )
    response = web.HTTPFound(target)
    set_cookie(request, response, STATE_COOKIE, state)
    raise response


@public
async def wecom_callback(request: web.Request) -> web.Response:
    code, state = request.query.get("code", ""), request.query.get("state", "")
    expected = request.cookies.get(STATE_COOKIE, "")
    client = services_of(request).wecom
    if not code or not expected or not hmac.compare_digest(state.encode(), expected.encode()):
        await audit(request, "console_login_refused", via="wecom", reason="state")
        raise web.HTTPSeeOther(f"{PREFIX}/login?error=login_failed")
    if client is None:
        raise web.HTTPSeeOther(f"{PREFIX}/login?error=not_configured")
    try:
        answer = await client.call("GET", USERINFO_PATH, None, code=code)
    except WeComApiError as err:
        await audit(request, "console_login_refused", via="wecom", reason=f"errcode {err.errcode}")
        raise web.HTTPSeeOther(f"{PREFIX}/login?error=login_failed") from None
    userid = answer.get("userid")  # absent for people outside the corp (openid only)
    return await _sign_in(request, str(userid) if userid else "", "wecom")


@public
async def local_login(request: web.Request) -> web.Response:
    """The simulator's sign-in as any roster member (refused unless enabled)."""
    if not services_of(request).settings.console_local_login:
        raise web.HTTPNotFound()
    form = await request.post()
    expected = request.cookies.get(STATE_COOKIE, "")
    given = str(form.get("csrf", ""))
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        await audit(request, "console_login_refused", via="local", reason="csrf")
        raise web.HTTPSeeOther(f"{PREFIX}/login?error=login_failed")
    return await _sign_in(request, str(form.get("userid", "")), "local")


async def _sign_in(request: web.Request, userid: str, via: str) -> web.Response:
    directory = backends(request).directory
    if not userid or not directory.roles_of(userid):
        await audit(request, "console_login_refused", via=via, userid=userid, reason="roster")
        raise web.HTTPSeeOther(f"{PREFIX}/login?error=not_in_roster")
    services = services_of(request)
    token, session = await sessions(request).open(userid, via, services.clock())
    await audit(request, "console_login", via=via, userid=userid, session=session.session_id)
    response = web.HTTPSeeOther(f"{PREFIX}/")
    set_cookie(request, response, COOKIE, token)
    response.del_cookie(STATE_COOKIE, path=PREFIX)
    language = directory.language_of(userid)
    if language is not None and LANG_COOKIE not in request.cookies:
        set_cookie(request, response, LANG_COOKIE, language.value)
    raise response


@requires(MEMBER)
async def logout(request: web.Request) -> web.Response:
    member = request[MEMBER_KEY]
    await sessions(request).close(member.session_id)
    await audit(request, "console_logout", userid=member.userid, session=member.session_id)
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    response.del_cookie(COOKIE, path=PREFIX)
    raise response


@public
async def set_language(request: web.Request) -> web.Response:
    lang = request.match_info["lang"]
    back = request.query.get("next", f"{PREFIX}/")
    if not back.startswith(f"{PREFIX}/") or back.startswith("//"):
        back = f"{PREFIX}/"  # never an open redirect
    response = web.HTTPSeeOther(back)
    if lang in LANGUAGES:
        set_cookie(request, response, LANG_COOKIE, lang)
    raise response
