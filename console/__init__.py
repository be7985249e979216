"""The web console for the people who answer for the bot: PV officers first (case queue, case
detail, E2B export, acknowledgement, redelivery), then compliance, content, MI and managers.

Seam: ``create_app()`` returns the sub-app that ``bot/app.py`` mounts at ``/console``. Handlers
reach the bot's services through ``request.config_dict[SERVICES]`` and the protocols of
``console.backends``; the sub-app's one middleware (``console.guard.access_middleware``) signs
each request in and enforces the ``requires`` tag of its handler. Pages are rendered on the
server (Jinja2) in Chinese and English, with htmx (vendored, no CDN) swapping parts of them.
"""

from __future__ import annotations

import jinja2
from aiohttp import web

from console.guard import access_middleware, security_headers
from console.keys import TEMPLATES
from console.views import analytics, compliance, content, home, login, managers, mi, pv

__all__ = ["create_app"]


def create_app() -> web.Application:
    """The console sub-app (mount it with ``app.add_subapp("/console", create_app())``)."""
    from media import download as media_download  # media.download imports console.auth

    app = web.Application(middlewares=[access_middleware])
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/", home.home)
    app.router.add_get("/static/{name}", home.static)
    app.router.add_get("/login", login.login_page)
    app.router.add_post("/login/local", login.local_login)
    app.router.add_get("/auth/wecom", login.wecom_start)
    app.router.add_get("/auth/callback", login.wecom_callback)
    app.router.add_post("/logout", login.logout)
    app.router.add_get("/lang/{lang}", login.set_language)
    app.router.add_get("/pv", pv.queue)
    app.router.add_get("/pv/cases/{case_id}", pv.case)
    app.router.add_get("/pv/cases/{case_id}/export/{fmt:e2b|json}", pv.export)
    app.router.add_post("/pv/cases/{case_id}/ack", pv.acknowledge)
    app.router.add_post("/pv/cases/{case_id}/redeliver", pv.redeliver)
    app.router.add_get("/pv/media/{ref}", media_download.download)  # media/: signed links
    app.router.add_get("/mi", mi.requests)
    app.router.add_post("/mi/{mi_id}/close", mi.close)
    app.router.add_post("/mi/{mi_id}/assign", mi.assign)
    app.router.add_get("/content", content.library)
    app.router.add_post("/content/upload", content.upload)
    app.router.add_post("/content/{doc_id}/withdraw", content.withdraw)
    app.router.add_get("/content/preview", content.preview)
    app.router.add_get("/managers", managers.handoffs)
    app.router.add_get("/compliance/audit", compliance.audit_search)
    app.router.add_get("/analytics", analytics.overview)
    app.router.add_get(analytics.EXPORT_ROUTE, analytics.export)
    app.router.add_get("/compliance/audit/export", compliance.audit_export)
    app.router.add_get("/compliance/chain", compliance.chain_check)
    app.router.add_get("/compliance/consents", compliance.consents)
    return app
