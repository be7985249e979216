"""Async WeCom API client on aiohttp, shared-token aware and safe to run in several replicas.

- The access token lives in storage (``wecom:token:<corp>:<secret digest>``) so every replica
  uses the same one; it is refreshed ``refresh_margin_s`` before it expires, by one caller at a
  time (an in-process lock plus the storage lock), and fetched again once when WeCom says it is
  invalid or expired (40001 / 40014 / 42001).
- Network errors, non-200 answers and errcode -1 (system busy) are retried with exponential
  backoff; any other errcode raises ``WeComApiError`` (or a subclass for the codes callers
  handle).
- ``message/send`` respects the per-member limit (30 messages per minute) by waiting for a free
  slot, never by dropping: slots are counted in shared storage, so all replicas share the limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Final

import aiohttp

from bot.settings import Settings
from bot.storage.base import Storage

log = logging.getLogger(__name__)

TOKEN_ERRCODES: Final = frozenset({40001, 40014, 42001})
BUSY_ERRCODE: Final = -1

FormFactory = Callable[[], aiohttp.FormData]


class WeComApiError(Exception):
    """WeCom answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeCom errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeComUnavailable(WeComApiError):
    """The API could not be reached (or kept answering -1) after every retry."""


class KfWrongStateError(WeComApiError):
    """95018: the kf session is in a state that does not allow the bot to send."""


class KfServicerNotActiveError(WeComApiError):
    """95014: the target servicer is not an active servicer of the kf account."""


class KfSyncRateLimitedError(WeComApiError):
    """45009: API frequency limit (kf/sync_msg without the callback token hits it quickly)."""


class KfInvalidSyncTokenError(WeComApiError):
    """95007: the callback Token given to kf/sync_msg is invalid or expired (10 minutes)."""


class MediaTooLargeError(WeComApiError):
    """media/get would return more bytes than the caller accepts (nothing more is read)."""


_ERROR_TYPES: Final[dict[int, type[WeComApiError]]] = {
    95018: KfWrongStateError,
    95014: KfServicerNotActiveError,
    45009: KfSyncRateLimitedError,
    95007: KfInvalidSyncTokenError,
}


TRANSIENT_ERRCODES: Final = frozenset({BUSY_ERRCODE, 45009, *TOKEN_ERRCODES})
"""Worth trying again later: busy, rate-limited, or an access token WeCom just rejected."""


def is_transient(err: WeComApiError) -> bool:
    """True for failures a later attempt may get past (also network, 5xx and timeouts, which
    the client reports as ``WeComUnavailable`` after its own quick retries)."""
    return isinstance(err, WeComUnavailable) or err.errcode in TRANSIENT_ERRCODES


def _is_file(response: aiohttp.ClientResponse) -> bool:
    """media/get answers errors as JSON (or text) and files with their own content type."""
    return response.content_type not in ("application/json", "text/plain", "text/html")


async def _read_file(response: aiohttp.ClientResponse, max_bytes: int) -> dict[str, Any]:
    if (response.content_length or 0) > max_bytes:
        raise MediaTooLargeError(0, f"file of {response.content_length} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise MediaTooLargeError(0, f"file of more than {max_bytes} bytes")
        chunks.append(chunk)
    content = b"".join(chunks)
    disposition = response.content_disposition
    return {
        "content": content,
        "content_type": response.content_type,
        "filename": (disposition.filename if disposition else None) or "",
    }


def api_error(errcode: int, errmsg: str) -> WeComApiError:
    """The typed error for ``errcode``."""
    return _ERROR_TYPES.get(errcode, WeComApiError)(errcode, errmsg)


class WeComClient:
    """One corp application (corp id + secret); all methods are coroutine-safe."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        storage: Storage,
        *,
        corp_id: str,
        secret: str,
        agent_id: int | None,
        api_base: str,
        retries: int = 3,
        backoff_s: float = 0.2,
        timeout_s: float = 10.0,
        refresh_margin_s: int = 300,
        member_rate_per_minute: int = 30,
        rate_window_s: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._storage = storage
        self.corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self._base = api_base.rstrip("/")
        self._retries = retries
        self._backoff_s = backoff_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._refresh_margin_s = refresh_margin_s
        self._now = wall_clock
        digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
        self._token_key = f"wecom:token:{corp_id}:{digest}"
        self._token_lock = asyncio.Lock()
        # Per-member limit: the window is cut into buckets; at most ``_bucket_cap`` sends per
        # bucket keeps every sliding window of ``rate_window_s`` within the limit, because such
        # a window overlaps at most ``_buckets + 1`` buckets.
        self._buckets = 5
        self._bucket_s = rate_window_s / self._buckets
        self._bucket_cap = max(1, member_rate_per_minute // (self._buckets + 1))

    # -- access token ----------------------------------------------------------------------------
    async def gettoken(self) -> tuple[str, int]:
        """Fetch a fresh token from WeCom: (access_token, expires_in seconds)."""
        data = await self._request(
            "GET", "/cgi-bin/gettoken", {"corpid": self.corp_id, "corpsecret": self._secret}, None
        )
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def access_token(self, stale: str | None = None) -> str:
        """The shared token; ``stale`` names a token WeCom just rejected (forces a refetch)."""
        cached = await self._cached_token(stale)
        if cached is not None:
            return cached
        async with self._token_lock:
            cached = await self._cached_token(stale)
            if cached is not None:
                return cached
            async with self._storage.lock(self._token_key + ":refresh", timeout_s=30.0):
                # Another replica may have refreshed while we waited for the lock.
                cached = await self._cached_token(stale)
                if cached is not None:
                    return cached
                token, expires_in = await self.gettoken()
                ttl = max(1, expires_in - self._refresh_margin_s)
                await self._storage.set_json(
                    self._token_key, {"token": token, "expires_at": self._now() + ttl}, ttl_s=ttl
                )
                log.info("fetched a new WeCom access token", extra={"expires_in": expires_in})
                return token

    async def _cached_token(self, stale: str | None) -> str | None:
        entry = await self._storage.get_json(self._token_key)
        if not isinstance(entry, dict):
            return None
        token = entry.get("token")
        if not isinstance(token, str) or token == stale:
            return None
        if float(entry.get("expires_at", 0)) <= self._now():
            return None
        return token

    # -- transport ---------------------------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        form: FormFactory | None = None,
        media_max_bytes: int | None = None,
        **query: str,
    ) -> dict[str, Any]:
        """Call an authenticated endpoint; refetches the token once when WeCom rejects it.

        The body is the JSON ``payload`` or, for uploads, the multipart body ``form`` builds.
        With ``media_max_bytes`` a non-JSON answer is a file (media/get): ``content`` (at most
        that many bytes, else ``MediaTooLargeError``), ``content_type`` and ``filename``.
        """
        token = await self.access_token()
        try:
            return await self._request(
                method, path, {**query, "access_token": token}, payload, form, media_max_bytes
            )
        except WeComApiError as err:
            if err.errcode not in TOKEN_ERRCODES:
                raise
            log.info("WeCom rejected the access token; refreshing", extra={"errcode": err.errcode})
        token = await self.access_token(stale=token)
        return await self._request(
            method, path, {**query, "access_token": token}, payload, form, media_max_bytes
        )

    async def _request(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        payload: dict[str, Any] | None,
        form: FormFactory | None = None,
        media_max_bytes: int | None = None,
    ) -> dict[str, Any]:
        url = self._base + path
        last_error = "unreachable"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            # A FormData can be sent only once, so every attempt builds a fresh one.
            body = {"data": form()} if form is not None else {"json": payload}
            try:
                async with self._session.request(
                    method, url, params=query, timeout=self._timeout, **body
                ) as response:
                    if response.status != 200:
                        last_error = f"HTTP {response.status}"
                        continue
                    if media_max_bytes is not None and _is_file(response):
                        return await _read_file(response, media_max_bytes)
                    data = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last_error = type(exc).__name__
                continue
            if not isinstance(data, dict):
                last_error = "answer is not a JSON object"
                continue
            errcode = int(data.get("errcode", 0))
            if errcode == BUSY_ERRCODE:
                last_error = "system busy (-1)"
                continue
            if errcode != 0:
                raise api_error(errcode, str(data.get("errmsg", "")))
            return data
        log.warning("WeCom API unavailable", extra={"path": path, "error": last_error})
        raise WeComUnavailable(BUSY_ERRCODE, f"{path}: {last_error}")

    # -- per-member rate limit -----------------------------------------------------------------
    async def _wait_for_member_slot(self, member: str) -> None:
        """Reserve the earliest free send slot for ``member`` and sleep until it starts."""
        bucket = math.floor(self._now() / self._bucket_s)
        while True:
            key = f"wecom:rate:{self.corp_id}:{member}:{bucket}"
            ttl = math.ceil(self._bucket_s * (self._buckets + 2))
            if await self._storage.incr(key, 1, ttl_s=ttl) <= self._bucket_cap:
                break
            bucket += 1
        delay = bucket * self._bucket_s - self._now()
        if delay > 0:
            log.info("member rate limit: waiting", extra={"member": member, "delay_s": delay})
            await asyncio.sleep(delay)

    # -- self-built app messages ---------------------------------------------------------------
    async def send_message(self, touser: str, msgtype: str, body: dict[str, Any]) -> dict[str, Any]:
        """``message/send`` to corp member(s) ``touser`` ("a|b"); waits for rate-limit slots."""
        for member in touser.split("|"):
            await self._wait_for_member_slot(member)
        payload: dict[str, Any] = {
            "touser": touser,
            "msgtype": msgtype,
            "agentid": self.agent_id,
            msgtype: body,
        }
        return await self.call("POST", "/cgi-bin/message/send", payload)

    async def send_text(self, touser: str, content: str) -> dict[str, Any]:
        return await self.send_message(touser, "text", {"content": content})

    async def send_markdown(self, touser: str, content: str) -> dict[str, Any]:
        return await self.send_message(touser, "markdown", {"content": content})

    async def send_template_card(self, touser: str, card: dict[str, Any]) -> dict[str, Any]:
        """An interactive card; the answer carries ``response_code`` for later updates."""
        return await self.send_message(touser, "template_card", card)

    async def update_template_card(
        self,
        userids: list[str],
        response_code: str,
        *,
        card: dict[str, Any] | None = None,
        replace_name: str | None = None,
    ) -> dict[str, Any]:
        """Update a clicked card (once per ResponseCode, within 72 h).

        Either replace the whole ``card`` or turn its buttons into the label ``replace_name``.
        """
        payload: dict[str, Any] = {
            "userids": userids,
            "agentid": self.agent_id,
            "response_code": response_code,
        }
        if card is not None:
            payload["template_card"] = card
        elif replace_name is not None:
            payload["button"] = {"replace_name": replace_name}
        else:
            raise ValueError("give either card or replace_name")
        return await self.call("POST", "/cgi-bin/message/update_template_card", payload)

    # -- media -------------------------------------------------------------------------------------
    async def upload_media(self, filename: str, content: bytes, media_type: str = "file") -> str:
        """Upload a temporary media file (kept by WeCom for 3 days) and return its media_id."""

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field(
                "media", content, filename=filename, content_type="application/octet-stream"
            )
            return data

        data = await self.call("POST", "/cgi-bin/media/upload", form=form, type=media_type)
        return str(data["media_id"])

    async def get_media(self, media_id: str, max_bytes: int) -> dict[str, Any]:
        """Download a temporary media file a person sent (voice, image, file), with the same
        token handling and retries as every call: ``content``, ``content_type``, ``filename``.
        More than ``max_bytes`` raises ``MediaTooLargeError``; an unknown id 40007."""
        return await self.call(
            "GET", "/cgi-bin/media/get", media_max_bytes=max_bytes, media_id=media_id
        )

    # -- WeChat Customer Service (kf) ----------------------------------------------------------
    async def kf_sync_msg(
        self, open_kfid: str, *, cursor: str | None, token: str | None, limit: int = 1000
    ) -> dict[str, Any]:
        """One page of kf messages: ``msg_list``, ``next_cursor``, ``has_more``."""
        payload: dict[str, Any] = {"open_kfid": open_kfid, "limit": limit, "voice_format": 0}
        if cursor:
            payload["cursor"] = cursor
        if token:
            payload["token"] = token
        return await self.call("POST", "/cgi-bin/kf/sync_msg", payload)

    async def kf_send_msg(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one message to a customer (payload has touser, open_kfid, msgid, msgtype, ...)."""
        return await self.call("POST", "/cgi-bin/kf/send_msg", payload)

    async def kf_send_msg_on_event(
        self, code: str, msgid: str, msgtype: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The one welcome message allowed by an ``enter_session`` welcome_code (20 s)."""
        payload = {"code": code, "msgid": msgid, "msgtype": msgtype, msgtype: body}
        return await self.call("POST", "/cgi-bin/kf/send_msg_on_event", payload)

    async def kf_service_state(self, open_kfid: str, external_userid: str) -> tuple[int, str]:
        """(service_state, servicer_userid) of a customer's session."""
        data = await self.call(
            "POST",
            "/cgi-bin/kf/service_state/get",
            {"open_kfid": open_kfid, "external_userid": external_userid},
        )
        return int(data.get("service_state", 0)), str(data.get("servicer_userid", ""))

    async def kf_trans_service_state(
        self, open_kfid: str, external_userid: str, service_state: int, servicer_userid: str = ""
    ) -> dict[str, Any]:
        """Move a session (1 bot, 2 queue pool, 3 named servicer, 4 end)."""
        payload: dict[str, Any] = {
            "open_kfid": open_kfid,
            "external_userid": external_userid,
            "service_state": service_state,
        }
        if servicer_userid:
            payload["servicer_userid"] = servicer_userid
        return await self.call("POST", "/cgi-bin/kf/service_state/trans", payload)

    async def kf_customers(self, external_userids: list[str]) -> list[dict[str, Any]]:
        """Customer profiles (nickname, avatar, unionid when bound) for up to 100 ids."""
        data = await self.call(
            "POST",
            "/cgi-bin/kf/customer/batchget",
            {"external_userid_list": external_userids, "need_enter_session_context": 0},
        )
        return list(data.get("customer_list", []))

    async def kf_servicers(self, open_kfid: str) -> list[dict[str, Any]]:
        """Servicers of a kf account with their status (0 active, 1 paused)."""
        data = await self.call("GET", "/cgi-bin/kf/servicer/list", None, open_kfid=open_kfid)
        return list(data.get("servicer_list", []))


def wecom_client_from_settings(
    settings: Settings, session: aiohttp.ClientSession, storage: Storage
) -> WeComClient | None:
    """The API client when a corp id and app secret are configured, else None."""
    if not (settings.wecom_corp_id and settings.wecom_secret):
        return None
    return WeComClient(
        session,
        storage,
        corp_id=settings.wecom_corp_id,
        secret=settings.wecom_secret.get_secret_value(),
        agent_id=settings.wecom_agent_id,
        api_base=settings.wecom_api_base,
        timeout_s=settings.wecom_timeout_s,
    )
