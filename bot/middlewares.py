"""Core middlewares that run on every message: telemetry, conversation lock and state, audit.

Order (outermost first) as wired by ``bot.wiring.build_dispatcher``: telemetry →
conversation state (lock, load, save, deliver) → audit → skill-specific middlewares
(adverse-event screening, human-mode gate) → input cap → flood guard → routers.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from bot.dispatcher import Context, NextStep
from bot.i18n import detect_locale
from bot.masking import mask_identifiers, mask_strings
from bot.models import Conversation, MessageKind, OutboundMessage, SenderType
from bot.profiles import ProfileStore
from bot.storage.base import Document, Fence, Storage

log = logging.getLogger("virtualrep.messages")


MUST_HANDLE: Final = "must_handle"
"""``ctx.data`` flag set by a middleware for a message the skills must handle whatever the
flood guard counts (an adverse-event report)."""


class OutOfOrder(Exception):
    """An earlier message of the same conversation has not been handled yet; retry later."""


def conversation_storage_key(conversation_key: str) -> str:
    return f"conv:{conversation_key}"


async def load_conversation(storage: Storage, conversation_key: str) -> Conversation | None:
    raw = await storage.get_json(conversation_storage_key(conversation_key))
    return Conversation.model_validate(raw) if raw is not None else None


def conversation_document(conversation: Conversation, ttl_s: int) -> Document:
    """The conversation as stored: its free text (transcript, pending questions, form answers)
    masked first, since the state is kept for a long time (``bot.masking``)."""
    state = conversation.model_dump(mode="json")
    state["data"] = mask_strings(state["data"])
    if state.get("form") is not None:
        state["form"]["slots"] = mask_strings(state["form"]["slots"])
    return Document(conversation_storage_key(conversation.key), state, ttl_s)


async def save_conversation(
    storage: Storage, conversation: Conversation, ttl_s: int, *, fence: Fence | None = None
) -> None:
    """Persist the conversation (masked). Under the conversation lock pass its ``fence``: the
    write is then refused (``LockLost``) if another holder took the lock over meanwhile."""
    document = conversation_document(conversation, ttl_s)
    if fence is None:
        await storage.set_json(document.key, document.value, document.ttl_s)
    else:
        await storage.set_json_fenced(fence, document)


class ConversationStateMiddleware:
    """Serialises a conversation across workers and replicas and keeps its state.

    The per-conversation lock is a lease (``Storage.lock``): a message waits for it as long as
    the conversation is busy, never gives up, and a wait above ``wait_warn_s`` is logged.
    Inside it: load the state (or start it) and the doctor's profile,
    skip a message already handled (its ``seq`` is not above ``last_seq``: a redelivery),
    refuse one that overtook an earlier message (``OutOfOrder``), run the chain, save the
    state, then hand the replies to
    the channel sender — still inside the lock, so replies leave in message order.

    Fencing (issue 22). A holder can lose the lock while it works: a starved worker (SCHED_IDLE
    under a flood) does not get to renew its lease, another worker takes the lock and handles
    the conversation, and the first one's save would overwrite that newer state. So the state
    and the doctor's profile are written in one ``set_json_fenced`` with this holding's
    ``Fence``: all or nothing, and nothing once another holder took the lock since ours. On
    ``LockLost`` the message stops here: nothing is saved, **no reply is handed to the
    sender**, and ``LockLost`` propagates, so the pipeline leaves the entry unacknowledged. Why
    that is neither loss nor doubling:

    - replies reach the doctor only through ``deliver`` (the outbox), after the save: a holder
      that lost the lock has queued none of this message's replies, so none goes out twice;
    - the entry is redelivered. If the new holder already handled this message (it reclaimed
      it), or accepted the gap past it, the state's ``last_seq`` marks it a redelivery and it is
      acknowledged without a second answer; otherwise it is handled afresh, once, and answered
      then. The outbox job id is the message id, so a reply queued twice is sent once;
    - the new holder's state is never overwritten, and this holder's work is redone from it.

    What is not fenced: side effects a skill made during the discarded handling (they must be
    idempotent per message already, as a crash before the save redoes them too) and the audit
    record of that handling (a second one follows when the message is handled again; the
    ``lock_lost`` warning in the log says which handling was discarded). A lease that ran out
    while nobody wanted the lock does not stop the save: nothing newer can exist.
    """

    def __init__(
        self, storage: Storage, ttl_s: int, lease_s: float = 5.0, wait_warn_s: float = 5.0
    ) -> None:
        self._storage = storage
        self._profiles = ProfileStore(storage)
        self._ttl_s = ttl_s
        self._lease_s = lease_s
        self._wait_warn_s = wait_warn_s

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        message = ctx.message
        lock_name = f"lock:conv:{message.conversation_key}"
        asked = ctx.data.get("waiting_since") or time.perf_counter()  # set aside since
        # Wait as long as the conversation is busy: the holder renews its lease while it works,
        # and a dead holder's lease runs out, so the wait is bounded by the work ahead of us.
        lock = self._storage.lock(lock_name, timeout_s=self._lease_s, blocking_timeout_s=None)
        async with lock as fence:
            waited = time.perf_counter() - asked
            if waited > self._wait_warn_s:
                ctx.services.metrics.events.labels("lock_wait_slow").inc()
                log.warning(
                    "message waited for its conversation",
                    extra={
                        "message_id": message.message_id,
                        "conversation": message.conversation_key,
                        "waited_s": round(waited, 2),
                    },
                )
            conversation = await load_conversation(self._storage, message.conversation_key)
            if conversation is None:
                conversation = Conversation(
                    key=message.conversation_key,
                    channel=message.channel,
                    user_id=message.sender_id,
                    created_at=ctx.now,
                    updated_at=ctx.now,
                )
            if message.seq:
                if message.seq <= conversation.last_seq:
                    ctx.data["duplicate"] = True
                    return
                # A gap means an earlier message is still in flight on another worker; after
                # the pipeline's bounded wait (or when the state expired) it is accepted.
                if message.seq > conversation.last_seq + 1 and not ctx.data.get("accept_gap"):
                    raise OutOfOrder(message.message_id)
            # Slash commands are Latin text whatever the rep's language: they don't set it.
            if message.kind is MessageKind.TEXT and not message.text.startswith("/"):
                conversation.locale = detect_locale(message.text) or conversation.locale
            ctx.conversation = conversation
            if message.sender_type is SenderType.EXTERNAL:
                ctx.profile = await self._profiles.get_or_create(message.sender_id)
                conversation.profile_id = ctx.profile.doctor_id
                if message.kind is not MessageKind.EVENT:
                    ctx.profile.note_inbound(message)
            await next_step(ctx)
            conversation.last_seq = max(conversation.last_seq, message.seq)
            conversation.updated_at = ctx.now
            documents = [conversation_document(conversation, self._ttl_s)]
            if ctx.profile is not None:
                documents.append(self._profiles.document(ctx.profile))
            await self._storage.set_json_fenced(fence, *documents)  # LockLost: see above
            if ctx.profile is not None:
                await self._profiles.listed(ctx.profile)
            await deliver(ctx)


async def deliver(ctx: Context) -> None:
    """Hand the context's replies to the sender of the message's channel."""
    if not ctx.replies:
        return
    message = ctx.message
    outbound = OutboundMessage(
        channel=message.channel,
        conversation_key=message.conversation_key,
        recipient_id=message.sender_id,
        replies=tuple(ctx.replies),
        in_reply_to=message.message_id,
        extra=message.extra,
    )
    await ctx.services.sender(message.channel).send(outbound)
    ctx.services.metrics.messages_out.labels(message.channel.value, ctx.skill or "none").inc(
        len(ctx.replies)
    )


# ctx.data flag: audit this message without its text (privacy/: the message that confirmed an
# erasure is audited after it, so its words would outlive the erasure they asked for)
TEXT_WITHHELD = "audit_text_withheld"


class AuditMiddleware:
    """Appends the inbound message and the replies to the audit trail (identifiers masked)."""

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        await next_step(ctx)
        message = ctx.message
        await ctx.services.audit.record(
            "message",
            ctx.now,
            message_id=message.message_id,
            channel=message.channel.value,
            conversation=message.conversation_key,
            sender=message.sender_id,
            inbound_kind=message.kind.value,
            # the verbatim is kept once: the AE case source
            text=None if ctx.data.get(TEXT_WITHHELD) else mask_identifiers(message.text),
            click_id=message.click_id,
            skill=ctx.skill,
            handler=ctx.handler,
            replies=mask_strings(
                [reply.model_dump(mode="json", exclude={"content"}) for reply in ctx.replies]
            ),
            annotations={k: v for k, v in ctx.data.items() if k.startswith("audit_")},
            error=repr(ctx.error) if ctx.error else None,
        )


class TelemetryMiddleware:
    """One log line and the metrics per handled message; no message bodies at INFO."""

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        started = time.perf_counter()
        try:
            await next_step(ctx)
        finally:
            elapsed = time.perf_counter() - started
            message = ctx.message
            metrics = ctx.services.metrics
            if not ctx.data.get("duplicate"):
                metrics.messages_in.labels(message.channel.value, ctx.skill or "none").inc()
                metrics.handling_seconds.labels(message.channel.value).observe(elapsed)
            if ctx.error is not None:
                metrics.errors.labels("skill").inc()
            log.info(
                "message handled",
                extra={
                    "message_id": message.message_id,
                    "conversation": message.conversation_key,
                    "channel": message.channel.value,
                    "skill": ctx.skill,
                    "latency_ms": round(elapsed * 1000, 2),
                    "replies": len(ctx.replies),
                    "duplicate": bool(ctx.data.get("duplicate")),
                },
            )


class FloodGuardMiddleware:
    """Caps how many messages of one doctor's conversation the skills answer per minute.

    Someone pasting dozens of messages, or a script, would otherwise get dozens of answers
    (and cost LLM calls). Above ``per_minute`` within one clock minute the skills are skipped
    and the doctor is told once per minute to slow down. It runs after adverse-event screening
    and the human-mode gate, so every message is still screened and reaches a rep who took
    over, and a message flagged ``MUST_HANDLE`` (a report) is always handled. Reps are not
    limited; ``per_minute`` 0 switches the guard off. The count lives in storage, so it holds
    across replicas.
    """

    def __init__(self, storage: Storage, per_minute: int) -> None:
        self._storage = storage
        self._per_minute = per_minute

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        message = ctx.message
        if (
            self._per_minute <= 0
            or message.sender_type is not SenderType.EXTERNAL
            or ctx.data.get(MUST_HANDLE)
        ):
            await next_step(ctx)
            return
        minute = ctx.now.strftime("%Y%m%d%H%M")
        count = await self._storage.incr(f"flood:{message.conversation_key}:{minute}", ttl_s=120)
        if count <= self._per_minute:
            await next_step(ctx)
            return
        ctx.skill = "flood_guard"
        ctx.data["audit_flood"] = count
        ctx.services.metrics.events.labels("flood_skipped").inc()
        if count == self._per_minute + 1:
            ctx.reply(
                ctx.t(
                    "您的消息有点多，我需要一点时间。请稍等一分钟后再发送，谢谢！",
                    "That's a lot of messages at once. Please wait a minute before sending more.",
                )
            )


def cut_to_bytes(text: str, max_bytes: int) -> str:
    """The longest start of ``text`` within ``max_bytes`` of UTF-8 (never half a character)."""
    return text.encode()[:max_bytes].decode(errors="ignore")


class InputCapMiddleware:
    """Bounds the work a doctor's text can cause: the skills read at most ``max_bytes``.

    WeCom delivers at most 2 048 bytes of text, so through WeCom nothing is cut; text that
    arrives longer through another path (the console chat, a replayed dead letter, a future
    channel) is cut at the last whole character within the limit, and the doctor is told that
    the rest was not read. Runs after adverse-event screening and the human-mode gate, which
    read the whole text (screening in bounded windows), as do the audit trail and a rep who
    took over; only the skills' answer is bounded.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes

    async def __call__(self, next_step: NextStep, ctx: Context) -> None:
        message = ctx.message
        if (
            message.sender_type is not SenderType.EXTERNAL
            or message.kind is not MessageKind.TEXT
            or len(message.text.encode()) <= self._max_bytes
        ):
            await next_step(ctx)
            return
        kept = cut_to_bytes(message.text, self._max_bytes)
        ctx.data["audit_input_cut_at"] = len(kept)
        ctx.services.metrics.events.labels("input_capped").inc()
        ctx.message = message.model_copy(update={"text": kept})
        try:
            await next_step(ctx)
        finally:
            ctx.message = message  # the audit trail and the log keep the whole message
        ctx.reply(
            ctx.t(
                f"（您的消息较长，我只读了前 {len(kept)} 个字，后面的部分没有读到。"
                "如需继续，请把其余内容分开发送。）",
                f"(Your message was long: I read only its first {len(kept)} characters, not the "
                "rest. Please send the rest as separate messages.)",
            )
        )
