"""A WeCom test stack over real HTTP: fake WeCom API, bot replicas serving the callback, and
the simulator's callback sender. Used by the tests/test_wecom_*.py modules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.keys import METRICS, SETTINGS, STORAGE, WECOM
from bot.metrics import Metrics
from bot.models import InboundMessage
from bot.pipeline import INBOUND_QUEUE
from bot.settings import Settings
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from bot.wecom.client import WeComClient
from bot.wecom.simulator import CallbackSender, FakeWeComServer, WeComSimulator
from handlers.kf import KfSyncer
from handlers.wecom_callback import WECOM_CALLBACK, add_routes

CORP_ID = "wwtestcorp0001"
SECRET = "test-secret"
TOKEN = "callbacktoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, like the console's
AGENT_ID = 1000002
OPEN_KFID = "wkTESTKF0001"


def make_settings(api_base: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "wecom_corp_id": CORP_ID,
        "wecom_agent_id": AGENT_ID,
        "wecom_secret": SECRET,
        "wecom_token": TOKEN,
        "wecom_aes_key": AES_KEY,
        "wecom_api_base": api_base,
        "pv_users": "pv_officer",  # the WeCom app carries PV cards: start-up needs an officer
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Replica:
    """One bot process: an aiohttp app with the callback route, its own client and metrics."""

    app: web.Application
    runner: web.AppRunner
    url: str
    client: WeComClient
    metrics: Metrics

    @property
    def syncer(self) -> KfSyncer:
        syncer = self.app[WECOM_CALLBACK].kf_syncer
        assert syncer is not None
        return syncer


@dataclass
class Stack:
    api: FakeWeComServer
    storage: Storage
    session: aiohttp.ClientSession
    replicas: list[Replica] = field(default_factory=list)

    def simulator(self, replica: int = 0) -> WeComSimulator:
        sender = CallbackSender(
            self.session,
            self.replicas[replica].url,
            token=TOKEN,
            aes_key=AES_KEY,
            corp_id=CORP_ID,
            agent_id=AGENT_ID,
        )
        return WeComSimulator(self.api, sender)

    async def settle(self) -> None:
        """Wait until every replica finished its background kf syncs."""
        for replica in self.replicas:
            await replica.syncer.idle()


async def start_replica(
    settings: Settings, storage: Storage, session: aiohttp.ClientSession
) -> Replica:
    app = web.Application()
    metrics = Metrics()
    assert settings.wecom_corp_id and settings.wecom_secret
    client = WeComClient(
        session,
        storage,
        corp_id=settings.wecom_corp_id,
        secret=settings.wecom_secret.get_secret_value(),
        agent_id=settings.wecom_agent_id,
        api_base=settings.wecom_api_base,
        backoff_s=0.01,
    )
    app[SETTINGS], app[STORAGE], app[METRICS], app[WECOM] = settings, storage, metrics, client
    add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Replica(app, runner, f"http://{host}:{port}/wecom/callback", client, metrics)


@asynccontextmanager
async def wecom_stack(
    replicas: int = 1, storage: Storage | None = None, **settings: Any
) -> AsyncIterator[Stack]:
    api = FakeWeComServer(corp_id=CORP_ID, secret=SECRET)
    base = await api.start()
    shared = storage if storage is not None else MemoryStorage()
    session = aiohttp.ClientSession()
    stack = Stack(api, shared, session)
    try:
        for _ in range(replicas):
            stack.replicas.append(
                await start_replica(make_settings(base, **settings), shared, session)
            )
        yield stack
    finally:
        for replica in stack.replicas:
            await replica.runner.cleanup()
        await session.close()
        await api.close()


async def enqueued(storage: Storage) -> list[InboundMessage]:
    """Everything in the inbound queue so far, oldest first (read through a fresh group)."""
    entries = await storage.consume(
        INBOUND_QUEUE, f"test-{uuid.uuid4().hex}", "reader", count=10_000, block_ms=0
    )
    return [InboundMessage.model_validate(entry.payload["message"]) for entry in entries]
