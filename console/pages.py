"""Rendering and request helpers shared by every console view.

``render`` draws one page template; an htmx request (``HX-Request``) gets only the named block
the view asks for, so a filter change or a button swaps a part of the page without a second
template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from bot.i18n import local_time
from bot.keys import SERVICES
from bot.services import Services
from console.backends import Backends, backends_of
from console.i18n import counter, labeller, pick_language, translator
from console.keys import MEMBER, TEMPLATES
from console.sessions import LANG_COOKIE, SessionStore
from skills.handoff.roster import Role

PREFIX: Final = "/console"
AREAS: Final = (
    ("pv", "/pv", frozenset({Role.PV})),
    ("mi", "/mi", frozenset({Role.MSL})),
    ("content", "/content", frozenset({Role.ADMIN})),
    ("managers", "/managers", frozenset({Role.MANAGER, Role.ADMIN, Role.REP, Role.BACKUP})),
    ("compliance", "/compliance/audit", frozenset({Role.ADMIN})),
    ("analytics", "/analytics", frozenset({Role.ADMIN, Role.MSL, Role.MANAGER})),
)
"""(name, path, roles that open it) of every area the console has, in the nav's order."""


def areas_for(roles: frozenset[Role]) -> list[tuple[str, str]]:
    return [(name, path) for name, path, needed in AREAS if roles & needed]


def services_of(request: web.Request) -> Services:
    return request.config_dict[SERVICES]


def backends(request: web.Request) -> Backends:
    return backends_of(services_of(request))


def sessions(request: web.Request) -> SessionStore:
    services = services_of(request)
    return SessionStore(services.storage, services.settings.console_idle_min * 60, services.clock)


def language(request: web.Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


def page_number(request: web.Request) -> int:
    """The ``page`` query parameter of a paged list (1 when missing or not a number)."""
    try:
        return max(1, int(request.query.get("page", "1")))
    except ValueError:
        return 1


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: web.Request,
    name: str,
    context: Mapping[str, Any],
    *,
    partial: str | None = None,
    status: int = 200,
) -> web.Response:
    """The page ``name``; only its block ``partial`` when htmx asked for it."""
    lang = language(request)
    member = request.get(MEMBER)
    zone = services_of(request).settings.timezone
    values = {
        "when": lambda moment: local_time(moment, zone) if moment else "—",
        "t": translator(lang),
        "tn": counter(lang),
        "label": labeller(lang),
        "lang": lang,
        "member": member,
        "csrf": member.csrf if member else "",
        "nav": areas_for(member.roles) if member else [],
        "prefix": PREFIX,
        "path": request.path,
        **context,
    }
    template = request.config_dict[TEMPLATES].get_template(name)
    if partial is not None and is_htmx(request):
        body = "".join(template.blocks[partial](template.new_context(values)))
    else:
        body = template.render(values)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


async def audit(request: web.Request, kind: str, **fields: Any) -> None:
    services = services_of(request)
    await services.audit.record(kind, services.clock(), **fields)
