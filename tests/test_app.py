"""The aiohttp app: health, readiness (through a real Redis outage), metrics, cleanup."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.keys import DISPATCHER, KNOWLEDGE, SERVICES
from bot.models import Channel, InboundMessage, MessageKind, SenderType
from bot.settings import load_settings
from bot.storage.redis import RedisStorage
from bot.wecom.simulator import CallbackSender, FakeWeComServer, WeComSimulator
from handlers.wecom_callback import NOT_CONFIGURED
from skills.adverse_events.service import PENDING_SET, ae_service
from tests.helpers import RecordingSender
from tests.redis_server import RedisServer
from tests.wecom_harness import AES_KEY, CORP_ID, OPEN_KFID, SECRET, TOKEN, make_settings

SETTLE_LIMIT_S = 60.0
DOCTOR = "wmDOCTOR0001"


@pytest.fixture
async def client() -> AsyncIterator[TestClient[object, object]]:
    app = create_app(load_settings(kb_sample_library=False))
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def test_healthz(client: TestClient[object, object]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "alive"


async def test_readyz_reports_storage(client: TestClient[object, object]) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"]["storage"] is True


async def test_the_long_lived_heap_is_frozen_at_start_up_and_after_a_reload(
    tmp_path: Path,
) -> None:
    """Models, snapshot and routers leave the collector's walk; a reload freezes the new one."""
    gc.unfreeze()
    app = create_app(
        load_settings(kb_sample_library=False, kb_dir=tmp_path / "kb", heap_freeze=True)
    )
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")):
            assert gc.get_freeze_count() > 0  # start-up froze everything alive
            gc.unfreeze()
            library = Path(__file__).parent / "qa_library" / "norvexa-pi-en.md"
            report = await asyncio.to_thread(app[KNOWLEDGE].ingest_paths, [library])
            assert report.added  # a change, so the snapshot was reloaded
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0  # shutdown hands everything back to the collector
    finally:
        gc.unfreeze()


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until ``condition`` holds; the generous limit only stops a hung test."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A dedicated redis-server (not started yet) whose data survives a restart."""
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis", persistent=True)
    try:
        yield server
    finally:
        server.stop()


async def test_a_redis_outage_delays_work_and_loses_none(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Start-up, readiness, callbacks and background work through two real Redis outages."""
    # A submitted PV case whose queue entry was never written: the delivery worker's start-up
    # reconcile must still queue it, although Redis is down when the app starts.
    redis_server.start()
    seed = RedisStorage.from_url(redis_server.url)
    try:
        await seed.set_add(PENDING_SET, "AE-OUTAGE-1")
    finally:
        await seed.close()
    redis_server.stop()

    api = FakeWeComServer(corp_id=CORP_ID, secret=SECRET)
    settings = make_settings(await api.start(), redis_url=redis_server.url, kb_sample_library=False)
    app = create_app(settings)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            sender = CallbackSender(
                client.session,
                str(client.make_url("/wecom/callback")),
                token=TOKEN,
                aes_key=AES_KEY,
                corp_id=CORP_ID,
            )

            async def ready() -> bool:
                return (await client.get("/readyz")).status == 200

            async def replied(count: int) -> bool:
                return len(api.app_sent) >= count

            async def doctor_answered() -> bool:
                return any(sent["touser"] == DOCTOR for sent in api.kf_sent)

            async def kf_sync_failed() -> bool:
                return any("kf sync" in record.getMessage() for record in caplog.records)

            async def reconciled() -> bool:
                state = await ae_service(app[SERVICES]).store.delivery("AE-OUTAGE-1")
                return state.queued_at is not None

            for number in (1, 2):  # the app starts during the first outage
                response = await client.get("/readyz")
                assert response.status == 503
                assert (await response.json())["checks"]["storage"] is False
                hello = sender.app_text_xml("zhangsan", "你好", msg_id=number)
                assert await sender.post(hello) == (503, "unavailable")  # WeCom retries
                if number == 2:  # a kf notice needs no storage: taken, synced once Redis is back
                    doctor = WeComSimulator(api, sender)
                    assert (await doctor.doctor_says(OPEN_KFID, DOCTOR, "你好"))[1] == (
                        200,
                        "success",
                    )
                    await eventually(kf_sync_failed, "the kf sync meeting the outage")

                redis_server.start()
                await eventually(ready, "/readyz 200 after Redis came back")
                assert await sender.post(hello) == (200, "success")  # the retry is taken
                await eventually(partial(replied, number), f"the reply to message {number}")
                if number == 1:
                    await eventually(reconciled, "the pending PV case queued")
                    redis_server.stop()
            await eventually(doctor_answered, "the reply to the doctor's kf message")
            assert all(sent["touser"] == "zhangsan" for sent in api.app_sent)
    finally:
        await api.close()


async def test_metrics_count_handled_messages(client: TestClient[object, object]) -> None:
    dispatcher = client.app[DISPATCHER]  # type: ignore[index]
    client.app[SERVICES].senders[Channel.CONSOLE] = RecordingSender()  # type: ignore[index]
    await dispatcher.feed(
        InboundMessage(
            message_id="m1",
            channel=Channel.CONSOLE,
            conversation_key="c",
            sender_id="u",
            sender_type=SenderType.EXTERNAL,
            kind=MessageKind.IMAGE,
        )
    )
    response = await client.get("/metrics")
    body = await response.text()
    assert response.status == 200
    assert 'vrep_messages_in_total{channel="console",skill="help"} 1.0' in body
    assert "vrep_handling_seconds_bucket" in body
    assert "vrep_queue_depth" in body


async def test_without_wecom_the_callback_says_why_and_the_log_says_it_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(load_settings(kb_sample_library=False))
    with caplog.at_level(logging.WARNING):
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            for method in ("GET", "POST"):
                response = await client.request(method, "/wecom/callback")
                assert response.status == 503
                assert await response.text() == NOT_CONFIGURED
    assert caplog.text.count(NOT_CONFIGURED) == 1
    assert "\n" not in NOT_CONFIGURED
