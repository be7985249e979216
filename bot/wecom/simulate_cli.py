"""``virtualrep simulate``: the whole WeCom path on one machine, driven from a web page.

Three servers on 127.0.0.1, all in one process:

- the fake WeCom API (``bot.wecom.simulator.FakeWeComServer``), which the bot reaches through
  ``VREP_WECOM_API_BASE`` and which records every reply the bot sends;
- the bot itself (``bot.app.create_app``) with freshly generated WeCom credentials (corp id,
  app secret, callback token, 43-character EncodingAESKey) — everything else (storage, LLM,
  knowledge base) comes from the user's ``VREP_`` settings;
- the page (``simulate.html``) and its small JSON API. What the person types is turned into
  encrypted callbacks by the simulator's ``CallbackSender`` and posted to the bot's
  ``/wecom/callback``, exactly as WeCom would: a doctor's text is queued as a kf message and
  announced with ``kf_msg_or_event`` (the bot then syncs it), a rep's text is an app message,
  a tapped template-card button a ``template_card_event``. A rep who took a doctor over
  replies from the page's kf workbench (a human servicer's message, as in WeCom's own
  workbench, which the bot leaves alone) and ends the session there.

The page learns about replies by long polling ``GET /api/events?after=N``: person actions and
the bot's messages as the fake API recorded them (kf text/msgmenu/link, app text/markdown/
textcard/template_card, card updates), in order.

The page API accepts only ``application/json`` bodies, so a web page from another origin
cannot post to it without a CORS preflight (which it never answers).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.resources
import json
import logging
import mimetypes
import secrets
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bot.app import create_app
from bot.keys import STORAGE
from bot.settings import Settings
from bot.wecom.simulator import CallbackSender, FakeWeComServer, NotServicing, WeComSimulator
from handlers.kf import cursor_key
from skills.handoff.roster import Role, load_roster

log = logging.getLogger(__name__)

OPEN_KFID: Final = "wkSimulatedKf01"
DEFAULT_PORT: Final = 8765
MAX_TEXT_CHARS: Final = 2000
MAX_WAIT_S: Final = 30.0
MAX_MEDIA_BYTES: Final = 10 * 1024 * 1024
_MEDIA_MSGTYPES: Final = frozenset({"voice", "image", "file"})
_ALPHANUMERIC: Final = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Credentials:
    """One generated set of WeCom credentials shared by the fake API, the bot and the sender."""

    corp_id: str
    secret: str
    token: str
    aes_key: str
    agent_id: int = 1000002

    @classmethod
    def generate(cls) -> Credentials:
        def random_text(length: int) -> str:
            return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))

        return cls(
            corp_id="wwsim" + secrets.token_hex(6),
            secret=random_text(32),
            token=random_text(24),
            aes_key=random_text(43),
        )

    def apply(self, settings: Settings, api_base: str) -> Settings:
        """``settings`` pointed at the fake API, with these credentials (and a simulated PV
        officer unless ``VREP_PV_USERS`` names some: the app carries PV cards), and the web
        console's local sign-in (there is no corp to sign in with)."""
        return settings.model_copy(
            update={
                "pv_users": settings.pv_users or "pv_sim",
                "console_local_login": True,  # the console's sign-in as any roster member
                "wecom_corp_id": self.corp_id,
                "wecom_agent_id": self.agent_id,
                "wecom_secret": SecretStr(self.secret),
                "wecom_token": SecretStr(self.token),
                "wecom_aes_key": SecretStr(self.aes_key),
                "wecom_api_base": api_base,
            }
        )


@dataclass
class Simulation:
    """The running bot and fake WeCom, plus the transcript the page shows."""

    api: FakeWeComServer
    simulator: WeComSimulator
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()
        self.api.listeners.append(self._bot_sent)

    def record(self, role: str, user: str, origin: str, body: dict[str, Any]) -> None:
        """Add one transcript event (``origin`` "person" or "bot") and wake the pollers."""
        self.events.append(
            {"id": len(self.events) + 1, "role": role, "user": user, "from": origin, "body": body}
        )
        self._changed.set()
        self._changed = asyncio.Event()

    def wake_all(self) -> None:
        """End every pending long poll (at shutdown)."""
        self._changed.set()

    async def events_after(self, after: int, wait_s: float) -> list[dict[str, Any]]:
        """Events with an id above ``after``; waits up to ``wait_s`` for one if there is none."""
        if len(self.events) <= after and wait_s > 0:
            changed = self._changed
            try:
                async with asyncio.timeout(wait_s):
                    await changed.wait()
            except TimeoutError:
                pass
        return self.events[max(after, 0) :]

    def _named(self, body: dict[str, Any]) -> dict[str, Any]:
        """A media message as the page shows it (WeChat shows a file's name and size, not its
        media id): the uploaded file's ``media_name`` and ``media_size`` added, when known."""
        media = body.get(str(body.get("msgtype")))
        stored = self.api.media.get(str(media.get("media_id"))) if isinstance(media, dict) else None
        if stored is None:
            return body
        return {**body, "media_name": stored[0], "media_size": len(stored[1])}

    def _bot_sent(self, kind: str, body: dict[str, Any]) -> None:
        if kind == "kf":
            self.record("doctor", str(body.get("touser", "")), "bot", self._named(body))
        elif kind == "app":
            self.record("rep", str(body.get("touser", "")), "bot", body)
        elif kind == "kf_servicer":
            self.record("doctor", str(body.get("touser", "")), "servicer", body)
        elif kind == "card_update":
            users = body.get("userids") or [""]
            self.record("rep", str(users[0]), "bot", {"msgtype": "card_update", **body})


@dataclass
class _Started:
    simulation: Simulation
    bot_url: str
    close: Callable[[], Awaitable[None]]


async def _start(settings: Settings) -> _Started:
    """Start the fake API, then the bot pointed at it, then the callback sender."""
    credentials = Credentials.generate()
    api = FakeWeComServer(corp_id=credentials.corp_id, secret=credentials.secret)
    # As in a corp set up for the bot, every member who may take a doctor over is a receiving
    # servicer of the kf account, so a take-over can be tried as any of them.
    roster = load_roster(settings.rep_roster, settings.timezone)
    takers = (Role.REP, Role.BACKUP, Role.MANAGER, Role.ADMIN, Role.MSL)
    api.servicers = {userid: 0 for role in takers for userid in roster.members_with(role)}
    api_base = await api.start()
    bot_runner = web.AppRunner(create_app(credentials.apply(settings, api_base)), access_log=None)
    session = aiohttp.ClientSession()
    try:
        await bot_runner.setup()
        # The fake WeCom starts empty on every run, so a sync cursor the bot kept from an
        # earlier run (durable store) would skip the new run's first messages. Real WeCom
        # keeps its cursors; only the simulation forgets them.
        await bot_runner.app[STORAGE].delete(cursor_key(OPEN_KFID))
        await web.TCPSite(bot_runner, "127.0.0.1", 0).start()
        host, port = bot_runner.addresses[0][:2]
        bot_url = f"http://{host}:{port}/wecom/callback"
        sender = CallbackSender(
            session,
            bot_url,
            token=credentials.token,
            aes_key=credentials.aes_key,
            corp_id=credentials.corp_id,
            agent_id=credentials.agent_id,
        )
    except BaseException:
        await session.close()
        await bot_runner.cleanup()
        await api.close()
        raise

    async def close() -> None:
        await session.close()
        await bot_runner.cleanup()
        await api.close()

    return _Started(Simulation(api, WeComSimulator(api, sender)), bot_url, close)


SIMULATION = web.AppKey("simulation", Simulation)
CONSOLE_URL = web.AppKey("console_url", str)  # the bot's web console (local sign-in)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="application/json only")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="invalid JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="a JSON object is required")
    return body


def _text(
    body: dict[str, Any], name: str, *, required: bool = True, limit: int = MAX_TEXT_CHARS
) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise web.HTTPBadRequest(text=f"{name} must be a non-empty string")
    if len(value) > limit:
        raise web.HTTPRequestEntityTooLarge(limit, len(value))
    return value


def _answer(callback: tuple[int, str]) -> web.Response:
    """What the bot's callback answered; 502 when it did not acknowledge."""
    status, text = callback
    return web.json_response({"callback_status": status, "callback_body": text},
                             status=200 if status == 200 else 502)  # fmt: skip


async def page(request: web.Request) -> web.Response:
    html = importlib.resources.files("bot.wecom").joinpath("simulate.html").read_text("utf-8")
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def doctor_enters(request: web.Request) -> web.Response:
    body, simulation = await _json_body(request), request.app[SIMULATION]
    user = _text(body, "user")
    simulation.record("doctor", user, "person", {"msgtype": "enter_session"})
    return _answer(await simulation.simulator.doctor_enters(OPEN_KFID, user))


async def doctor_says(request: web.Request) -> web.Response:
    body, simulation = await _json_body(request), request.app[SIMULATION]
    user, text = _text(body, "user"), _text(body, "text")
    simulation.record("doctor", user, "person", {"msgtype": "text", "text": {"content": text}})
    _msgids, callback = await simulation.simulator.doctor_says(OPEN_KFID, user, text)
    return _answer(callback)


async def doctor_sends(request: web.Request) -> web.Response:
    """A voice note, image or file (``content`` in base64) the fake API serves at media/get."""
    body, simulation = await _json_body(request), request.app[SIMULATION]
    user, msgtype, filename = _text(body, "user"), _text(body, "msgtype"), _text(body, "filename")
    if msgtype not in _MEDIA_MSGTYPES:
        raise web.HTTPBadRequest(text="msgtype must be voice, image or file")
    try:
        content = base64.b64decode(_text(body, "content", limit=MAX_MEDIA_BYTES * 2), validate=True)
    except ValueError:
        raise web.HTTPBadRequest(text="content must be base64") from None
    shown = {"msgtype": "text", "text": {"content": f"[{msgtype}] {filename}"}}
    simulation.record("doctor", user, "person", shown)
    _msgid, callback = await simulation.simulator.doctor_sends(
        OPEN_KFID, user, msgtype, filename, content
    )
    return _answer(callback)


async def doctor_clicks(request: web.Request) -> web.Response:
    body, simulation = await _json_body(request), request.app[SIMULATION]
    user, menu_id, label = _text(body, "user"), _text(body, "menu_id"), _text(body, "label")
    simulation.record("doctor", user, "person", {"msgtype": "click", "label": label})
    return _answer(await simulation.simulator.doctor_clicks(OPEN_KFID, user, menu_id, label))


async def rep_says(request: web.Request) -> web.Response:
    body, simulation = await _json_body(request), request.app[SIMULATION]
    user, text = _text(body, "user"), _text(body, "text")
    simulation.record("rep", user, "person", {"msgtype": "text", "text": {"content": text}})
    return _answer(await simulation.simulator.rep_says(user, text))


async def servicer_says(request: web.Request) -> web.Response:
    """A rep's reply to the doctor from the kf workbench (after taking the doctor over)."""
    body, simulation = await _json_body(request), request.app[SIMULATION]
    user, doctor, text = _text(body, "user"), _text(body, "doctor"), _text(body, "text")
    try:
        callback = await simulation.simulator.servicer_says(OPEN_KFID, doctor, user, text)
    except NotServicing as refused:
        return web.json_response({"error": str(refused)}, status=409)
    simulation.record(
        "rep", user, "person", {"msgtype": "text", "text": {"content": text}, "workbench": doctor}
    )
    return _answer(callback)


async def servicer_ends(request: web.Request) -> web.Response:
    """The rep ends the doctor's kf session in the workbench; the bot has the doctor back."""
    body, simulation = await _json_body(request), request.app[SIMULATION]
    user, doctor = _text(body, "user"), _text(body, "doctor")
    try:
        callback = await simulation.simulator.servicer_ends_session(OPEN_KFID, doctor, user)
    except NotServicing as refused:
        return web.json_response({"error": str(refused)}, status=409)
    ended = {"msgtype": "session_ended", "servicer": user, "doctor": doctor}
    simulation.record("doctor", doctor, "servicer", ended)
    simulation.record("rep", user, "person", ended)
    return _answer(callback)


async def rep_clicks(request: web.Request) -> web.Response:
    body, simulation = await _json_body(request), request.app[SIMULATION]
    user, key, label = _text(body, "user"), _text(body, "key"), _text(body, "label")
    task_id, response_code = _text(body, "task_id"), _text(body, "response_code")
    simulation.record("rep", user, "person", {"msgtype": "click", "label": label})
    return _answer(await simulation.simulator.rep_clicks(user, key, task_id, response_code))


async def media(request: web.Request) -> web.Response:
    """A file the bot uploaded (the page's link on a file message), as a download."""
    stored = request.app[SIMULATION].api.media.get(request.match_info["media_id"])
    if stored is None:
        raise web.HTTPNotFound(text="no such media")
    filename, content = stored
    kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    return web.Response(
        body=content,
        content_type=kind,
        charset="utf-8" if kind.startswith("text/") else None,  # the bot's exports are UTF-8
        headers={"Content-Disposition": disposition},
    )


async def events(request: web.Request) -> web.Response:
    try:
        after = int(request.query.get("after", "0"))
        wait_s = min(float(request.query.get("wait", "25")), MAX_WAIT_S)
    except ValueError:
        raise web.HTTPBadRequest(text="after and wait must be numbers") from None
    found = await request.app[SIMULATION].events_after(after, wait_s)
    next_id = found[-1]["id"] if found else max(after, 0)
    return web.json_response({"events": found, "next": next_id}, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def create_simulate_app(settings: Settings) -> web.Application:
    """The page and its API; the bot and the fake WeCom API start and stop with it."""
    app = web.Application(client_max_size=MAX_MEDIA_BYTES * 4 // 3 + 64 * 1024)  # base64 media

    async def simulation_context(app: web.Application) -> AsyncIterator[None]:
        started = await _start(settings)
        app[SIMULATION] = started.simulation
        app[CONSOLE_URL] = started.bot_url.removesuffix("/wecom/callback") + "/console/"
        log.info("simulation started", extra={"bot_callback": started.bot_url})
        try:
            yield
        finally:
            await started.close()

    async def wake_pollers(app: web.Application) -> None:
        app[SIMULATION].wake_all()

    app.cleanup_ctx.append(simulation_context)
    app.on_shutdown.append(wake_pollers)
    app.router.add_get("/", page)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/media/{media_id}", media)
    app.router.add_post("/api/doctor/enter", doctor_enters)
    app.router.add_post("/api/doctor/say", doctor_says)
    app.router.add_post("/api/doctor/send", doctor_sends)
    app.router.add_post("/api/doctor/click", doctor_clicks)
    app.router.add_post("/api/rep/say", rep_says)
    app.router.add_post("/api/rep/click", rep_clicks)
    app.router.add_post("/api/workbench/say", servicer_says)
    app.router.add_post("/api/workbench/end", servicer_ends)
    return app


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    app = create_simulate_app(settings)

    async def announce(app: web.Application) -> None:
        print(f"virtualrep simulate: open http://127.0.0.1:{args.port}/ (Ctrl-C to stop)")
        print(f"virtualrep simulate: web console at {app[CONSOLE_URL]} (local sign-in)")

    app.on_startup.append(announce)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``virtualrep simulate``."""
    simulate = subparsers.add_parser(
        "simulate",
        help="chat as a doctor (kf) or a rep (app) in a local web page, through a simulated WeCom",
    )
    simulate.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"page port (default {DEFAULT_PORT})"
    )
    simulate.set_defaults(handler=_simulate)
