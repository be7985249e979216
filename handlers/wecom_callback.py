"""``GET|POST /wecom/callback``: the one URL where WeCom delivers app and kf callbacks.

The handler only authenticates, decrypts, parses and enqueues — it answers within milliseconds
and never waits on the knowledge base, an LLM or the WeCom API (WeCom retries anything not
answered with HTTP 200 within 5 s).

Checks, in order (rejections enqueue nothing and never echo secrets or tracebacks):

1. body over ``VREP_WECOM_MAX_BODY_BYTES`` (64 KiB; Content-Length or streamed size) → 413
2. ``msg_signature``/``timestamp``/``nonce`` missing → 403; a timestamp that is not 1–12 ASCII
   digits → 400; outside ``±VREP_WECOM_TIMESTAMP_WINDOW_S`` → 403 (the window is shorter than
   the dedup TTL, checked at start-up, so a replay inside it is always recognised)
3. outer XML malformed or hostile (any DOCTYPE, hence no entities or external references)
   → 400
4. SHA1 signature over (token, timestamp, nonce, Encrypt), compared in constant time → 403
5. decryption (wechatpy's ``PrpCrypto``, built once); receive id ≠ corp id → 403;
   undecryptable → 400
6. inner XML parsed with the same hardened parser → 400
7. unknown message or event types → 200, logged and ignored

Accepted messages are deduplicated and enqueued in one storage round trip (``submit_inbound``):
dedup id ``MsgId`` for messages, ``FromUserName:CreateTime`` for events (plus ``TaskId`` for
card clicks, so two cards clicked in the same second stay distinct). A ``kf_msg_or_event``
notice carries no content: it schedules a background kf sync (``handlers.kf.KfSyncer``).

Without WeCom settings, ``add_unconfigured_routes(app)`` answers the same URL with 503 and the
one-line reason (``NOT_CONFIGURED``), logged once at start-up.

Wiring: ``add_routes(app)`` registers the routes and a cleanup context that builds the handler
from ``app[SETTINGS]``, ``app[STORAGE]``, ``app[METRICS]`` and, when present, ``app[WECOM]``
(a ``WeComClient``; without it kf notices are logged and dropped) and ``app[CALLBACKS_IN_FLIGHT]``
(each POST counts as in flight until answered: the app's inbound workers wait for none to be,
``bot.pipeline.CallbacksInFlight``). Call it after the cleanup contexts that set those keys are
registered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Final

from aiohttp import web
from lxml import etree
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException

from bot.keys import CALLBACKS_IN_FLIGHT, METRICS, SERVICES, SETTINGS, STORAGE, WECOM
from bot.metrics import Metrics
from bot.models import Channel, InboundMessage, MessageKind, SenderType
from bot.pipeline import CallbacksInFlight, submit_inbound
from bot.settings import Settings
from bot.storage.base import Storage, StorageError
from handlers.kf import KF_POLL_SCHEDULE, KfSyncer, WelcomeMenu, default_welcome_menu

log = logging.getLogger(__name__)

CALLBACK_PATH: Final = "/wecom/callback"
_APP_MEDIA: Final = {
    "image": MessageKind.IMAGE,
    "voice": MessageKind.VOICE,
    "file": MessageKind.FILE,
    "video": MessageKind.OTHER,
    "location": MessageKind.OTHER,
    "link": MessageKind.OTHER,
}


class Rejected(Exception):
    """A callback refused with ``status``; ``reason`` is logged and counted, never sent."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_DRAIN_FACTOR: Final = 32  # oversized bodies up to 32× the limit are read away (2 MiB)
_DRAIN_TIMEOUT_S: Final = 1.0
_BODIES: Final = {400: "bad request", 403: "forbidden", 413: "payload too large"}
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")
NOT_CONFIGURED: Final = (
    "WeCom is not configured: set VREP_WECOM_CORP_ID, VREP_WECOM_TOKEN and VREP_WECOM_AES_KEY"
)


_XML_PARSER: Final = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def parse_xml(data: str | bytes) -> dict[str, str]:
    """The child elements of a flat WeCom XML document, hardened against DTD tricks.

    lxml with entity resolution, DTD loading and network access off; any document with a
    DOCTYPE is refused outright (WeCom never sends one), so neither external entities (XXE)
    nor entity expansion (billion laughs) can take effect.
    """
    raw = data.encode() if isinstance(data, str) else data
    try:
        root = etree.fromstring(raw, _XML_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise Rejected(400, f"xml: {type(exc).__name__}") from None
    if root is None or root.getroottree().docinfo.doctype:
        raise Rejected(400, "xml: DOCTYPE not allowed")
    return {child.tag: child.text or "" for child in root if isinstance(child.tag, str)}


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """WXBizMsgCrypt's SHA1 over the sorted strings."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypted))).encode()).hexdigest()


class WeComCallback:
    """Authenticates and decrypts callbacks, then enqueues messages or schedules kf syncs."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        metrics: Metrics,
        kf_syncer: KfSyncer | None,
        clock: Callable[[], float] = time.time,
        in_flight: CallbacksInFlight | None = None,
    ) -> None:
        if not settings.wecom_configured:
            raise ValueError("WeCom callbacks need VREP_WECOM_CORP_ID, _TOKEN and _AES_KEY")
        assert settings.wecom_corp_id and settings.wecom_token and settings.wecom_aes_key
        self._corp_id = settings.wecom_corp_id
        self._token = settings.wecom_token.get_secret_value()
        # Built once: wechatpy's ``decrypt_message`` would re-check the signature and build a
        # new AES cipher on every call; the signature is checked here (in constant time).
        aes_key = settings.wecom_aes_key.get_secret_value()
        self._cipher = PrpCrypto(WeChatCrypto(self._token, aes_key, self._corp_id).key)
        self._window_s = settings.wecom_timestamp_window_s
        self._max_body = settings.wecom_max_body_bytes
        self._dedup_ttl_s = settings.dedup_ttl_s
        self._storage = storage
        self._metrics = metrics
        self.kf_syncer = kf_syncer
        self._clock = clock
        self.in_flight = in_flight or CallbacksInFlight()  # this process's workers wait on it

    # -- HTTP ------------------------------------------------------------------------------------
    async def handle_get(self, request: web.Request) -> web.Response:
        """URL verification: answer the decrypted ``echostr`` as plain text."""
        try:
            timestamp, nonce, given = self._query(request)
            echo = request.query.get("echostr", "")
            self._check_signature(timestamp, nonce, echo, given)
            plain = self._decrypt(echo)
        except Rejected as rejected:
            return self._reject(rejected)
        return web.Response(text=plain, content_type="text/plain")

    async def handle_post(self, request: web.Request) -> web.Response:
        with self.in_flight.acknowledging():
            return await self._handle_post(request)

    async def _handle_post(self, request: web.Request) -> web.Response:
        try:
            body = await self._read_body(request)
            timestamp, nonce, given = self._query(request)
            encrypted = parse_xml(body).get("Encrypt", "")
            if not encrypted:
                raise Rejected(400, "no Encrypt element")
            self._check_signature(timestamp, nonce, encrypted, given)
            fields = parse_xml(self._decrypt(encrypted))
        except Rejected as rejected:
            return self._reject(rejected)
        try:
            await self._accept(fields)
        except StorageError:
            # Not acknowledged: WeCom retries, and the dedup key was not taken.
            self._metrics.errors.labels("callback_storage").inc()
            log.warning("storage unavailable; callback not acknowledged")
            return web.Response(status=503, text="unavailable")
        return web.Response(text="success")

    def _reject(self, rejected: Rejected) -> web.Response:
        log.warning(
            "callback rejected", extra={"status": rejected.status, "reason": rejected.reason}
        )
        self._metrics.events.labels(f"callback_rejected_{rejected.status}").inc()
        return web.Response(status=rejected.status, text=_BODIES[rejected.status])

    async def _read_body(self, request: web.Request) -> bytes:
        """The body, or ``Rejected(413)`` as soon as it exceeds the limit."""
        declared = request.content_length
        if declared is not None and declared > self._max_body:
            await self._discard(request, declared)
            raise Rejected(413, "content-length over limit")
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(self._max_body + 1 - size):
            size += len(chunk)
            if size > self._max_body:
                await self._discard(request, None)
                raise Rejected(413, "body over limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _discard(self, request: web.Request, declared: int | None) -> None:
        """Read away a moderately oversized body so the client sees the 413; close otherwise.

        aiohttp would drain any unread body for up to 10 s; bodies far beyond the limit (or
        slow ones) get the connection closed after the answer instead.
        """
        drain_limit = self._max_body * _DRAIN_FACTOR
        if declared is None or declared <= drain_limit:
            drained = 0
            try:
                async with asyncio.timeout(_DRAIN_TIMEOUT_S):
                    while drained <= drain_limit and (chunk := await request.content.readany()):
                        drained += len(chunk)
            except TimeoutError:
                pass
            if request.content.at_eof():
                return
        request.protocol.force_close()

    def _query(self, request: web.Request) -> tuple[str, str, str]:
        query = request.query
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        given = query.get("msg_signature", "")
        if not (timestamp and nonce and given):
            raise Rejected(403, "missing signature parameters")
        # Seconds since 1970 in ASCII digits; anything else (letters, a sign, Unicode digits, a
        # 400-digit number that would overflow the float comparison) is malformed, not stale.
        if not _TIMESTAMP.fullmatch(timestamp):
            raise Rejected(400, "malformed timestamp")
        if abs(self._clock() - int(timestamp)) > self._window_s:
            raise Rejected(403, "timestamp outside window")
        return timestamp, nonce, given

    def _check_signature(self, timestamp: str, nonce: str, encrypted: str, given: str) -> None:
        expected = signature(self._token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise Rejected(403, "bad signature")

    def _decrypt(self, encrypted: str) -> str:
        """The plain text of a signature-checked ``Encrypt`` (or ``echostr``) value."""
        try:
            plain = self._cipher.decrypt(encrypted, self._corp_id)
        except InvalidCorpIdException:
            raise Rejected(403, "receive id is not our corp id") from None
        except Exception as exc:  # padding, base64, length or UTF-8 errors in signed garbage
            raise Rejected(400, f"undecryptable: {type(exc).__name__}") from None
        return str(plain)

    # -- routing -------------------------------------------------------------------------------
    async def _accept(self, fields: dict[str, str]) -> None:
        msg_type = fields.get("MsgType", "")
        event = fields.get("Event", "")
        if msg_type == "event" and event == "kf_msg_or_event":
            self._schedule_kf_sync(fields)
            return
        message = app_message(fields)
        if message is None:
            log.info("callback type ignored", extra={"msg_type": msg_type, "event": event})
            self._metrics.events.labels("callback_ignored").inc()
            return
        if not await submit_inbound(self._storage, message, self._dedup_ttl_s):
            self._metrics.events.labels("callback_duplicate").inc()

    def _schedule_kf_sync(self, fields: dict[str, str]) -> None:
        open_kfid, token = fields.get("OpenKfId", ""), fields.get("Token", "")
        if not open_kfid:
            log.warning("kf notice without OpenKfId")
            return
        if self.kf_syncer is None:
            log.warning("kf notice dropped: no WeCom API client configured")
            self._metrics.events.labels("kf_notice_dropped").inc()
            return
        self.kf_syncer.trigger(open_kfid, token)


def app_message(fields: dict[str, str]) -> InboundMessage | None:
    """A self-built-app callback from a corp member as an ``InboundMessage`` (None: ignored)."""
    userid = fields.get("FromUserName", "")
    if not userid:
        return None
    msg_type = fields.get("MsgType", "")
    kind: MessageKind
    raw_ids = {"CreateTime": fields.get("CreateTime", ""), "AgentID": fields.get("AgentID", "")}
    text, click_id, extra = "", None, {"msg_type": msg_type}
    if msg_type == "event":
        event = fields.get("Event", "")
        if event == "template_card_event":
            for name in ("TaskId", "ResponseCode", "CardType"):
                raw_ids[name] = fields.get(name, "")
        elif event != "click":  # menu click of the app
            return None
        kind, click_id = MessageKind.CLICK, fields.get("EventKey", "")
        message_id = f"{userid}:{raw_ids['CreateTime']}:{raw_ids.get('TaskId', '')}"
    elif msg_type == "text" or msg_type in _APP_MEDIA:
        if not fields.get("MsgId"):
            return None
        kind = MessageKind.TEXT if msg_type == "text" else _APP_MEDIA[msg_type]
        text = fields.get("Content", "")
        message_id = raw_ids["MsgId"] = fields["MsgId"]
        if "MediaId" in fields:
            extra["media_id"] = fields["MediaId"]
    else:
        return None
    return InboundMessage(
        message_id=message_id,
        channel=Channel.APP,
        conversation_key=f"app:{userid}",
        sender_id=userid,
        sender_type=SenderType.MEMBER,
        kind=kind,
        text=text,
        click_id=click_id,
        raw_ids=raw_ids,
        extra=extra,
    )


WECOM_CALLBACK = web.AppKey("wecom_callback", WeComCallback)


def add_routes(app: web.Application, *, welcome_menu: WelcomeMenu = default_welcome_menu) -> None:
    """Register ``GET|POST /wecom/callback``; the handler is built when the app starts."""

    async def callback_context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        client = app.get(WECOM)
        services = app.get(SERVICES)
        syncer = (
            KfSyncer(
                client,
                app[STORAGE],
                app[METRICS],
                dedup_ttl_s=settings.dedup_ttl_s,
                welcome_menu=welcome_menu,
                welcome_hooks=services.welcome_hooks if services is not None else (),
                retry_s=settings.kf_sync_retry_s,
                retries=settings.kf_sync_retries,
                interval_s=settings.kf_sync_interval_s,
            )
            if client is not None
            else None
        )
        if syncer is not None and services is not None:  # the periodic kf sync
            services.scheduler.register(KF_POLL_SCHEDULE, syncer.poll)
        app[WECOM_CALLBACK] = WeComCallback(
            settings, app[STORAGE], app[METRICS], syncer, in_flight=app.get(CALLBACKS_IN_FLIGHT)
        )
        yield
        if syncer is not None:
            await syncer.close()

    async def get(request: web.Request) -> web.Response:
        return await request.app[WECOM_CALLBACK].handle_get(request)

    async def post(request: web.Request) -> web.Response:
        return await request.app[WECOM_CALLBACK].handle_post(request)

    app.cleanup_ctx.append(callback_context)
    app.router.add_get(CALLBACK_PATH, get)
    app.router.add_post(CALLBACK_PATH, post)


def add_unconfigured_routes(app: web.Application) -> None:
    """Answer ``/wecom/callback`` with 503 and the reason, and say once at start-up why."""

    async def say_once(app: web.Application) -> None:
        log.warning(NOT_CONFIGURED)

    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text=NOT_CONFIGURED)

    app.on_startup.append(say_once)
    app.router.add_route("*", CALLBACK_PATH, unavailable)
