"""The aiohttp app: health, readiness, metrics, and resource cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.keys import DISPATCHER, SERVICES, STORAGE
from bot.models import Channel, InboundMessage, MessageKind, SenderType
from bot.settings import load_settings
from tests.helpers import RecordingSender


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


async def test_readyz_503_when_storage_down(client: TestClient[object, object]) -> None:
    storage = client.app[STORAGE]  # type: ignore[index]

    async def down() -> bool:
        return False

    storage.ping = down  # type: ignore[method-assign]
    response = await client.get("/readyz")
    assert response.status == 503


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
