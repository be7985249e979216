"""A local stand-in for WeCom: a fake API server and a sender of encrypted callbacks.

Used by the tests and by ``virtualrep simulate``; nothing here talks to Tencent.

Fake API (``FakeWeComServer``, aiohttp on 127.0.0.1, free port). Request and response shapes
follow the WeCom documentation; every call is recorded in ``calls`` (``RecordedCall``):

=================================  ==========================================================
``GET  /cgi-bin/gettoken``         ``corpid``, ``corpsecret`` → ``access_token``, ``expires_in``
                                   (40013 wrong corp id, 40001 wrong secret)
``POST /cgi-bin/message/send``     app message to members; template cards get a
                                   ``response_code``
``POST /cgi-bin/message/update_template_card``  once per issued ``response_code``
``POST /cgi-bin/kf/sync_msg``      customer messages queued by the test/user, paged by
                                   ``limit``/``cursor``; **45009 without ``token``**, 95007 for
                                   a token the simulator did not issue
``POST /cgi-bin/kf/send_msg``      **95018** unless the session state is 0 or 1; at most
                                   ``kf_budget`` (5) messages after the customer's last
                                   message (``BUDGET_EXCEEDED``); a repeated ``msgid`` is
                                   accepted once (idempotent); a file message needs a
                                   media_id from media/upload (40007 otherwise)
``POST /cgi-bin/media/upload``     multipart field ``media`` (``type`` image, voice, video or
                                   file) → ``type``, ``media_id``, ``created_at``; 40006
                                   for fewer than 5 bytes or more than 20 MB; the file is
                                   kept in ``media`` (media_id → (filename, content))
``GET  /cgi-bin/media/get``        ``media_id`` → the file's bytes with its content type and
                                   ``Content-Disposition`` filename (as WeCom serves it);
                                   40007 as JSON for an unknown id. ``add_media`` puts a file
                                   there as if a person had sent it
``POST /cgi-bin/kf/send_msg_on_event``  one message per issued ``welcome_code``
``POST /cgi-bin/kf/service_state/get|trans``  state per (open_kfid, external_userid);
                                   95016 for a transition WeCom refuses, 95014 when the target
                                   servicer is not an active servicer
``POST /cgi-bin/kf/customer/batchget``, ``GET /cgi-bin/kf/servicer/list``
``GET  /cgi-bin/auth/getuserinfo``  a sign-in ``code`` from ``issue_login_code`` → ``userid``
                                   (console sign-in); each code works once, 40029 otherwise
=================================  ==========================================================

Delivered messages are also passed to ``listeners`` as ``(kind, body)`` — kind ``kf``, ``app``
(a template card's body carries its issued ``response_code``), ``card_update`` or
``kf_servicer`` (a human servicer's reply from the kf workbench: ``servicer_says``; the
servicer also ends the session there: ``servicer_ends_session``).

Every authenticated call answers 41001 without ``access_token`` and 40014 with a token that is
not current (see ``invalidate_tokens``). ``fail_next`` injects errcodes (e.g. -1, system busy),
``fail_http_next`` HTTP errors (e.g. 502) and ``stall_next`` answers that come too late (a
client timeout).

Callbacks (``CallbackSender``): builds WXBizMsgCrypt-encrypted XML exactly like WeCom (via
wechatpy's ``WeChatCrypto``) and POSTs it to the bot's callback URL. ``WeComSimulator`` joins
both: ``doctor_says`` queues kf messages in the fake API and then sends the ``kf_msg_or_event``
callback that makes the bot sync them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto

# errcodes the fake API answers with
INVALID_CORP_ID: Final = 40013
INVALID_SECRET: Final = 40001
MISSING_TOKEN: Final = 41001
STALE_TOKEN: Final = 40014
INVALID_FILE_SIZE: Final = 40006
INVALID_MEDIA_ID: Final = 40007
INVALID_PARAMETER: Final = 40058
INVALID_CODE: Final = 40029
CONTENT_TOO_LONG: Final = 45002
SYNC_WITHOUT_TOKEN: Final = 45009
INVALID_SYNC_TOKEN: Final = 95007
SERVICER_NOT_ACTIVE: Final = 95014
INVALID_TRANSITION: Final = 95016
WRONG_KF_STATE: Final = 95018
# The public documentation does not name the code for the 5-in-48-hours limit; this is the
# simulator's choice.
BUDGET_EXCEEDED: Final = 95001

KF_BUDGET_WINDOW_S: Final = 48 * 3600
SERVICER_ORIGIN: Final = 5  # a sync_msg item a human servicer sent from the kf workbench
# service_state transitions the simulator allows (0 untreated, 1 bot, 2 pool, 3 servicer, 4 ended)
_TRANSITIONS: Final[dict[int, frozenset[int]]] = {
    0: frozenset({1, 2, 3, 4}),
    1: frozenset({2, 3, 4}),
    2: frozenset({3, 4}),
    3: frozenset({2, 3, 4}),
    4: frozenset(),
}
_MEDIA_TYPES: Final = frozenset({"image", "voice", "video", "file"})
_MEDIA_MIN_BYTES: Final = 5
_MEDIA_MAX_BYTES: Final = 20 * 1024 * 1024
_KF_MSGTYPES: Final = frozenset(
    {"text", "image", "voice", "video", "file", "link", "miniprogram", "msgmenu", "location"}
)


def _check_msgmenu(menu: dict[str, Any]) -> None:
    """WeCom's msgmenu limits: head and tail at most 1024 bytes, at most 10 items, a click
    item's id at most 64 and its label at most 128 bytes. Checked on the welcome
    (send_msg_on_event) only: kf/send_msg menus whose head is a 2048-byte text chunk (the
    outbox's "show the rest" menu) would fail it, see notes/privacy.md."""
    items = menu.get("list", [])
    if len(items) > 10:
        raise _ApiError(INVALID_PARAMETER, "msgmenu has more than 10 items")
    for part in ("head_content", "tail_content"):
        if len(str(menu.get(part, "")).encode()) > 1024:
            raise _ApiError(CONTENT_TOO_LONG, f"{part} size out of limit")
    for item in items:
        click = item.get("click", {}) if isinstance(item, dict) else {}
        if len(str(click.get("id", "")).encode()) > 64:
            raise _ApiError(INVALID_PARAMETER, "menu id longer than 64 bytes")
        if len(str(click.get("content", "")).encode()) > 128:
            raise _ApiError(CONTENT_TOO_LONG, "menu content size out of limit")


@dataclass
class RecordedCall:
    """One request the fake API received, with its errcode (or the HTTP status injected by
    ``fail_http_next``) and, when 0, the answer's fields."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    errcode: int = 0
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class _KfSession:
    state: int = 0
    servicer: str = ""
    last_customer_at: float = 0.0
    sent_since_customer: int = 0


class NotServicing(Exception):
    """A workbench action by a member who does not hold the kf session (state 3)."""


class _ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class FakeWeComServer:
    """The fake WeCom API. ``await start()`` returns its base URL (for VREP_WECOM_API_BASE)."""

    corp_id: str = "wwsimulatedcorp"
    secret: str = "simulated-secret"
    kf_budget: int = 5
    servicers: dict[str, int] = field(default_factory=lambda: {"rep_zhang": 0})  # userid→status
    clock: Callable[[], float] = time.time
    calls: list[RecordedCall] = field(default_factory=list)
    app_sent: list[dict[str, Any]] = field(default_factory=list)  # delivered message/send
    kf_sent: list[dict[str, Any]] = field(default_factory=list)  # delivered kf messages
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # media_id → file
    listeners: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tokens: set[str] = set()
        self._sync_tokens: set[str] = set()
        self._welcome_codes: dict[str, tuple[str, str]] = {}  # code → (open_kfid, userid)
        self._response_codes: dict[str, bool] = {}  # issued → used
        self._kf_msgids: set[str] = set()
        self._login_codes: dict[str, str] = {}  # sign-in code → userid (console OAuth / QR)
        self._sessions: dict[tuple[str, str], _KfSession] = defaultdict(_KfSession)
        self._queued: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._failures: dict[str, list[int]] = defaultdict(list)
        self._http_failures: dict[str, list[int]] = defaultdict(list)
        self._stalls: dict[str, list[float]] = defaultdict(list)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/cgi-bin/{path:.+}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- controls for tests and the simulate page ------------------------------------------------
    def calls_to(self, path: str) -> list[RecordedCall]:
        """Recorded calls whose path ends with ``path`` (e.g. "kf/send_msg")."""
        return [call for call in self.calls if call.path.endswith(path)]

    def invalidate_tokens(self) -> None:
        """Make every issued access token stale (the next call answers 40014)."""
        self._tokens.clear()

    def fail_next(self, path: str, errcode: int = -1, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``path`` (suffix match) with ``errcode``."""
        self._failures[path].extend([errcode] * times)

    def clear_failures(self) -> None:
        """Forget every injected failure not used yet (WeCom is healthy again)."""
        for injected in (self._failures, self._http_failures, self._stalls):
            injected.clear()

    def fail_http_next(self, path: str, status: int = 502, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``path`` with HTTP ``status`` (a gateway error)."""
        self._http_failures[path].extend([status] * times)

    def stall_next(self, path: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` calls to ``path`` for ``seconds``, then answer 504 without
        handling them (a gateway timeout: the caller's own timeout usually fires first)."""
        self._stalls[path].extend([seconds] * times)

    def kf_state(self, open_kfid: str, external_userid: str) -> int:
        return self._sessions[(open_kfid, external_userid)].state

    def set_kf_state(
        self, open_kfid: str, external_userid: str, state: int, servicer: str = ""
    ) -> None:
        session = self._sessions[(open_kfid, external_userid)]
        session.state, session.servicer = state, servicer

    def issue_sync_token(self) -> str:
        """A callback Token valid for kf/sync_msg (what a kf_msg_or_event callback carries)."""
        token = "sync-" + secrets.token_hex(8)
        self._sync_tokens.add(token)
        return token

    def _next_msgid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}{secrets.token_hex(4)}"

    def _queue(
        self, open_kfid: str, external_userid: str, origin: int, body: dict[str, Any]
    ) -> str:
        msgid = self._next_msgid("sim")
        self._queued[open_kfid].append(
            {
                "msgid": msgid,
                "open_kfid": open_kfid,
                "external_userid": external_userid,
                "send_time": int(self.clock()),
                "origin": origin,
                **body,
            }
        )
        return msgid

    def queue_raw_item(self, open_kfid: str, item: Any) -> None:
        """Put ``item`` into the account's sync_msg list as it is (for items a bot cannot read)."""
        self._queued[open_kfid].append(item)

    def queue_customer_message(
        self, open_kfid: str, external_userid: str, msgtype: str, body: dict[str, Any]
    ) -> str:
        """A doctor's message (origin 3); renews the send budget, reopens an ended session."""
        session = self._sessions[(open_kfid, external_userid)]
        session.last_customer_at = self.clock()
        session.sent_since_customer = 0
        if session.state == 4:
            session.state, session.servicer = 0, ""
        return self._queue(open_kfid, external_userid, 3, {"msgtype": msgtype, msgtype: body})

    def add_media(self, filename: str, content: bytes) -> str:
        """Keep a file as WeCom keeps what a person sent; returns its media_id (for media/get)."""
        media_id = "media-" + secrets.token_hex(12)
        self.media[media_id] = (filename, content)
        return media_id

    def queue_customer_media(
        self, open_kfid: str, external_userid: str, msgtype: str, filename: str, content: bytes
    ) -> str:
        """A doctor's voice note, image or file (``msgtype``), fetchable through media/get."""
        media_id = self.add_media(filename, content)
        return self.queue_customer_message(
            open_kfid, external_userid, msgtype, {"media_id": media_id}
        )

    def queue_customer_text(
        self, open_kfid: str, external_userid: str, text: str, menu_id: str | None = None
    ) -> str:
        """Customer text; with ``menu_id`` it is a click on a msgmenu item (as WeCom sends it)."""
        body: dict[str, Any] = {"content": text}
        if menu_id is not None:
            body["menu_id"] = menu_id
        return self.queue_customer_message(open_kfid, external_userid, "text", body)

    def queue_event(self, open_kfid: str, external_userid: str, event: dict[str, Any]) -> str:
        """A system event (origin 4), e.g. {"event_type": "msg_send_fail", ...}."""
        full = {"open_kfid": open_kfid, "external_userid": external_userid, **event}
        return self._queue(open_kfid, external_userid, 4, {"msgtype": "event", "event": full})

    def queue_enter_session(
        self, open_kfid: str, external_userid: str, scene: str = "", scene_param: str = ""
    ) -> str:
        """The doctor opens the chat; returns the welcome_code (usable once)."""
        code = "welcome-" + secrets.token_hex(6)
        self._welcome_codes[code] = (open_kfid, external_userid)
        self.queue_event(
            open_kfid,
            external_userid,
            {
                "event_type": "enter_session",
                "scene": scene,
                "scene_param": scene_param,
                "welcome_code": code,
            },
        )
        return code

    def servicer_takes_over(self, open_kfid: str, external_userid: str, servicer: str) -> None:
        """A human servicer picks the session up in WeCom's workbench (state 3 + event)."""
        self.set_kf_state(open_kfid, external_userid, 3, servicer)
        self._session_changed(open_kfid, external_userid, 1, new_servicer_userid=servicer)

    def servicer_says(self, open_kfid: str, external_userid: str, servicer: str, text: str) -> str:
        """The human servicer's reply from WeCom's kf workbench (origin 5), which only the
        servicer holding the session (state 3) can send; ``NotServicing`` otherwise. The
        doctor gets it (listeners, kind ``kf_servicer``) and sync_msg returns it, as WeCom's
        does; returns its msgid."""
        self._check_servicing(open_kfid, external_userid, servicer)
        body = {"msgtype": "text", "text": {"content": text}}
        msgid = self._queue(open_kfid, external_userid, SERVICER_ORIGIN, body)
        self._notify("kf_servicer", {"touser": external_userid, "servicer": servicer, **body})
        return msgid

    def servicer_ends_session(self, open_kfid: str, external_userid: str, servicer: str) -> None:
        """The servicer ends the session in the workbench (state 4 + the change event)."""
        self._check_servicing(open_kfid, external_userid, servicer)
        self.set_kf_state(open_kfid, external_userid, 4)
        self._session_changed(open_kfid, external_userid, 3, old_servicer_userid=servicer)

    def _session_changed(
        self, open_kfid: str, external_userid: str, change_type: int, **servicer: str
    ) -> None:
        """The session_status_change event WeCom sends (1 taken over, 3 ended)."""
        event = {"event_type": "session_status_change", "change_type": change_type, **servicer}
        self.queue_event(open_kfid, external_userid, {**event, "msg_code": secrets.token_hex(4)})

    def _check_servicing(self, open_kfid: str, external_userid: str, servicer: str) -> None:
        session = self._sessions[(open_kfid, external_userid)]
        if session.state != 3 or session.servicer != servicer:
            raise NotServicing(
                f"{servicer} is not serving {external_userid} (session state {session.state}"
                + (f", servicer {session.servicer})" if session.servicer else ")")
            )

    # -- request handling ------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        path = "/cgi-bin/" + request.match_info["path"]
        query = dict(request.query)
        body: dict[str, Any] | None = None
        if request.content_type == "multipart/form-data":
            body = await _multipart_files(request)
        elif request.method == "POST":
            try:
                parsed = json.loads(await request.read() or b"{}")
            except ValueError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else {}
        call = RecordedCall(request.method, path, query, body)
        self.calls.append(call)
        if stall := _take(self._stalls, path):
            await asyncio.sleep(stall)
            call.errcode = 504
            return web.Response(status=504, text="Gateway Timeout")
        if status := _take(self._http_failures, path):
            call.errcode = status
            return web.Response(status=status, text="Bad Gateway")
        try:
            answer = self._answer(path, query, body or {})
        except _ApiError as err:
            call.errcode = err.errcode
            return web.json_response({"errcode": err.errcode, "errmsg": err.errmsg})
        if path == "/cgi-bin/media/get":
            filename, content = self.media[query["media_id"]]
            return web.Response(
                body=content,
                content_type=_content_type(filename),
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        call.answer = answer
        return web.json_response({"errcode": 0, "errmsg": "ok", **answer})

    def _answer(self, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        for suffix, codes in self._failures.items():
            if codes and path.endswith(suffix):
                raise _ApiError(codes.pop(0), "injected failure")
        if path == "/cgi-bin/gettoken":
            return self._gettoken(query)
        token = query.get("access_token")
        if not token:
            raise _ApiError(MISSING_TOKEN, "access_token missing")
        if token not in self._tokens:
            raise _ApiError(STALE_TOKEN, "invalid access_token")
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "/cgi-bin/message/send": self._message_send,
            "/cgi-bin/message/update_template_card": self._update_card,
            "/cgi-bin/media/upload": lambda body: self._upload(query, body),
            "/cgi-bin/kf/sync_msg": self._sync_msg,
            "/cgi-bin/kf/send_msg": self._kf_send,
            "/cgi-bin/kf/send_msg_on_event": self._kf_send_on_event,
            "/cgi-bin/kf/service_state/get": self._state_get,
            "/cgi-bin/kf/service_state/trans": self._state_trans,
            "/cgi-bin/kf/customer/batchget": self._customers,
        }
        if path == "/cgi-bin/kf/servicer/list":
            return self._servicer_list(query)
        if path == "/cgi-bin/auth/getuserinfo":
            return self._login_userinfo(query)
        if path == "/cgi-bin/media/get":
            if query.get("media_id") not in self.media:
                raise _ApiError(INVALID_MEDIA_ID, "invalid media_id")
            return {}
        handler = handlers.get(path)
        if handler is None:
            raise _ApiError(INVALID_PARAMETER, f"unknown api {path}")
        return handler(body)

    def _gettoken(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("corpid") != self.corp_id:
            raise _ApiError(INVALID_CORP_ID, "invalid corpid")
        if query.get("corpsecret") != self.secret:
            raise _ApiError(INVALID_SECRET, "invalid credential")
        token = "tok-" + secrets.token_hex(12)
        self._tokens.add(token)
        return {"access_token": token, "expires_in": 7200}

    def _notify(self, kind: str, payload: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, payload)

    def _message_send(self, body: dict[str, Any]) -> dict[str, Any]:
        msgtype = body.get("msgtype")
        if not body.get("touser") or not isinstance(msgtype, str) or msgtype not in body:
            raise _ApiError(INVALID_PARAMETER, "touser, msgtype and its body are required")
        if msgtype == "file" and body["file"].get("media_id") not in self.media:
            raise _ApiError(INVALID_MEDIA_ID, "invalid media_id")
        answer: dict[str, Any] = {"invaliduser": "", "msgid": self._next_msgid("app")}
        delivered = body
        if msgtype == "template_card":
            code = "rc-" + secrets.token_hex(6)
            self._response_codes[code] = False
            answer["response_code"] = code
            # Listeners (the simulate page) need the code to send a button click back.
            delivered = {**body, "response_code": code}
        self.app_sent.append(body)
        self._notify("app", delivered)
        return answer

    def _update_card(self, body: dict[str, Any]) -> dict[str, Any]:
        code = body.get("response_code")
        if not isinstance(code, str) or self._response_codes.get(code, True):
            raise _ApiError(INVALID_PARAMETER, "invalid or used response_code")
        self._response_codes[code] = True
        self._notify("card_update", body)
        return {"invaliduser": []}

    def _upload(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        media_type = query.get("type", "")
        upload = body.get("media")
        if media_type not in _MEDIA_TYPES or not isinstance(upload, dict):
            raise _ApiError(INVALID_PARAMETER, "type and a multipart field 'media' are required")
        content = upload["content"]
        if not _MEDIA_MIN_BYTES <= len(content) <= _MEDIA_MAX_BYTES:
            raise _ApiError(INVALID_FILE_SIZE, "invalid file size")
        media_id = "media-" + secrets.token_hex(12)
        self.media[media_id] = (str(upload["filename"]), content)
        return {"type": media_type, "media_id": media_id, "created_at": str(int(self.clock()))}

    def _sync_msg(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("token")
        if not token:
            raise _ApiError(SYNC_WITHOUT_TOKEN, "api freq out of limit")
        if token not in self._sync_tokens:
            raise _ApiError(INVALID_SYNC_TOKEN, "invalid msg token")
        queued = self._queued[str(body.get("open_kfid", ""))]
        start = int(body.get("cursor") or 0)
        limit = min(int(body.get("limit") or 1000), 1000)
        page = queued[start : start + limit]
        end = start + len(page)
        return {"next_cursor": str(end), "has_more": int(end < len(queued)), "msg_list": page}

    def _check_kf_body(self, body: dict[str, Any]) -> str:
        msgtype = body.get("msgtype")
        if not isinstance(msgtype, str) or msgtype not in _KF_MSGTYPES or msgtype not in body:
            raise _ApiError(INVALID_PARAMETER, "invalid msgtype")
        msgid = body.get("msgid")
        if msgid is not None and len(str(msgid).encode()) > 32:
            raise _ApiError(INVALID_PARAMETER, "msgid longer than 32 bytes")
        if msgtype == "text" and len(str(body["text"].get("content", "")).encode()) > 2048:
            raise _ApiError(CONTENT_TOO_LONG, "content size out of limit")
        if msgtype == "msgmenu" and len(body["msgmenu"].get("list", [])) > 10:
            raise _ApiError(INVALID_PARAMETER, "msgmenu has more than 10 items")
        if msgtype == "file" and body["file"].get("media_id") not in self.media:
            raise _ApiError(INVALID_MEDIA_ID, "invalid media_id")
        return msgtype

    def _kf_send(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_kf_body(body)
        key = (str(body.get("open_kfid", "")), str(body.get("touser", "")))
        msgid = str(body.get("msgid") or self._next_msgid("kf"))
        if msgid in self._kf_msgids:
            return {"msgid": msgid}  # a retried send: accepted, not delivered twice
        session = self._sessions[key]
        if session.state not in (0, 1):
            raise _ApiError(WRONG_KF_STATE, "not allowed to send in current service state")
        window_open = self.clock() - session.last_customer_at <= KF_BUDGET_WINDOW_S
        if not window_open or session.sent_since_customer >= self.kf_budget:
            raise _ApiError(BUDGET_EXCEEDED, "msg count limit exceeded (5 in 48 hours)")
        session.sent_since_customer += 1
        self._kf_msgids.add(msgid)
        self.kf_sent.append(body)
        self._notify("kf", body)
        return {"msgid": msgid}

    def _kf_send_on_event(self, body: dict[str, Any]) -> dict[str, Any]:
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "msgmenu") or msgtype not in body:
            raise _ApiError(INVALID_PARAMETER, "invalid msgtype")
        if msgtype == "msgmenu":
            _check_msgmenu(body["msgmenu"])
        target = self._welcome_codes.pop(str(body.get("code", "")), None)
        if target is None:
            raise _ApiError(INVALID_PARAMETER, "invalid or used welcome code")
        delivered = {**body, "open_kfid": target[0], "touser": target[1]}
        self.kf_sent.append(delivered)
        self._notify("kf", delivered)
        return {"msgid": str(body.get("msgid") or self._next_msgid("kf"))}

    def _session_of(self, body: dict[str, Any]) -> _KfSession:
        open_kfid, userid = body.get("open_kfid"), body.get("external_userid")
        if not open_kfid or not userid:
            raise _ApiError(INVALID_PARAMETER, "open_kfid and external_userid are required")
        return self._sessions[(str(open_kfid), str(userid))]

    def _state_get(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session_of(body)
        return {"service_state": session.state, "servicer_userid": session.servicer}

    def _state_trans(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session_of(body)
        target = int(body.get("service_state", -1))
        if target not in _TRANSITIONS.get(session.state, frozenset()):
            raise _ApiError(INVALID_TRANSITION, f"cannot change state {session.state}→{target}")
        servicer = str(body.get("servicer_userid", ""))
        if target == 3 and self.servicers.get(servicer) != 0:
            raise _ApiError(SERVICER_NOT_ACTIVE, "servicer is not an active kf servicer")
        session.state, session.servicer = target, servicer if target == 3 else ""
        return {"msg_code": secrets.token_hex(4)}

    def _customers(self, body: dict[str, Any]) -> dict[str, Any]:
        userids = [str(u) for u in body.get("external_userid_list", [])]
        customers = [
            {"external_userid": u, "nickname": f"Dr. {u[-4:]}", "avatar": "", "gender": 0}
            for u in userids
        ]
        return {"customer_list": customers, "invalid_external_userid": []}

    def issue_login_code(self, userid: str) -> str:
        """The ``code`` WeCom's OAuth or QR sign-in would hand back after ``userid`` signed in."""
        code = "code-" + secrets.token_hex(8)
        self._login_codes[code] = userid
        return code

    def _login_userinfo(self, query: dict[str, str]) -> dict[str, Any]:
        userid = self._login_codes.pop(query.get("code", ""), None)
        if userid is None:
            raise _ApiError(INVALID_CODE, "invalid code")
        return {"userid": userid, "user_ticket": "", "expires_in": 1800}

    def _servicer_list(self, query: dict[str, str]) -> dict[str, Any]:
        if not query.get("open_kfid"):
            raise _ApiError(INVALID_PARAMETER, "open_kfid required")
        return {"servicer_list": [{"userid": u, "status": s} for u, s in self.servicers.items()]}


def _take(injected: dict[str, list[Any]], path: str) -> Any:
    """The next injected value for ``path`` (suffix match), or None."""
    for suffix, values in injected.items():
        if values and path.endswith(suffix):
            return values.pop(0)
    return None


async def _multipart_files(request: web.Request) -> dict[str, Any]:
    """The file fields of a multipart body: name → {"filename", "content"}."""
    files: dict[str, Any] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if isinstance(part, aiohttp.BodyPartReader) and part.name:
            files[part.name] = {"filename": part.filename or "", "content": await part.read()}
    return files


def _content_type(filename: str) -> str:
    """The content type WeCom would serve a file with (by its name, like a web server)."""
    suffix = filename.rsplit(".", 1)[-1].lower()
    known = {"amr": "audio/amr", "silk": "audio/silk", "jpg": "image/jpeg", "jpeg": "image/jpeg",
             "png": "image/png", "pdf": "application/pdf"}  # fmt: skip
    return known.get(suffix, "application/octet-stream")


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_message(fields: dict[str, str | int]) -> str:
    """The plaintext callback XML WeCom would encrypt (strings as CDATA, numbers bare)."""
    parts = [
        f"<{name}>{value}</{name}>"
        if isinstance(value, int)
        else f"<{name}>{_cdata(value)}</{name}>"
        for name, value in fields.items()
    ]
    return "<xml>" + "".join(parts) + "</xml>"


class CallbackSender:
    """Encrypts callback XML like WeCom and posts it to the bot's callback URL."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        token: str,
        aes_key: str,
        corp_id: str,
        agent_id: int = 1000002,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self.url = url
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._crypto = WeChatCrypto(token, aes_key, corp_id)
        self._clock = clock
        self._ids = itertools.count(int(clock() * 1000))

    def encrypt(
        self, plaintext_xml: str, timestamp: int | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """(query parameters, body) of one callback carrying ``plaintext_xml``."""
        stamp = str(timestamp if timestamp is not None else int(self._clock()))
        nonce = nonce or secrets.token_hex(5)
        envelope = self._crypto.encrypt_message(plaintext_xml, nonce, stamp)
        start = envelope.index("<MsgSignature><![CDATA[") + len("<MsgSignature><![CDATA[")
        signature = envelope[start : envelope.index("]]>", start)]
        body = (
            f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName>"
            f"<AgentID>{_cdata(str(self.agent_id))}</AgentID>"
            f"<Encrypt>{_cdata(_between(envelope, '<Encrypt><![CDATA[', ']]>'))}</Encrypt></xml>"
        )
        query = {"msg_signature": signature, "timestamp": stamp, "nonce": nonce}
        return query, body.encode()

    def verification_query(self, echo: str) -> dict[str, str]:
        """Query of the GET URL verification; the bot must answer ``echo``."""
        query, body = self.encrypt(echo)
        return {**query, "echostr": _between(body.decode(), "<Encrypt><![CDATA[", "]]>")}

    async def post(self, plaintext_xml: str) -> tuple[int, str]:
        query, body = self.encrypt(plaintext_xml)
        async with self._session.post(self.url, params=query, data=body) as response:
            return response.status, await response.text()

    def app_text_xml(self, userid: str, text: str, msg_id: int | None = None) -> str:
        return xml_message(
            {
                "ToUserName": self.corp_id,
                "FromUserName": userid,
                "CreateTime": int(self._clock()),
                "MsgType": "text",
                "Content": text,
                "MsgId": msg_id if msg_id is not None else next(self._ids),
                "AgentID": self.agent_id,
            }
        )

    def app_media_xml(self, userid: str, msgtype: str, media_id: str) -> str:
        """A member's voice note (AMR), image or file sent to the app."""
        fields: dict[str, str | int] = {
            "ToUserName": self.corp_id,
            "FromUserName": userid,
            "CreateTime": int(self._clock()),
            "MsgType": msgtype,
            "MediaId": media_id,
            "MsgId": next(self._ids),
            "AgentID": self.agent_id,
        }
        if msgtype == "voice":
            fields["Format"] = "amr"
        return xml_message(fields)

    def card_event_xml(self, userid: str, event_key: str, task_id: str, response_code: str) -> str:
        return xml_message(
            {
                "ToUserName": self.corp_id,
                "FromUserName": userid,
                "CreateTime": int(self._clock()),
                "MsgType": "event",
                "Event": "template_card_event",
                "EventKey": event_key,
                "TaskId": task_id,
                "CardType": "button_interaction",
                "ResponseCode": response_code,
                "AgentID": self.agent_id,
            }
        )

    def kf_event_xml(self, open_kfid: str, sync_token: str) -> str:
        return xml_message(
            {
                "ToUserName": self.corp_id,
                "CreateTime": int(self._clock()),
                "MsgType": "event",
                "Event": "kf_msg_or_event",
                "Token": sync_token,
                "OpenKfId": open_kfid,
            }
        )


def _between(text: str, start: str, end: str) -> str:
    begin = text.index(start) + len(start)
    return text[begin : text.index(end, begin)]


class WeComSimulator:
    """The fake API plus a callback sender, with one-call actions for doctors and reps."""

    def __init__(self, server: FakeWeComServer, sender: CallbackSender) -> None:
        self.server = server
        self.sender = sender

    async def doctor_says(
        self, open_kfid: str, external_userid: str, *texts: str
    ) -> tuple[list[str], tuple[int, str]]:
        """Queue the texts as one kf batch, then deliver the callback: (msgids, HTTP answer)."""
        msgids = [self.server.queue_customer_text(open_kfid, external_userid, t) for t in texts]
        return msgids, await self.kf_notify(open_kfid)

    async def doctor_sends(
        self, open_kfid: str, external_userid: str, msgtype: str, filename: str, content: bytes
    ) -> tuple[str, tuple[int, str]]:
        """A voice note, image or file on kf, then the callback: (msgid, HTTP answer)."""
        msgid = self.server.queue_customer_media(
            open_kfid, external_userid, msgtype, filename, content
        )
        return msgid, await self.kf_notify(open_kfid)

    async def doctor_clicks(
        self, open_kfid: str, external_userid: str, menu_id: str, label: str
    ) -> tuple[int, str]:
        self.server.queue_customer_text(open_kfid, external_userid, label, menu_id=menu_id)
        return await self.kf_notify(open_kfid)

    async def doctor_enters(
        self, open_kfid: str, external_userid: str, scene: str = ""
    ) -> tuple[int, str]:
        self.server.queue_enter_session(open_kfid, external_userid, scene)
        return await self.kf_notify(open_kfid)

    async def kf_notify(self, open_kfid: str) -> tuple[int, str]:
        """The kf_msg_or_event callback for whatever is queued for ``open_kfid``."""
        token = self.server.issue_sync_token()
        return await self.sender.post(self.sender.kf_event_xml(open_kfid, token))

    async def servicer_says(
        self, open_kfid: str, external_userid: str, servicer: str, text: str
    ) -> tuple[int, str]:
        """A reply from the kf workbench, then the callback that makes the bot sync it."""
        self.server.servicer_says(open_kfid, external_userid, servicer, text)
        return await self.kf_notify(open_kfid)

    async def servicer_ends_session(
        self, open_kfid: str, external_userid: str, servicer: str
    ) -> tuple[int, str]:
        """The servicer ends the session in the workbench, then the callback."""
        self.server.servicer_ends_session(open_kfid, external_userid, servicer)
        return await self.kf_notify(open_kfid)

    async def rep_says(self, userid: str, text: str) -> tuple[int, str]:
        return await self.sender.post(self.sender.app_text_xml(userid, text))

    async def rep_sends(
        self, userid: str, msgtype: str, filename: str, content: bytes
    ) -> tuple[int, str]:
        """A member's voice note, image or file to the app, fetchable through media/get."""
        media_id = self.server.add_media(filename, content)
        return await self.sender.post(self.sender.app_media_xml(userid, msgtype, media_id))

    async def rep_clicks(
        self, userid: str, event_key: str, task_id: str, response_code: str
    ) -> tuple[int, str]:
        return await self.sender.post(
            self.sender.card_event_xml(userid, event_key, task_id, response_code)
        )
