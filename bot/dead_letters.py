"""Dead letters: what the bot set aside, for an operator to see, then replay or drop.

Three queues hold them. ``inbound-dead``: a queued message that was malformed or failed too many
deliveries (the queue entry's payload plus ``reason``). ``kf-dead``: a kf sync item the bot
could not read (``open_kfid``, ``reason`` and the raw ``item``). ``outbox-dead``: a reply WeCom
did not accept within the outbox's bound (``reason`` and the outbox ``job``). Whether one is
resolved lives in storage: the operators' consumer group ``ops`` acknowledges an entry once it
was replayed or dropped, so "unresolved" is whatever ``ops`` has not acknowledged, which is
exactly the depth the queue monitor alerts on (``bot.queue_monitor``, alert depth 0).

Replaying an inbound dead letter submits its message again with a fresh sequence number (the
old one is at or below the conversation's ``last_seq``, so the dispatcher would skip it as a
redelivery) under a dedup key derived from the entry id, so replaying twice submits it once.
A kf item goes through the kf conversion again (``KfSyncer.handle_item``); if it still cannot
be read it stays unresolved. A reply goes back into its conversation's outbox (last, with a
fresh bound) and is sent at once when WeCom takes it; its msgids are the job's, so WeCom drops a
repeat. Replays and drops are written to the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from bot.audit import AuditLog
from bot.dead_letter_ops import OPS_GROUP, resolve, unresolved
from bot.models import Channel, InboundMessage, utcnow
from bot.outbox import OUTBOX_DEAD_QUEUE, Job, Outbox
from bot.pipeline import DEAD_LETTER_QUEUE, dedup_key, submit_inbound
from bot.queue_monitor import DeadLetterWatch
from bot.storage.base import QueueEntry, Storage, StorageError
from handlers.kf import KF_DEAD_LETTER_QUEUE, KfSyncer, conversation_key

DEAD_LETTER_QUEUES: Final = (DEAD_LETTER_QUEUE, KF_DEAD_LETTER_QUEUE, OUTBOX_DEAD_QUEUE)
DEAD_LETTER_COMMAND: Final = "virtualrep dead list"
DEAD_LETTER_WATCHES: Final = tuple(
    DeadLetterWatch(queue, OPS_GROUP, DEAD_LETTER_COMMAND) for queue in DEAD_LETTER_QUEUES
)
"""What the queue monitor watches: any entry ``ops`` has not acknowledged raises the alert."""
PREVIEW_CHARS: Final = 40


class NotReplayable(Exception):
    """The dead letter cannot be replayed (yet); it stays unresolved."""


class Summary(NamedTuple):
    """What ``virtualrep dead list`` shows of an entry; the text is cut to a short preview."""

    reason: str
    channel: str
    conversation: str
    received: str
    preview: str


def summarize(entry: QueueEntry) -> Summary:
    """The listing fields of either queue's payload; missing parts are empty, never an error."""
    payload = entry.payload
    reason = str(payload.get("reason", ""))
    if entry.queue == OUTBOX_DEAD_QUEUE:
        job = payload.get("job")
        job = job if isinstance(job, dict) else {}
        return Summary(
            reason,
            str(job.get("channel", "")),
            str(job.get("conversation_key", "")),
            str(job.get("queued_at", ""))[:19],
            _preview(_job_text(job)),
        )
    if entry.queue == KF_DEAD_LETTER_QUEUE:
        item = payload.get("item")
        item = item if isinstance(item, dict) else {}
        userid = str(item.get("external_userid", ""))
        open_kfid = str(item.get("open_kfid") or payload.get("open_kfid", ""))
        body = item.get("text")
        send_time = item.get("send_time")
        return Summary(
            reason,
            Channel.KF.value,
            conversation_key(open_kfid, userid) if userid else "",
            _epoch_iso(send_time) if isinstance(send_time, int) else "",
            _preview(str(body.get("content", "")) if isinstance(body, dict) else ""),
        )
    message = payload.get("message")
    message = message if isinstance(message, dict) else {}
    return Summary(
        reason,
        str(message.get("channel", "")),
        str(message.get("conversation_key", "")),
        str(message.get("received_at", ""))[:19],
        _preview(str(message.get("text", ""))),
    )


def _job_text(job: dict[str, Any]) -> str:
    """The first text of an outbox job (kf units or app messages), for the preview."""
    data = job.get("data")
    data = data if isinstance(data, dict) else {}
    parts = [*data.get("batch", []), *data.get("units", []), *data.get("ops", [])]
    for part in parts:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            return text
        menu, body = part.get("menu"), part.get("body")
        if isinstance(menu, dict):
            return str(menu.get("head", ""))
        if isinstance(body, dict) and "content" in body:
            return str(body["content"])
    return ""


def _epoch_iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")[:19]


def _preview(text: str) -> str:
    """At most ``PREVIEW_CHARS`` characters on one line: enough to recognise, not to read."""
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


class DeadLetters:
    """The operator's view of both dead-letter queues.

    ``kf_syncer`` replays kf items (it needs the WeCom client: an enter_session event sends the
    welcome, a session change asks for the state); without it a kf item is not replayable.
    ``outbox`` (with the WeCom senders registered) replays replies; without it they are not.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        operator: str,
        dedup_ttl_s: int,
        kf_syncer: KfSyncer | None = None,
        outbox: Outbox | None = None,
        clock: Callable[[], datetime] = utcnow,
        audit: AuditLog | None = None,
    ) -> None:
        self._outbox = outbox
        self._storage = storage
        self._operator = operator
        self._dedup_ttl_s = dedup_ttl_s
        self._kf_syncer = kf_syncer
        self._clock = clock
        self._audit = audit or AuditLog(storage)

    async def unresolved(self, queue: str) -> list[QueueEntry]:
        """The queue's entries ``ops`` has not acknowledged, oldest first."""
        return await unresolved(self._storage, queue)

    async def find(self, queue: str, entry_id: str) -> QueueEntry | None:
        """The unresolved entry ``entry_id`` of a dead-letter queue, or None."""
        if queue not in DEAD_LETTER_QUEUES:
            return None
        return next((e for e in await self.unresolved(queue) if e.entry_id == entry_id), None)

    async def replay(self, entry: QueueEntry) -> bool:
        """Hand the entry to the bot again and resolve it.

        False when an earlier replay of this inbound entry had already submitted it (a kf item
        is deduplicated on its msgid by the conversion itself). Raises ``NotReplayable`` when it
        cannot be read; the entry then stays unresolved.
        """
        if entry.queue == KF_DEAD_LETTER_QUEUE:
            submitted = await self._replay_kf(entry)
        elif entry.queue == OUTBOX_DEAD_QUEUE:
            submitted = await self._replay_reply(entry)
        else:
            submitted = await self._replay_inbound(entry)
        await self._settle(entry, "dead_letter_replayed", submitted=submitted)
        return submitted

    async def drop(self, entry: QueueEntry, reason: str) -> None:
        """Resolve without replaying; the audit record keeps the payload, the reason and who."""
        await self._settle(entry, "dead_letter_dropped", reason=reason, payload=entry.payload)

    async def _settle(self, entry: QueueEntry, kind: str, **details: object) -> None:
        """Audit what the operator did with ``entry`` (who, when), then resolve it."""
        await self._audit.record(
            kind,
            self._clock(),
            queue=entry.queue,
            entry_id=entry.entry_id,
            operator=self._operator,
            **details,
        )
        await resolve(self._storage, entry)

    async def _replay_inbound(self, entry: QueueEntry) -> bool:
        try:
            message = InboundMessage.model_validate(entry.payload["message"])
        except (KeyError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise NotReplayable(f"its message does not parse ({type(exc).__name__})") from exc
        # A crash between submitting and acknowledging is safe: the next replay is a duplicate.
        replay_key = dedup_key("replay", f"{entry.queue}:{entry.entry_id}")
        return await submit_inbound(self._storage, message, self._dedup_ttl_s, dedup=replay_key)

    async def _replay_reply(self, entry: QueueEntry) -> bool:
        if self._outbox is None:
            raise NotReplayable("replaying a reply needs the WeCom API settings")
        try:
            job = Job.from_json(entry.payload["job"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NotReplayable(f"its job does not parse ({type(exc).__name__})") from exc
        job.queued_at, job.attempts, job.retry_at, job.last_error = self._clock(), 0, None, ""
        # Queued before the entry is resolved: a crash in between replays it again, and the
        # outbox keeps one job per id (WeCom drops a repeated kf msgid).
        await self._outbox.append(job)
        await self._outbox.drain(job.conversation_key)
        return True

    async def _replay_kf(self, entry: QueueEntry) -> bool:
        if self._kf_syncer is None:
            raise NotReplayable("replaying a kf item needs the WeCom API settings")
        try:
            await self._kf_syncer.handle_item(entry.payload["item"])
        except StorageError:
            raise
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            raise NotReplayable(f"the kf item still cannot be read ({detail})") from exc
        return True  # handle_item deduplicates on the msgid by itself
