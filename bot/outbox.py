"""The durable outbox: a reply is a job in storage until the channel accepted it.

Every reply to a doctor (kf) or a member (app) is appended to its conversation's job list
``outbox:<conversation_key>`` and then sent by whoever drains that conversation. Draining is
exclusive per conversation (the storage lock ``lock:outbox-send:<conversation_key>``) and works
through the jobs oldest first, so a later reply never overtakes an earlier one still being
retried. A job leaves the list only when its channel transport says it is done (WeCom answered
errcode 0 for every message of it) or dropped (the session is a human's), or when it is
dead-lettered.

A conversation with jobs always has an item in the scheduler ``outbox`` (``claim_due`` hands it
to exactly one replica): a lease while a drain is under way (a replica that dies mid-send leaves
it to another after ``LEASE_S``), the retry time of the first job after a failure, or a
periodic re-check while the first job is held back (the kf budget). So jobs survive restarts and
are sent by any replica.

Failures are the transport's ``SendFailed``. A retryable one (WeCom busy or rate-limited, 5xx,
timeouts, network errors, a rejected access token) is retried with a doubling delay from
``outbox_backoff_s`` up to ``outbox_backoff_max_s``, until ``outbox_give_up_s`` after the job
was queued. Then, or at once for a permanent error, the job goes to the dead-letter queue
``outbox-dead`` with the reason (``virtualrep dead list|show|replay|drop``; the queue monitor
alerts while one is unresolved) and the conversation's next job is sent.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from bot.metrics import Metrics
from bot.models import Channel, utcnow
from bot.settings import Settings
from bot.storage.base import LockTimeout, ScheduledItem, Storage, StorageError

log = logging.getLogger(__name__)

OUTBOX_SCHEDULE: Final = "outbox"
OUTBOX_DEAD_QUEUE: Final = "outbox-dead"
"""Replies that could not be delivered within the bound: ``{"reason", "job"}``."""
LEASE_S: Final = 300.0
"""When the scheduler looks again at a conversation whose drain stopped without finishing."""
SEND_LOCK_LEASE_S: Final = 15.0
"""Lease of the drain lock: renewed while a drain works, so a drain that stopped (a dead
replica, or a release lost to a storage outage) frees the conversation within this."""
HELD_RECHECK_S: Final = 3600.0
"""How often a conversation whose first job is held back is looked at without new replies."""
_DOC_LOCK_WAIT_S: Final = 30.0


class SendFailed(Exception):
    """The channel did not accept a message; ``retryable`` says whether trying later may help."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class Outcome(enum.Enum):
    DONE = "done"  # every message of the job was accepted
    HELD = "held"  # waiting (the kf budget): the job stays first, nothing later is sent
    DROPPED = "dropped"  # the job must not be sent (the session is not the bot's)


@dataclass
class Job:
    """One reply in the outbox. ``data`` is the channel's rendering, updated as parts go out."""

    id: str
    channel: Channel
    conversation_key: str
    data: dict[str, Any]
    queued_at: datetime
    attempts: int = 0
    retry_at: datetime | None = None
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel.value,
            "conversation_key": self.conversation_key,
            "data": self.data,
            "queued_at": self.queued_at.isoformat(),
            "attempts": self.attempts,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
            "last_error": self.last_error,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Job:
        retry_at = raw.get("retry_at")
        return cls(
            id=str(raw["id"]),
            channel=Channel(raw["channel"]),
            conversation_key=str(raw["conversation_key"]),
            data=dict(raw["data"]),
            queued_at=datetime.fromisoformat(str(raw["queued_at"])),
            attempts=int(raw.get("attempts", 0)),
            retry_at=datetime.fromisoformat(str(retry_at)) if retry_at else None,
            last_error=str(raw.get("last_error", "")),
        )


SaveProgress = Callable[[Job], Awaitable[None]]
Transport = Callable[[Job, SaveProgress], Awaitable[Outcome]]
"""Sends a job's messages; calls ``SaveProgress`` after each accepted one, raises
``SendFailed``."""


@dataclass(frozen=True)
class RetryPolicy:
    backoff_s: float = 2.0
    backoff_max_s: float = 300.0
    give_up_s: float = 6 * 3600.0

    def delay(self, attempts: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** (attempts - 1)))


def settings_outbox(settings: Settings, storage: Storage, metrics: Metrics) -> Outbox:
    """The outbox with the retry bound the settings give."""
    policy = RetryPolicy(
        settings.outbox_backoff_s, settings.outbox_backoff_max_s, settings.outbox_give_up_s
    )
    return Outbox(storage, metrics, policy=policy)


def outbox_key(conversation_key: str) -> str:
    return f"outbox:{conversation_key}"


class Outbox:
    """Jobs per conversation in storage; channels register the transport that sends them."""

    def __init__(
        self,
        storage: Storage,
        metrics: Metrics,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._storage = storage
        self._metrics = metrics
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._transports: dict[Channel, Transport] = {}

    def register(self, channel: Channel, transport: Transport) -> None:
        self._transports[channel] = transport

    async def put(
        self, channel: Channel, conversation_key: str, data: dict[str, Any], job_id: str = ""
    ) -> None:
        """Queue a job behind the conversation's earlier ones, then try to send at once."""
        job = Job(job_id or uuid.uuid4().hex, channel, conversation_key, data, self._clock())
        await self.append(job)
        await self.drain(conversation_key)

    async def append(self, job: Job) -> None:
        """Store ``job`` last in its conversation (a first job also gets the lease item)."""
        key = job.conversation_key
        async with self._doc_lock(key):
            jobs = await self._read(key)
            if any(raw.get("id") == job.id for raw in jobs):
                return  # the same reply again (a redelivered message): it is queued already
            if not jobs:
                await self._arm(key, LEASE_S)
            await self._storage.set_json(outbox_key(key), [*jobs, job.to_json()])

    async def pending(self, conversation_key: str) -> list[Job]:
        """The conversation's jobs not yet sent, oldest first."""
        return [Job.from_json(raw) for raw in await self._read(conversation_key)]

    async def on_due(self, item: ScheduledItem) -> None:
        """The scheduler's handler: drain the conversation whose item came due."""
        await self.drain(item.item_id)

    async def drain(self, conversation_key: str) -> None:
        """Send the conversation's due jobs in order; returns when empty, waiting or held."""
        try:
            async with self._storage.lock(
                f"lock:outbox-send:{conversation_key}",
                timeout_s=SEND_LOCK_LEASE_S,
                blocking_timeout_s=0,
            ):
                await self._arm(conversation_key, LEASE_S)
                while await self._send_first(conversation_key):
                    pass
        except LockTimeout:
            # Another drain holds the conversation; it reads the list again after every job.
            # Should it be just finishing, this item makes sure the new job is looked at.
            await self._arm(conversation_key, 1.0)

    async def _send_first(self, key: str) -> bool:
        """Handle the first job; True when the next one may be sent right away."""
        async with self._doc_lock(key):
            jobs = await self._read(key)
            if not jobs:
                await self._storage.cancel(OUTBOX_SCHEDULE, key)
                return False
        job = Job.from_json(jobs[0])
        now = self._clock()
        if job.retry_at is not None and job.retry_at > now:
            await self._storage.schedule(OUTBOX_SCHEDULE, key, job.retry_at)
            return False
        transport = self._transports.get(job.channel)
        if transport is None:
            await self._dead_letter(job, f"no sender for channel {job.channel.value}")
            return True
        try:
            outcome = await transport(job, self._save)
        except SendFailed as err:
            return await self._failed(job, err)
        except StorageError:
            raise  # not the job's fault: the lease item brings it back
        except Exception as exc:  # a job the code cannot send must not block the conversation
            log.exception("outbox job failed", extra={"job": job.id})
            await self._dead_letter(job, f"{type(exc).__name__}: {exc}")
            return True
        if outcome is Outcome.HELD:
            await self._arm(key, HELD_RECHECK_S)
            return False
        if outcome is Outcome.DROPPED:
            self._metrics.events.labels("outbox_job_dropped").inc()
        await self._remove(job)
        return True

    async def _failed(self, job: Job, err: SendFailed) -> bool:
        now = self._clock()
        job.attempts += 1
        job.last_error = str(err)
        deadline = job.queued_at + timedelta(seconds=self._policy.give_up_s)
        if not err.retryable or now >= deadline:
            await self._dead_letter(job, str(err))
            return True
        job.retry_at = now + timedelta(seconds=self._policy.delay(job.attempts))
        await self._save(job)
        self._metrics.events.labels("outbox_retry").inc()
        log.warning(
            "reply not accepted; retrying",
            extra={"conversation": job.conversation_key, "job": job.id, "error": str(err),
                   "attempts": job.attempts, "retry_at": job.retry_at.isoformat()},
        )  # fmt: skip
        await self._storage.schedule(OUTBOX_SCHEDULE, job.conversation_key, job.retry_at)
        return False

    async def _dead_letter(self, job: Job, reason: str) -> None:
        """Set the job aside for an operator (queue alert via the monitor); the next one goes."""
        await self._storage.enqueue(OUTBOX_DEAD_QUEUE, {"reason": reason, "job": job.to_json()})
        self._metrics.errors.labels("outbox_dead").inc()
        log.error(
            "reply dead-lettered: see `virtualrep dead list`",
            extra={"conversation": job.conversation_key, "job": job.id, "reason": reason,
                   "attempts": job.attempts},
        )  # fmt: skip
        await self._remove(job)

    async def _save(self, job: Job) -> None:
        """Write back the first job's progress (it is first: only the drainer changes it)."""
        async with self._doc_lock(job.conversation_key):
            jobs = await self._read(job.conversation_key)
            if jobs and jobs[0].get("id") == job.id:
                jobs[0] = job.to_json()
                await self._storage.set_json(outbox_key(job.conversation_key), jobs)

    async def _remove(self, job: Job) -> None:
        async with self._doc_lock(job.conversation_key):
            jobs = await self._read(job.conversation_key)
            jobs = [raw for raw in jobs if raw.get("id") != job.id]
            if jobs:
                await self._storage.set_json(outbox_key(job.conversation_key), jobs)
            else:
                await self._storage.delete(outbox_key(job.conversation_key))

    async def _arm(self, key: str, after_s: float) -> None:
        due = self._clock() + timedelta(seconds=after_s)
        await self._storage.schedule(OUTBOX_SCHEDULE, key, due)

    async def _read(self, key: str) -> list[dict[str, Any]]:
        raw = await self._storage.get_json(outbox_key(key))
        return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []

    def _doc_lock(self, key: str) -> AbstractAsyncContextManager[object]:
        return self._storage.lock(
            f"lock:outbox:{key}", timeout_s=_DOC_LOCK_WAIT_S, blocking_timeout_s=_DOC_LOCK_WAIT_S
        )
