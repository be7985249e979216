"""Channel senders for WeCom: ``KfSender`` (doctors, via kf) and ``AppSender`` (corp members).

Both implement ``bot.outbound.ChannelSender`` on top of the durable outbox (``bot.outbox``): a
reply is a job in storage until WeCom accepted every message of it (errcode 0); transient
failures are retried by the outbox, lasting ones dead-lettered there. WeCom API errors never
reach the user path; storage errors do propagate (the message is retried).

kf specifics, all kept in shared storage so replicas agree:

- ``kfstate:<conversation_key>`` — ``{"service_state": n, "servicer_userid": s, "updated_at"}``,
  the last kf session state seen (written here and by the kf sync on session_status_change);
  the dispatcher's human-mode gate reads it.
- ``kfbudget:<conversation_key>`` — messages sent since the doctor last wrote (WeCom allows 5
  within 48 h; the kf sync deletes the counter when the doctor writes again).
- Messages beyond the budget stay in their outbox job, first in the conversation, in order;
  the conversation's later replies queue behind them, and all go out once the doctor writes
  again (a tap on ``MORE_CLICK_ID`` is such a message). A reply held 48 h without that is
  dead-lettered (it can no longer be sent).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bot.metrics import Metrics
from bot.models import (
    CardButton,
    CardReply,
    Channel,
    FileReply,
    LinkReply,
    MenuOption,
    MenuReply,
    OutboundMessage,
    Reply,
    TextReply,
    utcnow,
)
from bot.outbound import ChannelSender, split_text, utf8_len
from bot.outbox import Job, Outbox, Outcome, SaveProgress, SendFailed
from bot.storage.base import Storage
from bot.wecom.client import KfWrongStateError, WeComApiError, WeComClient, is_transient

log = logging.getLogger(__name__)

KF_BUDGET: Final = 5  # messages per 48 h after the customer's last message
KF_BUDGET_TTL_S: Final = 48 * 3600
KF_WINDOW: Final = timedelta(seconds=KF_BUDGET_TTL_S)  # a held-back reply can wait this long
KF_STATE_TTL_S: Final = 7 * 24 * 3600
KF_MENU_MAX_ITEMS: Final = 10
KF_MENU_HEAD_LIMIT_BYTES: Final = 1024  # head_content (and tail_content) of a kf msgmenu
APP_CARD_MAX_BUTTONS: Final = 6
MORE_CLICK_ID: Final = "kf:more"  # "show the rest" — handled by a skill via send_more
# "I have another question": the help skill's click id (skills.help.HELP_CLICK), which answers
# with the main menu; any tap renews the budget.
CONTINUE_CLICK_ID: Final = "help"

BOT_STATES: Final = frozenset({0, 1})  # states in which the bot may send


def kf_state_key(conversation_key: str) -> str:
    return f"kfstate:{conversation_key}"


def kf_budget_key(conversation_key: str) -> str:
    return f"kfbudget:{conversation_key}"


async def store_kf_state(
    storage: Storage, conversation_key: str, service_state: int, servicer_userid: str = ""
) -> None:
    """Remember the kf session state of a conversation (read by the human-mode gate)."""
    await storage.set_json(
        kf_state_key(conversation_key),
        {
            "service_state": service_state,
            "servicer_userid": servicer_userid,
            "updated_at": datetime.now(UTC).isoformat(),
        },
        ttl_s=KF_STATE_TTL_S,
    )


def kf_msgid(seed: str, index: int) -> str:
    """A kf msgid (≤32 bytes) that is the same for the same reply, so retries are idempotent."""
    return hashlib.sha1(f"{seed}#{index}".encode()).hexdigest()[:32]


def msgmenu_body(menu: MenuReply) -> dict[str, Any]:
    """A kf ``msgmenu`` with click items (WeCom accepts at most 10)."""
    options = menu.options[:KF_MENU_MAX_ITEMS]
    if len(menu.options) > KF_MENU_MAX_ITEMS:
        log.warning("menu has more than 10 options; extra options dropped")
    body: dict[str, Any] = {
        "head_content": menu.head,
        "list": [
            {"type": "click", "click": {"id": option.id, "content": option.label}}
            for option in options
        ],
    }
    if menu.tail:
        body["tail_content"] = menu.tail
    return body


def _fallback_text(reply: CardReply | FileReply) -> str:
    """Text for replies shown as text (cards on kf, files whose upload failed)."""
    if isinstance(reply, CardReply):
        lines = [reply.title, reply.description, *(f"{k}：{v}" for k, v in reply.fields)]
        return "\n".join(line for line in lines if line)
    return reply.caption or reply.filename


@dataclass(frozen=True)
class KfUnit:
    """One kf message to send: text, a menu, a link, or a file.

    A file is first a ``pending_file`` (the reply, not yet uploaded); ``KfSender`` uploads it
    and replaces it with its caption and a unit carrying the ``media_id`` (``filename`` kept
    for logs and as text), before anything is counted against the budget or stored.
    """

    text: str = ""
    menu: MenuReply | None = None
    link: LinkReply | None = None
    pending_file: FileReply | None = None
    media_id: str = ""
    filename: str = ""

    @property
    def is_file(self) -> bool:
        """Files cannot be packed into text or folded into a menu."""
        return self.pending_file is not None or bool(self.media_id)

    def payload(self) -> dict[str, Any]:
        if self.pending_file is not None:
            raise ValueError("upload the file before sending it")
        if self.media_id:
            return {"msgtype": "file", "file": {"media_id": self.media_id}}
        if self.menu is not None:
            return {"msgtype": "msgmenu", "msgmenu": msgmenu_body(self.menu)}
        if self.link is not None:
            link: dict[str, Any] = {"title": self.link.title, "url": self.link.url}
            if self.link.description:
                link["desc"] = self.link.description
            return {"msgtype": "link", "link": link}
        return {"msgtype": "text", "text": {"content": self.text}}

    def as_text(self) -> str:
        if self.link is not None:
            parts = (self.link.title, self.link.description, self.link.url)
            return "\n".join(part for part in parts if part)
        if self.is_file:
            return self.filename
        return self.text


def render_kf(replies: Sequence[Reply]) -> list[KfUnit]:
    """Replies as kf messages, long texts split at the 2048-byte limit."""
    units: list[KfUnit] = []
    for reply in replies:
        if isinstance(reply, MenuReply):
            units.append(KfUnit(menu=reply))
        elif isinstance(reply, LinkReply):
            units.append(KfUnit(link=reply))
        elif isinstance(reply, FileReply):
            units.append(KfUnit(pending_file=reply, filename=reply.filename))
        else:
            text = reply.text if isinstance(reply, TextReply) else _fallback_text(reply)
            units.extend(KfUnit(text=part) for part in split_text(text))
    return units


def _fits_menu_head(text: str) -> bool:
    """A msgmenu's head_content holds at most 1024 bytes (half a text message's limit)."""
    return utf8_len(text) <= KF_MENU_HEAD_LIMIT_BYTES


def combine_units(units: list[KfUnit]) -> list[KfUnit]:
    """Fewer messages, same content: links become text, adjacent texts are packed together,
    and a text right before a menu becomes the menu's head when it fits."""
    packed: list[KfUnit] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            packed.extend(KfUnit(text=part) for part in split_text("\n\n".join(pending)))
            pending.clear()

    for unit in units:
        if unit.menu is None and not unit.is_file:
            pending.append(unit.as_text())
            continue
        flush()
        menu = unit.menu
        if menu is None:  # a file: always a message of its own
            packed.append(unit)
            continue
        if packed and packed[-1].menu is None and not packed[-1].is_file:
            head = packed[-1].text + "\n\n" + menu.head
            if _fits_menu_head(head):
                packed[-1] = KfUnit(menu=menu.model_copy(update={"head": head}))
                continue
        packed.append(unit)
    flush()
    return packed


InviteMenu = Callable[[bool], MenuReply]


def default_invite(has_more: bool) -> MenuReply:
    """The menu that closes a nearly spent budget; tapping an option renews it."""
    options = [MenuOption(id=CONTINUE_CLICK_ID, label="继续提问 / Ask another question")]
    if has_more:
        options.insert(0, MenuOption(id=MORE_CLICK_ID, label="查看其余内容 / Show the rest"))
    return MenuReply(
        head="如需继续，请点击下方选项或直接回复。\nTap an option below or reply to continue.",
        options=tuple(options),
    )


def fit_budget(
    units: list[KfUnit], remaining: int, invite: InviteMenu, invite_at_remaining: int = 1
) -> tuple[list[KfUnit], list[KfUnit]]:
    """(messages to send now, messages held back) for a budget of ``remaining`` messages.

    When sending would leave ``invite_at_remaining`` or fewer messages of the budget, the last
    message is a menu that invites the doctor to reply (a reply renews the budget, so the
    conversation never gets stuck); content that does not fit is held back.
    """
    if remaining <= 0 or not units:
        return [], list(units)
    if len(units) > remaining:
        units = combine_units(units)
    if remaining - len(units) > invite_at_remaining:
        return units, []
    if len(units) <= remaining and units[-1].menu is not None:
        return units, []
    kept = min(len(units), remaining) - 1  # messages sent unchanged
    send, last, held = units[:kept], units[kept], units[kept + 1 :]
    menu = invite(bool(held))
    if last.menu is None and not last.is_file:
        folded = last.as_text() + "\n\n" + menu.head
        if _fits_menu_head(folded):
            return [*send, KfUnit(menu=menu.model_copy(update={"head": folded}))], held
    if kept + 1 < remaining:  # a free slot after ``last`` (then nothing is held)
        return [*send, last, KfUnit(menu=menu)], held
    return [*send, KfUnit(menu=invite(True))], [last, *held]


class KfSender:
    """Replies to doctors through kf/send_msg, as outbox jobs, aware of session state and budget.

    ``send`` queues the reply in the outbox (``bot.outbox``), which sends it at once unless an
    earlier reply of the conversation is still waiting; ``_attempt`` is the outbox transport.
    """

    channel = Channel.KF

    def __init__(
        self,
        client: WeComClient,
        storage: Storage,
        metrics: Metrics,
        *,
        outbox: Outbox | None = None,
        budget: int = KF_BUDGET,
        invite: InviteMenu = default_invite,
    ) -> None:
        self._client = client
        self._storage = storage
        self._metrics = metrics
        self._budget = budget
        self._invite = invite
        self.outbox = outbox or Outbox(storage, metrics)
        self.outbox.register(Channel.KF, self._attempt)

    async def send(self, message: OutboundMessage) -> None:
        open_kfid = str(message.extra.get("open_kfid", ""))
        if not open_kfid:
            log.error(
                "kf reply without open_kfid", extra={"conversation": message.conversation_key}
            )
            self._metrics.errors.labels("kf_send").inc()
            return
        units = render_kf(message.replies)
        if not units:
            return
        data = {
            "open_kfid": open_kfid,
            "touser": message.recipient_id,
            "units": [_unit_to_json(unit) for unit in units],
            "batch": [],
            "sent": 0,
        }
        job_id = message.in_reply_to or uuid.uuid4().hex
        await self.outbox.put(Channel.KF, message.conversation_key, data, job_id=job_id)

    async def send_more(self, conversation_key: str, open_kfid: str, external_userid: str) -> bool:
        """Send what earlier replies held back (after a tap on ``MORE_CLICK_ID``); False when
        nothing was held back. The doctor's tap renewed the budget."""
        jobs = await self.outbox.pending(conversation_key)
        held = any(job.channel is Channel.KF and job.data.get("units") for job in jobs)
        if held:
            await self.outbox.drain(conversation_key)
        return held

    async def _attempt(self, job: Job, save: SaveProgress) -> Outcome:
        """Send the job's messages that the budget allows; the rest stays held in the job.

        The messages chosen for sending (``batch``, each with its msgid) are saved before the
        first is sent, so a retry sends exactly them again and WeCom drops the repeats.
        """
        data = job.data
        open_kfid, userid = str(data["open_kfid"]), str(data["touser"])
        if not data["batch"]:
            if not data["units"]:
                return Outcome.DONE
            budget_key = kf_budget_key(job.conversation_key)
            remaining = self._budget - await self._storage.get_counter(budget_key)
            if remaining <= 0:
                if utcnow() - job.queued_at > KF_WINDOW:
                    raise SendFailed("the doctor did not write again within 48 h", retryable=False)
                self._metrics.events.labels("kf_reply_held_back").inc()
                return Outcome.HELD
            if not await self._bot_may_send(job.conversation_key, open_kfid, userid):
                return Outcome.DROPPED
            units = await self._upload_files([_unit_from_json(item) for item in data["units"]])
            send, held = fit_budget(units, remaining, self._invite)
            if held:
                self._metrics.events.labels("kf_reply_held_back").inc()
            start = int(data["sent"])
            data["batch"] = [
                {"msgid": kf_msgid(job.id, start + index), **_unit_to_json(unit)}
                for index, unit in enumerate(send)
            ]
            data["units"] = [_unit_to_json(unit) for unit in held]
            data["sent"] = start + len(send)
            await save(job)
        while data["batch"]:
            entry = data["batch"][0]
            payload = {
                "touser": userid,
                "open_kfid": open_kfid,
                "msgid": entry["msgid"],
                **_unit_from_json(entry).payload(),
            }
            try:
                await self._client.kf_send_msg(payload)
            except KfWrongStateError:
                # A servicer took over between the state check and now: stay silent.
                self._metrics.events.labels("kf_send_wrong_state").inc()
                await self._refresh_state(job.conversation_key, open_kfid, userid)
                return Outcome.DROPPED
            except WeComApiError as err:
                self._metrics.errors.labels("kf_send").inc()
                raise send_failed("kf/send_msg", err) from err
            await self._storage.incr(kf_budget_key(job.conversation_key), 1, ttl_s=KF_BUDGET_TTL_S)
            data["batch"].pop(0)
            await save(job)
        return Outcome.HELD if data["units"] else Outcome.DONE

    async def _upload_files(self, units: list[KfUnit]) -> list[KfUnit]:
        """Pending files as their caption (text) plus a file message. A file WeCom refuses for
        good becomes its caption (or filename) as text, so the doctor still gets the gist; a
        transient failure is retried (``SendFailed``)."""
        resolved: list[KfUnit] = []
        for unit in units:
            reply = unit.pending_file
            if reply is None:
                resolved.append(unit)
                continue
            media_id = await upload_or_none(self._client, self._metrics, reply, "kf_upload")
            if media_id is None:
                resolved.extend(KfUnit(text=part) for part in split_text(_fallback_text(reply)))
                continue
            resolved.extend(KfUnit(text=part) for part in split_text(reply.caption))
            resolved.append(KfUnit(media_id=media_id, filename=reply.filename))
        return resolved

    async def _bot_may_send(self, conversation_key: str, open_kfid: str, userid: str) -> bool:
        """True when the session is the bot's (state 1), moving an untreated one (0) to it."""
        try:
            state, servicer = await self._client.kf_service_state(open_kfid, userid)
            if state == 0:
                await self._client.kf_trans_service_state(open_kfid, userid, 1)
                state, servicer = 1, ""
        except WeComApiError as err:
            self._metrics.errors.labels("kf_state").inc()
            raise send_failed("kf/service_state", err) from err
        await store_kf_state(self._storage, conversation_key, state, servicer)
        if state not in BOT_STATES:
            log.info("kf session not the bot's; staying silent", extra={"state": state})
            self._metrics.events.labels(f"kf_silent_state_{state}").inc()
            return False
        return True

    async def _refresh_state(self, conversation_key: str, open_kfid: str, userid: str) -> None:
        try:
            state, servicer = await self._client.kf_service_state(open_kfid, userid)
        except WeComApiError:
            return
        await store_kf_state(self._storage, conversation_key, state, servicer)


def send_failed(api: str, err: WeComApiError) -> SendFailed:
    """The outbox's view of a WeCom error: transient ones are retried."""
    return SendFailed(f"{api}: {err}", retryable=is_transient(err))


def _unit_to_json(unit: KfUnit) -> dict[str, Any]:
    if unit.pending_file is not None:
        return {"pending_file": file_to_json(unit.pending_file)}
    if unit.media_id:  # held back after upload; WeCom keeps the media 3 days, longer than 48 h
        return {"file": {"media_id": unit.media_id, "filename": unit.filename}}
    if unit.menu is not None:
        return {"menu": unit.menu.model_dump(mode="json")}
    if unit.link is not None:
        return {"link": unit.link.model_dump(mode="json")}
    return {"text": unit.text}


def _unit_from_json(data: dict[str, Any]) -> KfUnit:
    if "pending_file" in data:
        reply = file_from_json(data["pending_file"])
        return KfUnit(pending_file=reply, filename=reply.filename)
    if "file" in data:
        return KfUnit(
            media_id=str(data["file"]["media_id"]), filename=str(data["file"]["filename"])
        )
    if "menu" in data:
        return KfUnit(menu=MenuReply.model_validate(data["menu"]))
    if "link" in data:
        return KfUnit(link=LinkReply.model_validate(data["link"]))
    return KfUnit(text=str(data.get("text", "")))


def template_card(card: CardReply) -> dict[str, Any]:
    """A CardReply as a WeCom ``button_interaction`` template card."""
    body: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": card.title},
        "task_id": card.task_id,
        "button_list": [
            {"text": button.text, "style": button.style, "key": button.key}
            for button in card.buttons[:APP_CARD_MAX_BUTTONS]
        ],
    }
    if card.description:
        body["main_title"]["desc"] = card.description
    if card.fields:
        body["horizontal_content_list"] = [{"keyname": k, "value": v} for k, v in card.fields]
    return body


def menu_card(menu: MenuReply, task_id: str) -> CardReply:
    """A menu for a corp member as a card whose buttons are the options."""
    return CardReply(
        task_id=task_id,
        title=menu.head,
        description=menu.tail,
        buttons=tuple(CardButton(key=o.id, text=o.label) for o in menu.options),
    )


class AppSender:
    """Replies to corp members through the self-built app (message/send).

    ``send`` queues the reply in the outbox (retried until WeCom accepts it); ``deliver`` sends
    at once and raises ``SendFailed`` unless WeCom accepted every message (errcode 0), for
    callers that keep their own durable retry (the PV card sink).
    """

    channel = Channel.APP

    def __init__(
        self,
        client: WeComClient,
        storage: Storage,
        metrics: Metrics,
        *,
        outbox: Outbox | None = None,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self.outbox = outbox or Outbox(storage, metrics)
        self.outbox.register(Channel.APP, self._attempt)

    async def send(self, message: OutboundMessage) -> None:
        data = {"touser": message.recipient_id, "ops": render_app(message)}
        job_id = message.in_reply_to or uuid.uuid4().hex
        await self.outbox.put(Channel.APP, message.conversation_key, data, job_id=job_id)

    async def deliver(self, message: OutboundMessage) -> None:
        """Send now; returns only when WeCom accepted every message, else ``SendFailed``."""
        job = Job(
            id=uuid.uuid4().hex,
            channel=Channel.APP,
            conversation_key=message.conversation_key,
            data={"touser": message.recipient_id, "ops": render_app(message)},
            queued_at=utcnow(),
        )
        await self._attempt(job, _no_progress)

    async def _attempt(self, job: Job, save: SaveProgress) -> Outcome:
        """Send the job's messages in order, saving after each one WeCom accepted."""
        touser, ops = str(job.data["touser"]), job.data["ops"]
        while ops:
            op = ops[0]
            if "pending_file" in op:
                ops[:1] = await self._upload(op)
                await save(job)
                continue
            try:
                await self._client.send_message(touser, str(op["msgtype"]), op["body"])
            except WeComApiError as err:
                self._metrics.errors.labels("app_send").inc()
                raise send_failed("message/send", err) from err
            ops.pop(0)
            await save(job)
        return Outcome.DONE

    async def _upload(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        """A pending file as its caption, then the file; only the text if WeCom refuses it."""
        reply = file_from_json(op["pending_file"])
        media_id = await upload_or_none(self._client, self._metrics, reply, "app_upload")
        if media_id is None:
            return _text_ops(_fallback_text(reply))
        return [*_text_ops(reply.caption), {"msgtype": "file", "body": {"media_id": media_id}}]

    async def update_card(
        self, userid: str, response_code: str, replace_name: str, card: CardReply | None = None
    ) -> bool:
        """After a click: replace the card, or turn its buttons into ``replace_name``."""
        try:
            if card is not None:
                await self._client.update_template_card(
                    [userid], response_code, card=template_card(card)
                )
            else:
                await self._client.update_template_card(
                    [userid], response_code, replace_name=replace_name
                )
        except WeComApiError as err:
            log.warning("card update failed", extra={"errcode": err.errcode})
            self._metrics.errors.labels("app_card_update").inc()
            return False
        return True


async def _no_progress(job: Job) -> None:
    """``deliver`` keeps nothing: its caller retries the whole message."""


def _text_ops(text: str) -> list[dict[str, Any]]:
    return [{"msgtype": "text", "body": {"content": part}} for part in split_text(text)]


def render_app(message: OutboundMessage) -> list[dict[str, Any]]:
    """Replies as message/send bodies (``msgtype`` and ``body``); files stay pending until
    sent, texts are split at the 2048-byte limit."""
    seed = message.in_reply_to or uuid.uuid4().hex
    ops: list[dict[str, Any]] = []
    for index, reply in enumerate(message.replies):
        if isinstance(reply, CardReply):
            ops.append({"msgtype": "template_card", "body": template_card(reply)})
        elif isinstance(reply, MenuReply) and len(reply.options) <= APP_CARD_MAX_BUTTONS:
            task_id = "menu-" + hashlib.sha1(f"{seed}-{index}".encode()).hexdigest()[:24]
            card = template_card(menu_card(reply, task_id))
            ops.append({"msgtype": "template_card", "body": card})
        elif isinstance(reply, FileReply):
            ops.append({"pending_file": file_to_json(reply)})
        elif isinstance(reply, LinkReply):
            body = {
                "title": reply.title,
                "description": reply.description or reply.url,
                "url": reply.url,
            }
            ops.append({"msgtype": "textcard", "body": body})
        else:
            ops.extend(_text_ops(_app_text(reply)))
    return ops


def file_to_json(reply: FileReply) -> dict[str, Any]:
    """A file not yet uploaded, as stored in an outbox job."""
    content = base64.b64encode(reply.content).decode()
    return {"filename": reply.filename, "caption": reply.caption, "content_b64": content}


def file_from_json(data: dict[str, Any]) -> FileReply:
    return FileReply(
        filename=str(data["filename"]),
        caption=str(data.get("caption", "")),
        content=base64.b64decode(str(data["content_b64"])),
    )


async def upload_or_none(
    client: WeComClient, metrics: Metrics, reply: FileReply, where: str
) -> str | None:
    """The media_id of the uploaded file; None when WeCom refuses the file for good (the
    caller sends its caption instead). A transient failure raises ``SendFailed``."""
    try:
        return await client.upload_media(reply.filename, reply.content)
    except WeComApiError as err:
        metrics.errors.labels(where).inc()
        failure = send_failed("media/upload", err)
        if failure.retryable:
            raise failure from err
        log.error(
            "file upload refused; sending the caption instead",
            extra={"errcode": err.errcode, "file": reply.filename},
        )
        return None


def _app_text(reply: Reply) -> str:
    if isinstance(reply, TextReply):
        return reply.text
    if isinstance(reply, MenuReply):
        lines = [reply.head, *(f"{n}. {o.label}" for n, o in enumerate(reply.options, 1))]
        return "\n".join([*lines, reply.tail] if reply.tail else lines)
    return str(reply)


def build_senders(
    client: WeComClient, storage: Storage, metrics: Metrics, outbox: Outbox
) -> dict[Channel, ChannelSender]:
    """Both WeCom senders on one outbox, ready for ``Services.senders``."""
    return {
        Channel.KF: KfSender(client, storage, metrics, outbox=outbox),
        Channel.APP: AppSender(client, storage, metrics, outbox=outbox),
    }
