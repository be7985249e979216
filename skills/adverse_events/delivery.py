"""Delivery of submitted cases to pharmacovigilance: a durable queue, a worker, three sinks.

At-least-once and idempotent by case id: each queue entry names a case; the worker delivers it
to every configured sink not yet done (recorded per sink in ``ae:delivery:<id>``) under a
per-case lock, and acknowledges the entry only afterwards. An entry left pending by a worker
that died is reclaimed by another. A failed delivery is retried through the scheduler with
exponential backoff; after ``pv_delivery_max_attempts`` failures the case is dead-lettered and
PV is alerted.

Sinks: ``WebhookSink`` (JSON over HTTPS, HMAC-SHA256 signature), ``CardSink`` (WeCom template
card with an acknowledge button to ``VREP_PV_USERS``), ``ArchiveSink`` (E2B-shaped XML and JSON
files under ``VREP_PV_EXPORT_DIR``). A sink is done only when its receiver confirmed: a 2xx
answer, WeCom errcode 0, files fsync'd.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import socket
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import aiohttp

from bot.i18n import counted
from bot.models import Channel, OutboundMessage
from bot.outbound import ConfirmingSender
from bot.outbox import SendFailed
from bot.queue_worker import QueueConsumer
from bot.services import Services
from bot.storage.base import QueueEntry
from media import MediaReader, case_attachments
from skills.adverse_events.archive import write_once
from skills.adverse_events.cases import AECase, ReporterContact
from skills.adverse_events.e2b import case_json, case_xml
from skills.adverse_events.service import (
    DEAD_LETTER_QUEUE,
    DELIVERY_GROUP,
    DELIVERY_QUEUE,
    PENDING_SET,
    RETRY_SCHEDULE,
    AEService,
    ae_service,
    case_card,
    delivery_lock_key,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-VRep-Signature"  # "sha256=" + hex HMAC of "<timestamp>.<body>"
TIMESTAMP_HEADER = "X-VRep-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"  # the case id: receivers drop repeats
READER = "pv-delivery"
FINISH_GRACE_S = 120.0  # the case lock's timeout: one case's delivery to every sink


class SinkError(Exception):
    """The sink did not take the case; the delivery is retried."""


class Sink(Protocol):
    name: str

    async def deliver(self, case: AECase, contact: ReporterContact | None) -> None: ...


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSink:
    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: bytes,
        session: aiohttp.ClientSession,
        timeout_s: float,
        media: MediaReader | None = None,  # where the case's voice notes and photos are kept
    ) -> None:
        self._url = url
        self._secret = secret
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._media = media

    async def deliver(self, case: AECase, contact: ReporterContact | None) -> None:
        media = [source.media for source in case.sources if source.media]  # voice/photos (media/)
        body = case_json(
            case, contact, await case_attachments(self._media, media, case.case_id) if media else []
        )
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            IDEMPOTENCY_HEADER: case.case_id,
        }
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout
            ) as response:
                if not 200 <= response.status < 300:
                    raise SinkError(f"webhook answered HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkError(f"webhook unreachable: {type(exc).__name__}") from exc


class CardSink:
    """The template card to PV members; the acknowledge click is handled by ``acknowledge``.

    Done only when WeCom answered errcode 0: any other answer, a 5xx, a timeout or a network
    error is a ``SinkError`` (retried with the worker's backoff, then dead-lettered).
    """

    name = "wecom_card"

    def __init__(self, ae: AEService) -> None:
        self._ae = ae

    def can_send(self) -> bool:
        """Whether this process can send the card: PV users set and the WeCom app channel open
        (``virtualrep chat`` has no app channel; its cards print in the terminal)."""
        services = self._ae.services
        sender = services.senders.get(Channel.APP)
        return bool(services.settings.pv_user_ids) and isinstance(sender, ConfirmingSender)

    async def deliver(self, case: AECase, contact: ReporterContact | None) -> None:
        services = self._ae.services
        users = services.settings.pv_user_ids
        sender = services.senders.get(Channel.APP)
        if not self.can_send() or not isinstance(sender, ConfirmingSender):
            raise SinkError("no PV users or no app channel configured")
        card = OutboundMessage(
            channel=Channel.APP,
            conversation_key="pv",
            recipient_id="|".join(users),
            replies=(case_card(case, services.settings.timezone),),
        )
        try:
            await sender.deliver(card)
        except SendFailed as exc:
            raise SinkError(f"WeCom did not accept the card: {exc}") from exc


class ArchiveSink:
    """``<case id>.xml`` (E2B-shaped) and ``<case id>.json``, written once (``write_once``)."""

    name = "archive"

    def __init__(self, ae: AEService) -> None:
        self._ae = ae

    async def deliver(self, case: AECase, contact: ReporterContact | None) -> None:
        settings = self._ae.services.settings
        files = {
            f"{case.case_id}.xml": case_xml(case, contact, settings),
            f"{case.case_id}.json": case_json(case, contact),
        }
        try:
            for name, content in files.items():
                await asyncio.to_thread(write_once, settings.pv_export_dir, name, content)
        except OSError as exc:
            raise SinkError(f"archive not writable: {exc}") from exc


def configured_sinks(ae: AEService, session: aiohttp.ClientSession | None) -> list[Sink]:
    """The archive always; the webhook when its URL is set; the card when PV users are set."""
    settings = ae.services.settings
    sinks: list[Sink] = [ArchiveSink(ae)]
    if settings.pv_webhook_url and session is not None:
        secret = settings.pv_webhook_secret.get_secret_value() if settings.pv_webhook_secret else ""
        sinks.append(
            WebhookSink(
                settings.pv_webhook_url,
                secret.encode(),
                session,
                settings.pv_webhook_timeout_s,
                media=ae.services.media,
            )
        )
    if settings.pv_user_ids:
        sinks.append(CardSink(ae))
    return sinks


class DeliveryWorker:
    """Consumes the delivery queue; the app starts and stops it (``start``/``stop``)."""

    def __init__(
        self,
        ae: AEService,
        sinks: Sequence[Sink],
        *,
        consumer: str | None = None,
        reclaim_idle_ms: int = 60_000,
        block_ms: int = 1000,
    ) -> None:
        self._ae = ae
        self._sinks = list(sinks)
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._loop = QueueConsumer(
            ae.services.storage,
            ae.services.metrics,
            queue=DELIVERY_QUEUE,
            group=DELIVERY_GROUP,
            consumer=self._consumer,
            process=self.handle,
            count=10,
            block_ms=block_ms,
            reclaim_idle_ms=reclaim_idle_ms,
            prepare=self.reconcile,  # in the background: a Redis outage must not stop start-up
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def finish(self, rounds: int = 20) -> None:
        """Stop, then deliver what is queued already, without waiting for more: a process that
        ends soon after a case is submitted (``virtualrep chat`` at its last line) still hands
        it to PV. The case in hand is finished, not cancelled, on a busy machine too (a
        cancelled one waits for the next process to reclaim it). A sink that fails is retried
        later as always (scheduled, durable); whatever is left (more than ``rounds`` batches)
        stays queued for the next delivery worker."""
        await self._loop.finish(rounds, grace_s=FINISH_GRACE_S)

    async def reconcile(self) -> int:
        """Queue submitted cases whose queue entry was never written (a crash in between)."""
        queued = 0
        for case_id in sorted(await self._ae.services.storage.set_members(PENDING_SET)):
            state = await self._ae.store.delivery(case_id)
            if state.queued_at is None:
                await self._ae.enqueue_delivery(case_id)
                queued += 1
        return queued

    async def run_once(self, block_ms: int | None = None) -> int:
        """Take over abandoned entries, then handle new ones; returns how many were handled."""
        return await self._loop.run_once(block_ms)

    async def handle(self, entry: QueueEntry) -> None:
        """Deliver one case to every sink not done yet, then acknowledge the entry."""
        ae = self._ae
        storage = ae.services.storage
        case_id = str(entry.payload["case_id"])
        async with storage.lock(delivery_lock_key(case_id), timeout_s=120):
            state = await ae.store.delivery(case_id)
            if state.delivered_at or state.dead_lettered_at:
                await storage.ack(DELIVERY_QUEUE, DELIVERY_GROUP, entry.entry_id)
                return
            case = await ae.store.read(case_id, reader=READER, purpose="delivery", at=ae.now)
            if case is None:
                log.error("queued case not found", extra={"case_id": case_id})
                await storage.ack(DELIVERY_QUEUE, DELIVERY_GROUP, entry.entry_id)
                return
            contact = await ae.store.read_contact(
                case_id, reader=READER, purpose="delivery", at=ae.now
            )
            errors = []
            for sink in self._sinks:
                if sink.name in state.sinks:
                    continue
                try:
                    await sink.deliver(case, contact)
                except Exception as exc:  # every sink failure is retried the same way
                    errors.append(f"{sink.name}: {exc}")
                    log.warning("PV sink failed", extra={"case_id": case_id, "sink": sink.name})
                    continue
                state.sinks[sink.name] = ae.now
                await ae.store.save_delivery(case_id, state)
            if errors:
                await self._failed(case, state_errors="; ".join(errors))
            else:
                state.delivered_at = ae.now
                await ae.store.save_delivery(case_id, state)
                await storage.set_remove(PENDING_SET, case_id)
                ae.services.metrics.events.labels("ae_case_delivered").inc()
            await storage.ack(DELIVERY_QUEUE, DELIVERY_GROUP, entry.entry_id)

    async def _failed(self, case: AECase, state_errors: str) -> None:
        """Schedule the retry (before the entry is acknowledged) or dead-letter the case."""
        ae = self._ae
        settings = ae.services.settings
        state = await ae.store.delivery(case.case_id)
        state.attempts += 1
        state.last_error = state_errors
        if state.attempts >= settings.pv_delivery_max_attempts:
            state.dead_lettered_at = ae.now
            await ae.store.save_delivery(case.case_id, state)
            await ae.services.storage.enqueue(
                DEAD_LETTER_QUEUE, {"case_id": case.case_id, "error": state_errors}
            )
            await ae.alert_pv(
                f"不良事件报告 {case.case_id} 多次投递失败，已转入死信队列，请人工处理。"
                f"Case {case.case_id} could not be delivered after "
                f"{counted(state.attempts, 'attempt')} and was dead-lettered: {state_errors}",
                case_id=case.case_id,
                event="ae_dead_letter",
            )
            return
        await ae.store.save_delivery(case.case_id, state)
        delay = settings.pv_delivery_backoff_s * 2 ** (state.attempts - 1)
        await ae.services.storage.schedule(
            RETRY_SCHEDULE, case.case_id, ae.now + timedelta(seconds=delay)
        )


def create_delivery_worker(
    services: Services, session: aiohttp.ClientSession | None
) -> DeliveryWorker:
    """The worker with the sinks the settings configure (the app owns start/stop). PV users
    without the WeCom app is said once at start-up: every case would fail the card sink until
    it is dead-lettered, and PV's alert goes through the same missing app."""
    ae = ae_service(services)
    sinks = configured_sinks(ae, session)
    if any(isinstance(sink, CardSink) and not sink.can_send() for sink in sinks):
        log.warning(
            "VREP_PV_USERS is set but the WeCom app is not configured (VREP_WECOM_CORP_ID, "
            "VREP_WECOM_SECRET, VREP_WECOM_AGENT_ID): PV cards cannot be sent, so every case "
            "is retried and then dead-lettered; configure the app or unset VREP_PV_USERS"
        )
    return DeliveryWorker(ae, sinks)


def delivery_worker_here(
    services: Services, session: aiohttp.ClientSession | None
) -> DeliveryWorker | None:
    """The server's delivery worker (same sinks, retries and dead letter) for a process that
    may lack the WeCom app channel, ``virtualrep chat``; None when the PV card is configured
    but cannot be sent from here. A case counts as delivered only once every configured sink
    took it, so such a process leaves its cases queued for ``virtualrep serve`` on the same
    store rather than deliver them in part."""
    ae = ae_service(services)
    sinks = configured_sinks(ae, session)
    if any(isinstance(sink, CardSink) and not sink.can_send() for sink in sinks):
        return None
    return DeliveryWorker(ae, sinks)
