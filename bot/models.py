"""Typed messages, replies and conversation state shared by every transport and skill.

Transports turn whatever arrived (WeCom XML, a kf sync batch, a console line) into an
``InboundMessage``; skills answer with ``Reply`` objects; channel senders render those replies
for their channel. Nothing here knows about XML or HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Channel(StrEnum):
    KF = "kf"  # WeChat Customer Service: doctors on personal WeChat
    APP = "app"  # self-built app: corp members (reps, MSLs, PV staff)
    CONSOLE = "console"  # `virtualrep chat` in a terminal


class SenderType(StrEnum):
    EXTERNAL = "external"  # a doctor
    MEMBER = "member"  # a corp member


class MessageKind(StrEnum):
    TEXT = "text"
    CLICK = "click"  # menu option or card button chosen
    IMAGE = "image"
    VOICE = "voice"
    FILE = "file"
    EVENT = "event"
    OTHER = "other"


class Locale(StrEnum):
    ZH = "zh"
    EN = "en"


class ConversationMode(StrEnum):
    BOT = "bot"
    HUMAN = "human"


class InboundMessage(BaseModel):
    """One thing a person did, normalised across channels."""

    model_config = ConfigDict(frozen=True)

    message_id: str  # unique per channel; the dedup key the transport used
    channel: Channel
    conversation_key: str  # stable id of the conversation, e.g. "kf:<open_kfid>:<external_userid>"
    sender_id: str
    sender_type: SenderType
    kind: MessageKind
    text: str = ""
    click_id: str | None = None
    event: str | None = None  # event name for kind == EVENT
    raw_ids: dict[str, str] = Field(default_factory=dict)  # MsgId, msgid, CreateTime, TaskId, ...
    extra: dict[str, Any] = Field(default_factory=dict)  # channel details (open_kfid, ...)
    received_at: datetime = Field(default_factory=utcnow)
    seq: int = 0  # per-conversation arrival order, assigned when enqueued


class MenuOption(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str  # click id returned when chosen
    label: str


class TextReply(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["text"] = "text"
    text: str


class MenuReply(BaseModel):
    """A question with options; kf renders it as msgmenu, the console as a numbered list.

    ``numbered=False``: the options are answered in words or by a tap, never by a digit — the
    privacy notice's "同意 / 暂不同意" shown with the main menu, so that a typed "1" can only
    mean the main menu's first item (the console lists them without numbers)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["menu"] = "menu"
    head: str
    options: tuple[MenuOption, ...]
    tail: str = ""
    numbered: bool = True


class LinkReply(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["link"] = "link"
    title: str
    url: str
    description: str = ""


class CardButton(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    text: str
    style: int = 1


class CardReply(BaseModel):
    """An interactive card for corp members (WeCom template_card button_interaction)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["card"] = "card"
    task_id: str
    title: str
    description: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[CardButton, ...] = ()


class FileReply(BaseModel):
    """A small generated file (e.g. an .ics invitation or a CSV list)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["file"] = "file"
    filename: str
    content: bytes
    caption: str = ""


Reply = Annotated[
    TextReply | MenuReply | LinkReply | CardReply | FileReply, Field(discriminator="type")
]


class OutboundMessage(BaseModel):
    """Replies addressed to a recipient on a channel, as handed to a channel sender."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    conversation_key: str
    recipient_id: str
    replies: tuple[Reply, ...]
    in_reply_to: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ActiveForm(BaseModel):
    """A multi-turn form in progress (e.g. an adverse-event report or a registration)."""

    name: str
    step: str | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Conversation(BaseModel):
    """Per-conversation state, loaded and saved inside the per-conversation lock."""

    key: str
    channel: Channel
    user_id: str
    mode: ConversationMode = ConversationMode.BOT
    locale: Locale = Locale.ZH
    form: ActiveForm | None = None
    profile_id: str | None = None
    last_seq: int = 0  # highest inbound seq already handled (exactly-once across redelivery)
    unhelped_in_a_row: int = 0
    data: dict[str, Any] = Field(default_factory=dict)  # small per-skill scratch values
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
