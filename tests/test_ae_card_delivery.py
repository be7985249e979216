"""The PV card sink against the fake WeCom API: done only on errcode 0, else retried, then
dead-lettered. Faults are injected at the fake's ``message/send`` (errcodes, HTTP 502, a stall
past the client's timeout) or by taking the fake down (connection refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.metrics import Metrics
from bot.models import Channel
from bot.wecom.client import WeComClient
from bot.wecom.senders import AppSender
from bot.wecom.simulator import FakeWeComServer
from skills.adverse_events.delivery import DeliveryWorker, configured_sinks
from skills.adverse_events.service import Redelivery, dead_lettered_cases, redeliver
from tests.ae_support import AEBot, ae_settings
from tests.storage_backends import Backend
from tests.test_ae_delivery import _report
from tests.wecom_harness import AGENT_ID, CORP_ID, SECRET

SEND = "message/send"
CLIENT_RETRIES = 3  # the client's own quick retries: 4 calls per attempt


@asynccontextmanager
async def pv_on_wecom(
    backend: Backend, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[AEBot, FakeWeComServer, DeliveryWorker]]:
    """The AE bot whose app channel is the real ``AppSender`` against the fake WeCom API."""
    api = FakeWeComServer(corp_id=CORP_ID, secret=SECRET)
    base = await api.start()
    async with aiohttp.ClientSession() as session:
        try:
            client = WeComClient(
                session, backend.storage, corp_id=CORP_ID, secret=SECRET, agent_id=AGENT_ID,
                api_base=base, retries=CLIENT_RETRIES, backoff_s=0.01, timeout_s=0.3,
            )  # fmt: skip
            bot = AEBot(ae_settings(tmp_path, **overrides), backend.storage)
            bot.services.senders[Channel.APP] = AppSender(client, backend.storage, Metrics())
            sinks = configured_sinks(bot.ae, session)
            worker = DeliveryWorker(bot.ae, sinks, consumer="w1", block_ms=0)
            yield bot, api, worker
        finally:
            await api.close()


def cards(api: FakeWeComServer) -> list[str]:
    """The titles of the template cards WeCom accepted."""
    return [
        body["template_card"]["main_title"]["title"]
        for body in api.app_sent
        if body["msgtype"] == "template_card"
    ]


FAULTS: dict[str, Callable[[FakeWeComServer], None]] = {
    "45009 rate limit": lambda api: api.fail_next(SEND, 45009),
    "-1 busy, outlasting the client's retries": lambda api: api.fail_next(
        SEND, -1, times=CLIENT_RETRIES + 1
    ),
    "HTTP 502": lambda api: api.fail_http_next(SEND, 502, times=CLIENT_RETRIES + 1),
    "timeout": lambda api: api.stall_next(SEND, 1.0, times=CLIENT_RETRIES + 1),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_card_counts_only_when_wecom_accepts_it(
    fault: str, backend: Backend, tmp_path: Path
) -> None:
    async with pv_on_wecom(backend, tmp_path) as (bot, api, worker):
        case_id = await _report(bot)
        FAULTS[fault](api)
        assert await worker.run_once() == 1
        state = await bot.ae.store.delivery(case_id)
        assert "wecom_card" not in state.sinks and "archive" in state.sinks
        assert state.delivered_at is None and state.attempts == 1
        assert "wecom_card" in state.last_error
        assert cards(api) == [] and any(c.errcode for c in api.calls_to(SEND))
        # The same durable backoff as the webhook, then delivered once.
        bot.clock.advance(seconds=bot.settings.pv_delivery_backoff_s + 1)
        assert await bot.services.scheduler.run_due() == 1
        assert await worker.run_once() == 1
        state = await bot.ae.store.delivery(case_id)
        assert state.delivered_at is not None and "wecom_card" in state.sinks
        assert cards(api) == [f"不良事件报告 {case_id}"]


async def test_card_with_wecom_unreachable_is_retried(backend: Backend, tmp_path: Path) -> None:
    async with pv_on_wecom(backend, tmp_path) as (bot, api, worker):
        case_id = await _report(bot)
        port = urlsplit(api.base_url).port
        await api.close()  # connection refused
        assert await worker.run_once() == 1
        state = await bot.ae.store.delivery(case_id)
        assert "wecom_card" not in state.sinks and state.attempts == 1
        await api.start(port=port or 0)
        bot.clock.advance(seconds=bot.settings.pv_delivery_backoff_s + 1)
        await bot.services.scheduler.run_due()
        await worker.run_once()
        assert (await bot.ae.store.delivery(case_id)).delivered_at is not None
        assert cards(api) == [f"不良事件报告 {case_id}"]


async def test_card_failing_every_attempt_is_dead_lettered_then_redelivered_once(
    backend: Backend, tmp_path: Path
) -> None:
    async with pv_on_wecom(backend, tmp_path, pv_delivery_max_attempts=2) as (bot, api, worker):
        case_id = await _report(bot)
        api.fail_next(SEND, -1, times=2 * (CLIENT_RETRIES + 1))  # two whole attempts
        await worker.run_once()
        bot.clock.advance(hours=1)
        await bot.services.scheduler.run_due()
        await worker.run_once()
        state = await bot.ae.store.delivery(case_id)
        assert state.dead_lettered_at is not None and "wecom_card" not in state.sinks
        assert await dead_lettered_cases(backend.storage, bot.ae.store) == [case_id]
        # The PV alert itself went out through the outbox once WeCom answered again.
        alerts = [b["text"]["content"] for b in api.app_sent if b["msgtype"] == "text"]
        assert any(case_id in text and "死信" in text for text in alerts)
        assert cards(api) == []
        outcome = await redeliver(
            backend.storage, bot.ae.store, case_id, by="cli:pv", at=bot.clock.now
        )
        assert outcome is Redelivery.QUEUED
        await worker.run_once()
        assert (await bot.ae.store.delivery(case_id)).delivered_at is not None
        assert cards(api) == [f"不良事件报告 {case_id}"]
        assert await dead_lettered_cases(backend.storage, bot.ae.store) == []  # alert clears
