"""Voice notes, images and files become text before anything reads the message.

``MediaMiddleware`` runs after Audit and before adverse-event screening. For a voice note,
image or file it fetches the bytes through WeCom's ``media/get`` (bounded), keeps the original
in the media store (typed by magic bytes), and reads it: speech to text, OCR, a PDF's text.
The message then goes on as TEXT, marked with its source (``extra["media_source"]``) and the
stored original (``extra["media_ref"]``), so it is screened for adverse events (in bot and
human mode), routed to the skills and audited (``audit_media``) like typed text; a voice note
is first shown back ("您说的是：…").

Whatever cannot be read (too large, expired id, lying or unsupported type, corrupt audio,
no speech recogniser, a recogniser that failed or timed out) goes on unchanged with the
reason in ``ctx.data[MEDIA_PROBLEM]``: the help skill tells the doctor what to do, and the
original, when it arrived, stays stored and audited. When WeCom itself is out (``media/get``
failed past its retries), the message is fetched again later (``media.refetch``): the sender
is told so once, the later attempts are silent until the media is read or the id expires.
"""

from __future__ import annotations

import logging
from typing import Final

from bot.dispatcher import Context, NextStep
from bot.models import ConversationMode, MessageKind
from bot.services import Services
from bot.wecom.client import MediaTooLargeError, WeComApiError, WeComUnavailable
from media.attach import attach_to_open_report
from media.reader import CannotListen, MediaReader, ReaderUnavailable, Unreadable
from media.refetch import REFETCH_SCHEDULE, Refetcher, attempt_of
from media.sniff import MediaType
from media.store import StoredMedia

log = logging.getLogger(__name__)

MEDIA_PROBLEM: Final = "media_problem"
"""ctx.data key: why a voice note, image or file was not understood, as (zh, en) texts."""

_MEDIA_KINDS: Final = (MessageKind.VOICE, MessageKind.IMAGE, MessageKind.FILE)
_NOUN: Final = {
    MessageKind.VOICE: ("语音", "voice note"),
    MessageKind.IMAGE: ("图片", "image"),
    MessageKind.FILE: ("文件", "file"),
}
_ECHO_CHARS: Final = 300


class MediaMiddleware:
    """Turns media messages into text (see the module docstring)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._refetch = Refetcher(services)
        services.scheduler.register(REFETCH_SCHEDULE, self._refetch.on_due)

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        message = ctx.message
        if message.kind not in _MEDIA_KINDS or not ctx.has_conversation:
            await next_step(ctx)
            return
        noun_zh, noun_en = _NOUN[message.kind]
        stored: StoredMedia | None = None
        audit: dict[str, object] = {
            "kind": message.kind.value,
            "media_id": str(message.extra.get("media_id") or ""),
        }
        ctx.data["audit_media"] = audit  # also when nothing could be fetched (expired id, ...)
        try:
            content = await self._fetch(ctx)
            stored = await self._reader(ctx).keep(content)
            audit |= {
                "ref": stored.ref,
                "type": stored.media_type.value if stored.media_type else None,
                "bytes": stored.size,
            }
            if not _may_contain(message.kind, stored.media_type):
                raise Unreadable(f"declared {message.kind.value}, bytes say {stored.media_type}")
            text = (await self._reader(ctx).to_text(stored, content)).strip()
        except _Problem as problem:
            ctx.data[MEDIA_PROBLEM] = problem.texts
        except MediaTooLargeError:
            limit = self._services.settings.media_max_bytes // (1024 * 1024)
            ctx.data[MEDIA_PROBLEM] = (
                f"抱歉，这个{noun_zh}太大了（上限 {limit} MB），没能接收。请用文字描述您的问题。",
                f"Sorry, this {noun_en} is too large (limit {limit} MB). Please type instead.",
            )
        except WeComUnavailable:
            attempt = attempt_of(message)
            audit["refetch_attempt"] = attempt
            if await self._refetch.later(message):
                if attempt:  # the sender was told once already: wait quietly
                    audit["outcome"] = "fetch failed again; fetched again later"
                    return
                ctx.data[MEDIA_PROBLEM] = (
                    f"WeCom 暂时没能把您的{noun_zh}交给我。我会稍后自动再取，取到后马上回复您，"
                    "无需重新发送。",
                    f"WeCom could not hand me your {noun_en} just now. I will fetch it again "
                    "shortly and answer you then; no need to send it again.",
                )
            else:
                ctx.data[MEDIA_PROBLEM] = (
                    f"抱歉，多次尝试仍没能取到您 {message.received_at:%m-%d %H:%M} 发送的"
                    f"{noun_zh}。请重新发送，或用文字描述。",
                    f"Sorry, after several tries I still could not fetch the {noun_en} you sent "
                    f"at {message.received_at:%m-%d %H:%M} (UTC). Please send it again, or type.",
                )
        except WeComApiError as err:  # 40007: the id is unknown or expired (3 days)
            log.warning("media/get refused", extra={"errcode": err.errcode})
            ctx.data[MEDIA_PROBLEM] = (
                f"抱歉，没能取到您发送的{noun_zh}（可能已过期）。请重新发送，或用文字描述。",
                f"Sorry, I could not fetch your {noun_en} (it may have expired). Please send "
                "it again, or type instead.",
            )
        except Unreadable as exc:
            log.info("media unreadable", extra={"reason": str(exc)})
            ctx.data[MEDIA_PROBLEM] = (
                f"抱歉，无法读取这个{noun_zh}（格式不支持或文件已损坏），原件已保存。"
                "可以发送 JPG/PNG 图片、PDF 或语音，或直接用文字描述。",
                f"Sorry, I cannot read this {noun_en} (unsupported format or damaged); the "
                "original is kept. You can send JPG/PNG images, PDFs or voice notes, or type.",
            )
        except CannotListen:
            ctx.data[MEDIA_PROBLEM] = (
                "抱歉，我暂时还不能听语音消息，您的语音已保存。请用文字输入您的问题或情况。",
                "Sorry, I cannot listen to voice notes yet; your voice note has been kept. "
                "Please type your question or what happened.",
            )
        except ReaderUnavailable as exc:
            log.warning("media reader unavailable", extra={"reason": str(exc)})
            ctx.data[MEDIA_PROBLEM] = (
                f"抱歉，暂时无法识别这个{noun_zh}，原件已保存。请用文字描述，或稍后再发。",
                f"Sorry, I cannot read this {noun_en} right now; the original is kept. Please "
                "type instead, or send it again later.",
            )
        else:
            if text:
                await self._as_text(next_step, ctx, text, stored)
                return
            ctx.data[MEDIA_PROBLEM] = (
                f"{noun_zh}已收到并保存，但没有识别到文字。请用文字描述您想说明的情况。",
                f"I received and kept the {noun_en} but found no text in it. Please "
                "describe in words what you would like to tell me.",
            )
        if stored is not None and (case_id := await attach_to_open_report(ctx, stored)):
            ctx.data["audit_ae_case"] = case_id
            ctx.data[MEDIA_PROBLEM] = (
                f"{noun_zh}已收到，已附在您的不良事件报告（编号 {case_id}）中。"
                "请继续回答上面的问题。",
                f"Thank you, the {noun_en} is attached to your adverse-event report ({case_id}). "
                "Please go on with the question above.",
            )
        audit["outcome"] = ctx.data[MEDIA_PROBLEM][1]  # what the sender was told
        await next_step(ctx)

    async def _fetch(self, ctx: Context) -> bytes:
        media_id = str(ctx.message.extra.get("media_id") or "")
        wecom = self._services.wecom
        if not media_id or wecom is None:
            raise _Problem(("抱歉，这里只能处理文字消息，请用文字描述。", "Please type here."))
        answer = await wecom.get_media(media_id, self._services.settings.media_max_bytes)
        content = answer["content"]
        assert isinstance(content, bytes)
        return content

    def _reader(self, ctx: Context) -> MediaReader:
        reader = self._services.media
        if reader is None:
            raise _Problem(
                ("抱歉，目前还不能读取语音和图片，请用文字描述。",
                 "Sorry, I cannot read voice notes or images yet; please type.")
            )  # fmt: skip
        return reader

    async def _as_text(
        self, next_step: NextStep, ctx: Context, text: str, stored: StoredMedia | None
    ) -> None:
        message = ctx.message
        assert stored is not None
        source = "voice" if message.kind is MessageKind.VOICE else "image"
        if stored.media_type is MediaType.PDF:
            source = "file"
        extra = {**message.extra, "media_source": source, "media_ref": stored.ref}
        ctx.message = message.model_copy(
            update={"kind": MessageKind.TEXT, "text": text, "extra": extra}
        )
        if source == "voice" and ctx.conversation.mode is ConversationMode.BOT:
            shown = text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "…"
            ctx.reply(ctx.t(f"您说的是：“{shown}”", f'You said: "{shown}"'))
        await next_step(ctx)


class _Problem(Exception):
    def __init__(self, texts: tuple[str, str]) -> None:
        super().__init__(texts[1])
        self.texts = texts


def _may_contain(kind: MessageKind, media_type: MediaType | None) -> bool:
    """Whether a message of this type may really hold these bytes (the declared type lies)."""
    if media_type is None:
        return False
    if kind is MessageKind.VOICE:
        return media_type.is_audio
    return media_type.is_image or (kind is MessageKind.FILE and media_type is MediaType.PDF)


def media_problem(ctx: Context) -> str:
    """What to tell the person about a voice note, image or file the bot did not read."""
    zh, en = ctx.data.get(MEDIA_PROBLEM) or (
        "抱歉，目前还不能读取这条消息，请用文字描述。",
        "Sorry, I cannot read this message yet; please type.",
    )
    return ctx.t(zh, en)


def create_middleware(services: Services) -> MediaMiddleware:
    return MediaMiddleware(services)
