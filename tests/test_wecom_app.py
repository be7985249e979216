"""End to end over real HTTP: the full app (create_app) against the fake WeCom API.

Callbacks go in through the simulator; replies come out at the fake API's message/send and
kf/send_msg. The two-replica case runs two apps on one real redis-server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import create_app
from bot.keys import STORAGE
from bot.pipeline import INBOUND_GROUP, INBOUND_QUEUE
from bot.wecom.senders import CONTINUE_CLICK_ID, MORE_CLICK_ID
from bot.wecom.simulator import CallbackSender, FakeWeComServer, WeComSimulator
from handlers.kf import WELCOME_OPTIONS
from handlers.wecom_callback import WECOM_CALLBACK
from skills.help import HELP_CLICK, MAIN_MENU_IDS
from tests.wecom_harness import AES_KEY, AGENT_ID, CORP_ID, OPEN_KFID, SECRET, TOKEN, make_settings

DOCTOR = "wmDOCTOR0003"
WAIT_S = 20.0  # generous: only bounds a hang, never asserts speed


@dataclass
class Bot:
    app: web.Application
    sim: WeComSimulator

    async def drained(self) -> None:
        """Wait until kf syncs finished and every enqueued message was handled."""
        syncer = self.app[WECOM_CALLBACK].kf_syncer
        assert syncer is not None
        await syncer.idle()
        storage = self.app[STORAGE]
        await until(lambda: True, storage_empty=storage)


async def until(predicate: Callable[[], bool], storage_empty: Any = None) -> None:
    """Wait (at most WAIT_S) until ``predicate`` holds and, if given, the queue is empty."""
    async with asyncio.timeout(WAIT_S):
        while True:
            empty = True
            if storage_empty is not None:
                empty = await storage_empty.queue_depth(INBOUND_QUEUE, INBOUND_GROUP) == 0
            if empty and predicate():
                return
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running_bots(
    tmp_path: Path,
    count: int = 1,
    *,
    api: FakeWeComServer | None = None,
    answer_messages: bool = True,
    **overrides: Any,
) -> AsyncIterator[tuple[FakeWeComServer, list[Bot]]]:
    """``count`` bots against a fake WeCom API: a new one, or ``api`` (started, kept open)."""
    async with AsyncExitStack() as stack:
        if api is None:
            api = FakeWeComServer(corp_id=CORP_ID, secret=SECRET)
            await api.start()
            stack.push_async_callback(api.close)
        base = api.base_url
        session = await stack.enter_async_context(aiohttp.ClientSession())
        bots = []
        for index in range(count):
            settings = make_settings(
                base,
                kb_sample_library=False,
                data_dir=tmp_path / f"data{index}",
                kb_dir=tmp_path / f"kb{index}",
                workers=2,
                **overrides,
            )
            app = create_app(settings, answer_messages=answer_messages)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            sender = CallbackSender(
                session, f"http://{host}:{port}/wecom/callback",
                token=TOKEN, aes_key=AES_KEY, corp_id=CORP_ID, agent_id=AGENT_ID,
            )  # fmt: skip
            bots.append(Bot(app, WeComSimulator(api, sender)))
        yield api, bots


def test_menu_click_ids_are_the_help_skills() -> None:
    assert [click for click, _ in WELCOME_OPTIONS] == list(MAIN_MENU_IDS)
    assert CONTINUE_CLICK_ID == HELP_CLICK and MORE_CLICK_ID not in MAIN_MENU_IDS


async def test_app_text_gets_a_reply_at_message_send(tmp_path: Path) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        assert await bot.sim.rep_says("zhangsan", "你好") == (200, "success")
        await until(lambda: len(api.app_sent) >= 1)
        await bot.drained()
        (reply,) = api.app_sent
        assert reply["touser"] == "zhangsan" and reply["agentid"] == AGENT_ID
        assert reply["msgtype"] == "text" and reply["text"]["content"]


async def test_a_server_without_workers_queues_and_a_worker_process_answers(
    tmp_path: Path,
) -> None:
    """``serve --no-workers`` + ``virtualrep worker`` on the embedded store (issue 22): the
    server acknowledges and queues only; the worker (same app, listening nowhere, its own
    handle on the same SQLite file as another process would have) answers, once. The audit
    sink (records/sink.py, tasks named ``records-…``) runs in the worker, not the server."""

    def audit_sinks() -> int:
        return sum(task.get_name().startswith("records-") for task in asyncio.all_tasks())

    store = {"embedded_storage": "sqlite"}  # one durable file, as two processes would share
    async with running_bots(tmp_path, answer_messages=False, **store) as (api, (bot,)):
        assert await bot.sim.rep_says("zhangsan", "你好") == (200, "success")
        storage = bot.app[STORAGE]
        assert await storage.queue_depth(INBOUND_QUEUE, INBOUND_GROUP) == 1
        assert api.app_sent == []
        assert audit_sinks() == 0
        settings = make_settings(
            api.base_url, kb_sample_library=False, data_dir=tmp_path / "data0",
            kb_dir=tmp_path / "kb0", workers=2, **store,
        )  # fmt: skip
        worker = web.AppRunner(create_app(settings), access_log=None)
        await worker.setup()
        assert audit_sinks() == 1
        try:
            await until(lambda: len(api.app_sent) >= 1, storage_empty=storage)
        finally:
            await worker.cleanup()
        (reply,) = api.app_sent
        assert reply["touser"] == "zhangsan" and reply["text"]["content"]


async def test_kf_message_is_answered_after_moving_the_state_to_1(tmp_path: Path) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好")
        await until(lambda: len(api.kf_sent) >= 1)
        await bot.drained()
        assert api.kf_state(OPEN_KFID, DOCTOR) == 1
        (reply,) = api.kf_sent
        assert reply["touser"] == DOCTOR and reply["open_kfid"] == OPEN_KFID
        assert reply["msgtype"] == "msgmenu"
        kf_calls = [
            c.path for c in api.calls if "/kf/service_state" in c.path or "send_msg" in c.path
        ]
        assert kf_calls.index("/cgi-bin/kf/service_state/trans") < kf_calls.index(
            "/cgi-bin/kf/send_msg"
        )


async def test_a_kf_batch_of_three_is_answered_in_order(tmp_path: Path) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好", "hello", "你好")
        await until(lambda: len(api.kf_sent) >= 3)
        await bot.drained()
        heads = [m["msgmenu"]["head_content"] for m in api.kf_sent]
        assert len(heads) == 3
        assert [head.startswith("您好") for head in heads] == [True, False, True]


async def test_the_same_callback_three_times_gets_exactly_one_reply(tmp_path: Path) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        xml = bot.sim.sender.app_text_xml("lisi", "你好", msg_id=123456)
        for _ in range(3):
            assert await bot.sim.sender.post(xml) == (200, "success")
        await until(lambda: len(api.app_sent) >= 1)
        await bot.drained()
        assert len(api.app_sent) == 1


async def test_token_invalidated_mid_run_one_refresh_and_delivered(tmp_path: Path) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        await bot.sim.rep_says("wangwu", "你好")
        await until(lambda: len(api.app_sent) == 1)
        api.invalidate_tokens()
        await bot.sim.rep_says("wangwu", "hello")
        await until(lambda: len(api.app_sent) == 2)
        assert len(api.calls_to("gettoken")) == 2


async def test_two_processes_sharing_redis_reply_exactly_once(
    tmp_path: Path, redis_url: str
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    async with running_bots(tmp_path, 2, redis_url=redis_url, redis_key_prefix=prefix) as (
        api,
        bots,
    ):
        callbacks = [bots[0].sim.sender.app_text_xml(f"rep{i}", "你好") for i in range(3)]
        encrypted = [bots[0].sim.sender.encrypt(xml) for xml in callbacks]
        api.queue_customer_text(OPEN_KFID, DOCTOR, "你好")
        kf_notice = bots[0].sim.sender.encrypt(
            bots[0].sim.sender.kf_event_xml(OPEN_KFID, api.issue_sync_token())
        )
        session = aiohttp.ClientSession()
        async with session:
            for query, body in [*encrypted, kf_notice]:
                for bot in bots:
                    async with session.post(bot.sim.sender.url, params=query, data=body) as r:
                        assert r.status == 200
        await until(lambda: len(api.app_sent) >= 3 and len(api.kf_sent) >= 1)
        for bot in bots:
            await bot.drained()
        assert sorted(m["touser"] for m in api.app_sent) == ["rep0", "rep1", "rep2"]
        assert len(api.kf_sent) == 1
