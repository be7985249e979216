"""Channel senders for WeCom: ``KfSender`` (doctors, via kf) and ``AppSender`` (corp members).

Both implement ``bot.outbound.ChannelSender``. They never raise WeCom API errors into the user
path: a reply that cannot be delivered is logged and counted (``vrep_errors_total{where=...}``
or ``vrep_events_total{event=...}``); storage errors do propagate (the message is retried).

kf specifics, all kept in shared storage so replicas agree:

- ``kfstate:<conversation_key>`` — ``{"service_state": n, "servicer_userid": s, "updated_at"}``,
  the last kf session state seen (written here and by the kf sync on session_status_change);
  the dispatcher's human-mode gate reads it.
- ``kfbudget:<conversation_key>`` — messages sent since the doctor last wrote (WeCom allows 5
  within 48 h; the kf sync deletes the counter when the doctor writes again).
- ``kfmore:<conversation_key>`` — rendered messages held back because the budget ran short; a
  skill sends them with ``KfSender.send_more`` when the doctor taps ``MORE_CLICK_ID``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
)
from bot.outbound import WECOM_TEXT_LIMIT_BYTES, ChannelSender, split_text, utf8_len
from bot.storage.base import Storage
from bot.wecom.client import KfWrongStateError, WeComApiError, WeComClient

log = logging.getLogger(__name__)

KF_BUDGET: Final = 5  # messages per 48 h after the customer's last message
KF_BUDGET_TTL_S: Final = 48 * 3600
KF_STATE_TTL_S: Final = 7 * 24 * 3600
KF_MENU_MAX_ITEMS: Final = 10
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


def kf_more_key(conversation_key: str) -> str:
    return f"kfmore:{conversation_key}"


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


def _fits(text: str) -> bool:
    return utf8_len(text) <= WECOM_TEXT_LIMIT_BYTES


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
            if _fits(head):
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
        if _fits(folded):
            return [*send, KfUnit(menu=menu.model_copy(update={"head": folded}))], held
    if kept + 1 < remaining:  # a free slot after ``last`` (then nothing is held)
        return [*send, last, KfUnit(menu=menu)], held
    return [*send, KfUnit(menu=invite(True))], [last, *held]


class KfSender:
    """Sends replies to doctors through kf/send_msg, aware of session state and budget."""

    channel = Channel.KF

    def __init__(
        self,
        client: WeComClient,
        storage: Storage,
        metrics: Metrics,
        *,
        budget: int = KF_BUDGET,
        invite: InviteMenu = default_invite,
    ) -> None:
        self._client = client
        self._storage = storage
        self._metrics = metrics
        self._budget = budget
        self._invite = invite

    async def send(self, message: OutboundMessage) -> None:
        open_kfid = str(message.extra.get("open_kfid", ""))
        if not open_kfid:
            log.error(
                "kf reply without open_kfid", extra={"conversation": message.conversation_key}
            )
            self._metrics.errors.labels("kf_send").inc()
            return
        units = render_kf(message.replies)
        seed = message.in_reply_to or uuid.uuid4().hex
        await self._deliver(message.conversation_key, open_kfid, message.recipient_id, units, seed)

    async def send_more(self, conversation_key: str, open_kfid: str, external_userid: str) -> bool:
        """Send what an earlier reply held back (after a tap on ``MORE_CLICK_ID``)."""
        held = await self._storage.get_json(kf_more_key(conversation_key))
        if not isinstance(held, dict) or not held.get("units"):
            return False
        await self._storage.delete(kf_more_key(conversation_key))
        units = [_unit_from_json(item) for item in held["units"]]
        await self._deliver(
            conversation_key, open_kfid, external_userid, units, f"{held['seed']}:more"
        )
        return True

    async def _deliver(
        self,
        conversation_key: str,
        open_kfid: str,
        external_userid: str,
        units: list[KfUnit],
        seed: str,
    ) -> None:
        if not units or not await self._bot_may_send(conversation_key, open_kfid, external_userid):
            return
        units = await self._upload_files(units)
        budget_key = kf_budget_key(conversation_key)
        remaining = self._budget - await self._storage.get_counter(budget_key)
        send, held = fit_budget(units, remaining, self._invite)
        if held:
            self._metrics.events.labels("kf_reply_held_back").inc()
            await self._storage.set_json(
                kf_more_key(conversation_key),
                {"seed": seed, "units": [_unit_to_json(unit) for unit in held]},
                ttl_s=KF_BUDGET_TTL_S,
            )
        if not send:
            log.warning("kf budget spent; reply not sent", extra={"conversation": conversation_key})
            self._metrics.events.labels("kf_budget_exhausted").inc()
            return
        for index, unit in enumerate(send):
            payload = {
                "touser": external_userid,
                "open_kfid": open_kfid,
                "msgid": kf_msgid(seed, index),
                **unit.payload(),
            }
            try:
                await self._client.kf_send_msg(payload)
            except KfWrongStateError:
                # A servicer took over between the state check and now: stay silent.
                self._metrics.events.labels("kf_send_wrong_state").inc()
                await self._refresh_state(conversation_key, open_kfid, external_userid)
                return
            except WeComApiError as err:
                log.error(
                    "kf send failed", extra={"errcode": err.errcode, "msgid": payload["msgid"]}
                )
                self._metrics.errors.labels("kf_send").inc()
                return
            await self._storage.incr(budget_key, 1, ttl_s=KF_BUDGET_TTL_S)

    async def _upload_files(self, units: list[KfUnit]) -> list[KfUnit]:
        """Pending files as their caption (text) plus a file message; a file whose upload
        fails becomes its caption (or filename) as text, so the doctor still gets the gist."""
        resolved: list[KfUnit] = []
        for unit in units:
            reply = unit.pending_file
            if reply is None:
                resolved.append(unit)
                continue
            try:
                media_id = await self._client.upload_media(reply.filename, reply.content)
            except WeComApiError as err:
                log.error(
                    "kf file upload failed; sending the caption instead",
                    extra={"errcode": err.errcode, "file": reply.filename},
                )
                self._metrics.errors.labels("kf_upload").inc()
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
            log.error("kf service state unavailable", extra={"errcode": err.errcode})
            self._metrics.errors.labels("kf_state").inc()
            return False
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


def _unit_to_json(unit: KfUnit) -> dict[str, Any]:
    if unit.media_id:  # held back after upload; WeCom keeps the media 3 days, longer than 48 h
        return {"file": {"media_id": unit.media_id, "filename": unit.filename}}
    if unit.menu is not None:
        return {"menu": unit.menu.model_dump(mode="json")}
    if unit.link is not None:
        return {"link": unit.link.model_dump(mode="json")}
    return {"text": unit.text}


def _unit_from_json(data: dict[str, Any]) -> KfUnit:
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
    """Sends replies to corp members through the self-built app (message/send)."""

    channel = Channel.APP

    def __init__(self, client: WeComClient, metrics: Metrics) -> None:
        self._client = client
        self._metrics = metrics

    async def send(self, message: OutboundMessage) -> None:
        touser = message.recipient_id
        seed = message.in_reply_to or uuid.uuid4().hex
        try:
            for index, reply in enumerate(message.replies):
                await self._send_one(touser, reply, f"{seed}-{index}")
        except WeComApiError as err:
            log.error("app send failed", extra={"errcode": err.errcode})
            self._metrics.errors.labels("app_send").inc()

    async def _send_one(self, touser: str, reply: Reply, task_seed: str) -> None:
        if isinstance(reply, CardReply):
            await self._client.send_template_card(touser, template_card(reply))
        elif isinstance(reply, MenuReply) and len(reply.options) <= APP_CARD_MAX_BUTTONS:
            task_id = "menu-" + hashlib.sha1(task_seed.encode()).hexdigest()[:24]
            await self._client.send_template_card(touser, template_card(menu_card(reply, task_id)))
        elif isinstance(reply, FileReply):
            await self._send_file(touser, reply)
        elif isinstance(reply, LinkReply):
            await self._client.send_message(
                touser,
                "textcard",
                {
                    "title": reply.title,
                    "description": reply.description or reply.url,
                    "url": reply.url,
                },
            )
        else:
            await self.send_text(touser, _app_text(reply))

    async def _send_file(self, touser: str, reply: FileReply) -> None:
        """The caption as text, then the uploaded file; if the upload fails, the caption (or
        the file name) alone, so the member still learns what was meant to arrive."""
        try:
            media_id = await self._client.upload_media(reply.filename, reply.content)
        except WeComApiError as err:
            log.error(
                "app file upload failed; sending the caption instead",
                extra={"errcode": err.errcode, "file": reply.filename},
            )
            self._metrics.errors.labels("app_upload").inc()
            await self.send_text(touser, _fallback_text(reply))
            return
        if reply.caption:
            await self.send_text(touser, reply.caption)
        await self._client.send_message(touser, "file", {"media_id": media_id})

    async def send_text(self, touser: str, text: str) -> None:
        for part in split_text(text):
            await self._client.send_text(touser, part)

    async def send_markdown(self, touser: str, markdown: str) -> None:
        """Markdown for members (PV alerts, rep digests), split at the 2048-byte limit."""
        for part in split_text(markdown):
            await self._client.send_markdown(touser, part)

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


def _app_text(reply: Reply) -> str:
    if isinstance(reply, TextReply):
        return reply.text
    if isinstance(reply, MenuReply):
        lines = [reply.head, *(f"{n}. {o.label}" for n, o in enumerate(reply.options, 1))]
        return "\n".join([*lines, reply.tail] if reply.tail else lines)
    return str(reply)


def build_senders(
    client: WeComClient, storage: Storage, metrics: Metrics, **kf_options: Any
) -> dict[Channel, ChannelSender]:
    """Both WeCom senders, ready for ``Services.senders``."""
    return {
        Channel.KF: KfSender(client, storage, metrics, **kf_options),
        Channel.APP: AppSender(client, metrics),
    }
