"""kf (微信客服) sync: turn a ``kf_msg_or_event`` notice into inbound messages, in order.

A kf callback carries no content, only the ``Token`` and ``OpenKfId``; the messages are pulled
with kf/sync_msg. Per open_kfid, one syncer at a time holds the storage lock
``lock:kfsync:<open_kfid>`` and resumes from the cursor persisted under
``kfcursor:<open_kfid>``; it pages while ``has_more`` and saves the cursor after each page,
once every item of the page was submitted (an item that cannot be read is set aside in the
queue ``kf-dead`` rather than block the account; ``virtualrep dead`` replays or drops it).
Items are deduplicated on their msgid (customer messages through ``submit_inbound``, events
under ``kfevent:<msgid>``, released again when the event could not be handled), so a page seen
twice (a crash before the cursor was saved) is harmless.

Customer messages (origin 3) become ``InboundMessage``s on channel ``kf`` with conversation key
``kf:<open_kfid>:<external_userid>``: text, a msgmenu click (text with ``menu_id``) as CLICK,
image/voice/file as IMAGE/VOICE/FILE, anything else as OTHER. Events (origin 4):
``enter_session`` sends the welcome menu with its welcome_code (after the app's welcome hooks
added what this doctor must see first, e.g. the privacy notice) and is passed on as EVENT
``kf_enter_session``, with ``extra["welcome_options"]`` (the click ids of the welcome the
doctor was shown) when the welcome was delivered; ``msg_send_fail`` is logged and counted;
``session_status_change`` stores the new service state (``kfstate:<conversation_key>``) and
is passed on as EVENT ``kf_session_status_change`` with ``extra["service_state"]``.

Syncs run as background tasks owned by ``KfSyncer`` (the callback answers at once);
``close()`` cancels and awaits them on shutdown. A sync that fails for a transient reason
(45009, -1, 5xx, timeouts, network errors) is retried with the same token after a doubling
delay (``kf_sync_retry_s``, at most ``kf_sync_retries`` times). And no message waits for a
callback that got lost: while a doctor wrote to an account in the last 48 h
(``kfactive:<open_kfid>``), the scheduler item ``kf_poll`` syncs it every
``kf_sync_interval_s`` (one replica per round: ``claim_due`` and the sync lock), with the last
callback token (``kftoken:<open_kfid>``, valid 10 minutes) or, once that expired, without one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from bot.metrics import Metrics
from bot.models import (
    Channel,
    InboundMessage,
    MenuOption,
    MenuReply,
    MessageKind,
    SenderType,
    utcnow,
)
from bot.outage import OutageBackoff
from bot.pipeline import submit_inbound
from bot.queue_worker import finish_or_cancel
from bot.services import WELCOME_SHOWN, WelcomeHook
from bot.storage.base import LockTimeout, ScheduledItem, Storage, StorageError
from bot.wecom.client import WeComApiError, WeComClient, is_transient
from bot.wecom.senders import kf_budget_key, kf_msgid, msgmenu_body, store_kf_state

log = logging.getLogger(__name__)

CUSTOMER: Final = 3
SYSTEM_EVENT: Final = 4
KF_POLL_SCHEDULE: Final = "kf_poll"
KF_ACTIVE_TTL_S: Final = 48 * 3600  # the kf reply window: a doctor can be answered this long
SYNC_TOKEN_TTL_S: Final = 600  # a callback Token is good for kf/sync_msg for 10 minutes
MAX_RETRY_DELAY_S: Final = 60.0
KF_DEAD_LETTER_QUEUE: Final = "kf-dead"
"""Sync items that could not be read, with the raw item and the reason, for an operator."""
_MEDIA_KINDS: Final = {"image": MessageKind.IMAGE, "voice": MessageKind.VOICE,
                       "file": MessageKind.FILE}  # fmt: skip
# session_status_change change_type → resulting state, used when service_state/get fails:
# 1 taken from the pool by a servicer, 2 transferred, 3 ended, 4 re-opened by a servicer.
_STATE_AFTER_CHANGE: Final = {1: 3, 2: 3, 3: 4, 4: 3}

WelcomeMenu = Callable[[str, str], MenuReply]


WELCOME_OPTIONS: Final = (  # click ids of the help skill's main menu (skills.help)
    ("qa:ask", "文献与产品问答 / Literature and product questions"),
    ("meetings:list", "学术会议 / Academic meetings"),
    ("ae:report", "报告不良事件 / Report an adverse event"),
    ("handoff:rep", "联系医药代表 / Talk to a representative"),
)


def default_welcome_menu(scene: str, scene_param: str) -> MenuReply:
    """A short bilingual greeting with the main options (the app may supply its own)."""
    return MenuReply(
        head="您好！我是医学信息助手，只提供经审批的产品与文献信息。\n"
        "Hello! I am the medical information assistant; I share approved information only.",
        options=tuple(MenuOption(id=click, label=label) for click, label in WELCOME_OPTIONS),
        tail="也可以直接输入您的问题。/ You can also type your question.",
    )


def conversation_key(open_kfid: str, external_userid: str) -> str:
    return f"kf:{open_kfid}:{external_userid}"


def cursor_key(open_kfid: str) -> str:
    return f"kfcursor:{open_kfid}"


def active_key(open_kfid: str) -> str:
    return f"kfactive:{open_kfid}"


def sync_token_key(open_kfid: str) -> str:
    return f"kftoken:{open_kfid}"


def customer_message(item: dict[str, Any]) -> InboundMessage:
    """A customer's kf message (origin 3) as an ``InboundMessage``."""
    open_kfid, userid = str(item["open_kfid"]), str(item["external_userid"])
    msgtype = str(item.get("msgtype", ""))
    raw_body = item.get(msgtype)
    body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
    extra: dict[str, Any] = {"open_kfid": open_kfid, "external_userid": userid, "msgtype": msgtype}
    text, click_id, kind = "", None, MessageKind.OTHER
    if msgtype == "text":
        text = str(body.get("content", ""))
        click_id = body.get("menu_id") or None
        kind = MessageKind.CLICK if click_id else MessageKind.TEXT
    elif msgtype in _MEDIA_KINDS:
        kind = _MEDIA_KINDS[msgtype]
        extra["media_id"] = str(body.get("media_id", ""))
    return InboundMessage(
        message_id=str(item["msgid"]),
        channel=Channel.KF,
        conversation_key=conversation_key(open_kfid, userid),
        sender_id=userid,
        sender_type=SenderType.EXTERNAL,
        kind=kind,
        text=text,
        click_id=str(click_id) if click_id else None,
        raw_ids={"msgid": str(item["msgid"]), "send_time": str(item.get("send_time", ""))},
        extra=extra,
    )


def event_message(item: dict[str, Any], event: dict[str, Any], name: str) -> InboundMessage:
    """A kf system event passed on to the skills as an EVENT message."""
    open_kfid, userid = str(event["open_kfid"]), str(event["external_userid"])
    return InboundMessage(
        message_id=str(item["msgid"]),
        channel=Channel.KF,
        conversation_key=conversation_key(open_kfid, userid),
        sender_id=userid,
        sender_type=SenderType.EXTERNAL,
        kind=MessageKind.EVENT,
        event=name,
        raw_ids={"msgid": str(item["msgid"]), "send_time": str(item.get("send_time", ""))},
        extra={"open_kfid": open_kfid, "external_userid": userid, **event},
    )


class KfSyncer:
    """Runs kf syncs in the background, one per open_kfid per process (and per corp, via lock)."""

    def __init__(
        self,
        client: WeComClient,
        storage: Storage,
        metrics: Metrics,
        *,
        dedup_ttl_s: int,
        welcome_menu: WelcomeMenu = default_welcome_menu,
        welcome_hooks: Sequence[WelcomeHook] = (),
        page_limit: int = 1000,
        lock_timeout_s: float = 120.0,
        lock_wait_s: float = 60.0,
        retry_s: float = 1.0,
        retries: int = 6,
        interval_s: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._client = client
        self._storage = storage
        self._metrics = metrics
        self._dedup_ttl_s = dedup_ttl_s
        self._welcome_menu = welcome_menu
        self._welcome_hooks = welcome_hooks
        self._page_limit = page_limit
        self._lock_timeout_s = lock_timeout_s
        self._lock_wait_s = lock_wait_s
        self._retry_s = retry_s
        self._retries = retries
        self._interval_s = interval_s
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}
        self._next_token: dict[str, str] = {}

    def trigger(self, open_kfid: str, token: str) -> None:
        """Schedule a sync; while one runs for ``open_kfid``, it runs once more afterwards."""
        self._next_token[open_kfid] = token
        if open_kfid not in self._running:
            task = asyncio.create_task(self._drain(open_kfid), name=f"kf-sync-{open_kfid}")
            self._running[open_kfid] = task

    async def idle(self) -> None:
        """Wait until no sync is running or scheduled (tests and shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop the syncs in hand (a sync is resumable: its cursor is saved per batch)."""
        await asyncio.gather(*(finish_or_cancel(task, 0) for task in self._running.values()))
        self._running.clear()

    async def _drain(self, open_kfid: str) -> None:
        backoff = OutageBackoff(f"kf sync {open_kfid}", self._metrics)
        failures = 0
        try:
            while (token := self._next_token.pop(open_kfid, None)) is not None:
                try:
                    if token:
                        await self._storage.set_json(
                            sync_token_key(open_kfid), token, ttl_s=SYNC_TOKEN_TTL_S
                        )
                    await self.sync(open_kfid, token)
                    backoff.succeeded()
                    failures = 0
                except StorageError as err:
                    # Redis is down and the kf notice was already acknowledged: sync again (same
                    # token) once it is back; from the saved cursor, repeats are deduplicated.
                    self._next_token.setdefault(open_kfid, token)
                    await asyncio.sleep(backoff.failed(err))
                except WeComApiError as err:
                    failures += 1
                    self._metrics.errors.labels("kf_sync").inc()
                    if not is_transient(err) or failures > self._retries:
                        # The periodic sync (or the next callback) reads from the saved cursor.
                        log.warning("kf sync failed", extra={"open_kfid": open_kfid, "error": err})
                        continue
                    delay = min(MAX_RETRY_DELAY_S, self._retry_s * 2 ** (failures - 1))
                    log.warning(
                        "kf sync failed; retrying",
                        extra={"open_kfid": open_kfid, "error": err, "delay_s": delay},
                    )
                    self._next_token.setdefault(open_kfid, token)
                    await asyncio.sleep(delay)
                except Exception:  # a bug must not end syncing for this account silently
                    log.exception("kf sync crashed", extra={"open_kfid": open_kfid})
                    self._metrics.errors.labels("kf_sync").inc()
        finally:
            self._running.pop(open_kfid, None)

    async def poll(self, item: ScheduledItem) -> None:
        """The ``kf_poll`` handler: sync an account a doctor wrote to in the last 48 hours,
        then come back after ``interval_s`` (no more once the window closed)."""
        open_kfid = item.item_id
        if await self._storage.get_json(active_key(open_kfid)) is None:
            return
        token = await self._storage.get_json(sync_token_key(open_kfid))
        try:
            handled = await self.sync(open_kfid, token if isinstance(token, str) else None)
        except WeComApiError as err:
            log.warning("periodic kf sync failed", extra={"open_kfid": open_kfid, "error": err})
            self._metrics.errors.labels("kf_sync").inc()
        else:
            if handled:
                log.info("periodic kf sync found messages", extra={"open_kfid": open_kfid})
        await self._schedule_poll(open_kfid)

    async def _schedule_poll(self, open_kfid: str) -> None:
        due = self._clock() + timedelta(seconds=self._interval_s)
        await self._storage.schedule(KF_POLL_SCHEDULE, open_kfid, due)

    async def sync(self, open_kfid: str, token: str | None) -> int:
        """Pull and submit everything new for ``open_kfid``; returns the items handled."""
        handled = 0
        try:
            async with self._storage.lock(
                f"lock:kfsync:{open_kfid}",
                timeout_s=self._lock_timeout_s,
                blocking_timeout_s=self._lock_wait_s,
            ):
                cursor = await self._storage.get_json(cursor_key(open_kfid))
                while True:
                    page = await self._client.kf_sync_msg(
                        open_kfid,
                        cursor=cursor if isinstance(cursor, str) else None,
                        token=token,
                        limit=self._page_limit,
                    )
                    items = page.get("msg_list")
                    for item in items if isinstance(items, list) else []:
                        await self._handle_or_set_aside(open_kfid, item)
                        handled += 1
                    cursor = str(page.get("next_cursor") or cursor or "")
                    if cursor:
                        await self._storage.set_json(cursor_key(open_kfid), cursor)
                    if not page.get("has_more"):
                        break
        except LockTimeout:
            log.info("another replica is syncing", extra={"open_kfid": open_kfid})
        return handled

    async def _handle_or_set_aside(self, open_kfid: str, item: Any) -> None:
        """Handle one sync item; one that cannot be read goes to ``KF_DEAD_LETTER_QUEUE``.

        The cursor moves on only after a whole page, so an item that fails every time would
        otherwise stop every later message of the account from ever being read. A storage
        failure is not the item's fault: it propagates, and the page is read again later.
        """
        try:
            await self.handle_item(item)
        except StorageError:
            raise
        except Exception as exc:
            msgid = item.get("msgid") if isinstance(item, dict) else None
            log.exception("kf item set aside", extra={"open_kfid": open_kfid, "msgid": msgid})
            self._metrics.errors.labels("kf_item").inc()
            await self._storage.enqueue(
                KF_DEAD_LETTER_QUEUE,
                {"open_kfid": open_kfid, "reason": type(exc).__name__, "item": item},
            )

    async def handle_item(self, item: dict[str, Any]) -> None:
        """Submit one sync item (customer message or event), deduplicated on its msgid.

        The one conversion path, for syncs and for replaying a set-aside item
        (``bot.dead_letters``); raises when the item cannot be read.
        """
        origin = item.get("origin")
        if origin == CUSTOMER and item.get("external_userid") and item.get("msgid"):
            message = customer_message(item)
            if await submit_inbound(self._storage, message, self._dedup_ttl_s):
                # The doctor wrote: WeCom's 5-messages-in-48-hours budget starts again, and
                # the account is polled while the doctor can be answered.
                await self._storage.delete(kf_budget_key(message.conversation_key))
                open_kfid = str(item["open_kfid"])
                now = self._clock().isoformat()
                await self._storage.set_json(active_key(open_kfid), now, ttl_s=KF_ACTIVE_TTL_S)
                await self._schedule_poll(open_kfid)
        elif origin == SYSTEM_EVENT and isinstance(item.get("event"), dict):
            event = item["event"]
            if not event.get("external_userid") or not event.get("open_kfid"):
                return
            claim = f"kfevent:{item.get('msgid')}"
            if await self._storage.claim(claim, self._dedup_ttl_s):
                try:
                    await self._handle_event(item, event)
                except Exception:
                    await self._storage.delete(claim)  # not handled: a replay must not be a repeat
                    raise

    async def _handle_event(self, item: dict[str, Any], event: dict[str, Any]) -> None:
        event_type = str(event.get("event_type", ""))
        if event_type == "enter_session":
            message = event_message(item, event, "kf_enter_session")
            shown = await self._welcome(item, event, message)
            if shown is not None:
                message = event_message(item, {**event, WELCOME_SHOWN: shown}, "kf_enter_session")
        elif event_type == "session_status_change":
            state = await self._current_state(event)
            message = event_message(
                item, {**event, "service_state": state}, "kf_session_status_change"
            )
        elif event_type == "msg_send_fail":
            log.warning("kf message not delivered", extra={"fail_type": event.get("fail_type")})
            self._metrics.events.labels("kf_msg_send_fail").inc()
            return
        else:
            log.debug("kf event ignored", extra={"event_type": event_type})
            return
        await submit_inbound(self._storage, message, self._dedup_ttl_s)

    async def _welcome(
        self, item: dict[str, Any], event: dict[str, Any], message: InboundMessage
    ) -> list[str] | None:
        """Send the welcome; the option ids the doctor was shown, or None when none was sent."""
        code = event.get("welcome_code")
        if not code:
            return None  # no code: the doctor is already in a session
        menu = self._welcome_menu(str(event.get("scene", "")), str(event.get("scene_param", "")))
        for hook in self._welcome_hooks:
            menu = await hook(message, menu)
        body = msgmenu_body(menu)
        try:
            await self._client.kf_send_msg_on_event(
                str(code), kf_msgid(str(item["msgid"]), 0), "msgmenu", body
            )
        except WeComApiError as err:
            log.warning("kf welcome not sent", extra={"errcode": err.errcode})
            self._metrics.errors.labels("kf_welcome").inc()
            return None
        return [entry["click"]["id"] for entry in body["list"]]

    async def _current_state(self, event: dict[str, Any]) -> int:
        """The session's state after a change, stored for the human-mode gate."""
        open_kfid, userid = str(event["open_kfid"]), str(event["external_userid"])
        try:
            state, servicer = await self._client.kf_service_state(open_kfid, userid)
        except WeComApiError:
            state = _STATE_AFTER_CHANGE.get(int(event.get("change_type", 0)), 0)
            servicer = str(event.get("new_servicer_userid", ""))
        await store_kf_state(self._storage, conversation_key(open_kfid, userid), state, servicer)
        return state
