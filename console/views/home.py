"""The landing page (the areas the member's roles open) and the vendored static files."""

from __future__ import annotations

import importlib.resources
from typing import Final

from aiohttp import web

from console.auth import MEMBER, public, requires
from console.keys import MEMBER as MEMBER_KEY
from console.pages import areas_for, render

_STATIC_TYPES: Final = {"htmx.min.js": "text/javascript", "console.css": "text/css"}


@requires(MEMBER)
async def home(request: web.Request) -> web.Response:
    return render(request, "home.html", {"areas": areas_for(request[MEMBER_KEY].roles)})


@public
async def static(request: web.Request) -> web.Response:
    """One of the vendored files (a fixed list: no path from the request reaches the disk)."""
    name = request.match_info["name"]
    kind = _STATIC_TYPES.get(name)
    if kind is None:
        raise web.HTTPNotFound()
    body = importlib.resources.files("console").joinpath("static", name).read_bytes()
    return web.Response(
        body=body, content_type=kind, headers={"Cache-Control": "public, max-age=3600"}
    )
