"""The durable outbox end to end: encrypted callbacks in, the fake WeCom API failing the way
WeCom does, the full app (``create_app``) on the embedded store and on a real redis-server.

Nothing here measures speed: short backoff settings make retries quick, and every wait is
bounded by ``until``'s generous timeout only to stop a hang.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.dead_letters import DeadLetters
from bot.keys import QUEUE_MONITOR, SERVICES, STORAGE
from bot.metrics import Metrics
from bot.models import Channel, OutboundMessage, TextReply
from bot.outbox import (
    HELD_RECHECK_S,
    OUTBOX_DEAD_QUEUE,
    OUTBOX_SCHEDULE,
    Job,
    Outbox,
    Outcome,
    SaveProgress,
)
from bot.storage.base import Storage
from bot.wecom.senders import KfSender
from bot.wecom.simulator import FakeWeComServer
from tests.test_wecom_app import Bot, running_bots, until
from tests.wecom_harness import CORP_ID, OPEN_KFID, SECRET

DOCTOR = "wmDOCTOROUTBOX01"
CONVERSATION = f"kf:{OPEN_KFID}:{DOCTOR}"
SEND = "kf/send_msg"
QUICK = {
    "outbox_backoff_s": 0.05,
    "outbox_backoff_max_s": 0.2,
    "kf_sync_retry_s": 0.05,
    "wecom_timeout_s": 0.3,
}


def settings_on(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if backend == "embedded":
        return dict(QUICK)
    redis_url: str = request.getfixturevalue("redis_url")
    return {**QUICK, "redis_url": redis_url, "redis_key_prefix": f"t-{uuid.uuid4().hex[:8]}:"}


@pytest.fixture(params=["embedded", "redis"])
def backend_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    return settings_on(request.param, request)


def on_both_backends(faults: dict[str, Any], on_redis: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every fault on the embedded store; on Redis only ``on_redis``: a fault takes the same
    path through the outbox's stored jobs whichever it is (a retry scheduled and saved), so
    the backend is exercised by a few, not by every one again (each case starts an app)."""
    return [("embedded", fault) for fault in faults] + [("redis", fault) for fault in on_redis]


def shown(body: dict[str, Any]) -> str:
    """What the doctor reads first in a kf message: the text, or the menu's head."""
    return str(body.get("text", {}).get("content") or body["msgmenu"]["head_content"])


def kf_sender(bot: Bot) -> KfSender:
    sender = bot.app[SERVICES].senders[Channel.KF]
    assert isinstance(sender, KfSender)
    return sender


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (bounded, to stop a hang) until ``check`` holds."""
    async with asyncio.timeout(20):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def settled(bot: Bot) -> None:
    """Every message handled and the outbox of the conversation empty."""
    await bot.drained()
    outbox = kf_sender(bot).outbox
    await eventually(lambda: _empty(outbox.pending(CONVERSATION)))


async def _empty(items: Awaitable[list[Any]]) -> bool:
    return not await items


async def _any(items: Awaitable[list[Any]]) -> bool:
    return bool(await items)


async def _held_back(bot: Bot, job_ids: list[str]) -> bool:
    """The conversation's outbox holds exactly ``job_ids`` and its drain stopped on the first
    one (held: the next look is ``HELD_RECHECK_S`` away, not a retry or a drain's lease)."""
    pending = await kf_sender(bot).outbox.pending(CONVERSATION)
    items = await bot.app[STORAGE].scheduled(OUTBOX_SCHEDULE)
    due = [item.due_at for item in items if item.item_id == CONVERSATION]
    recheck_after = datetime.now(UTC) + timedelta(seconds=HELD_RECHECK_S / 2)
    return [job.id for job in pending] == job_ids and bool(due) and due[0] > recheck_after


FAULTS: dict[str, Callable[[FakeWeComServer], None]] = {
    "45009 once": lambda api: api.fail_next(SEND, 45009),
    "-1 four times": lambda api: api.fail_next(SEND, -1, times=4),
    "HTTP 502 for a while": lambda api: api.fail_http_next(SEND, 502, times=10),
    "42001 twice in a row": lambda api: api.fail_next(SEND, 42001, times=2),
    "timeouts": lambda api: api.stall_next(SEND, 1.0, times=5),
}


@pytest.mark.parametrize(
    ("backend", "fault"), on_both_backends(FAULTS, ("-1 four times", "timeouts"))
)
async def test_replies_survive_wecom_faults_once_and_in_order(
    backend: str, fault: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with running_bots(tmp_path, **settings_on(backend, request)) as (api, (bot,)):
        FAULTS[fault](api)
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好", "hello")
        await until(lambda: len(api.kf_sent) >= 2)
        await settled(bot)
        assert [shown(m).startswith("您好") for m in api.kf_sent] == [True, False]
        assert len({m["msgid"] for m in api.kf_sent}) == len(api.kf_sent) == 2
        assert any(call.errcode for call in api.calls_to(SEND))  # the fault did cross


async def test_a_reply_beyond_the_bound_is_dead_lettered_alerted_and_replayed_once(
    backend_settings: dict[str, Any], tmp_path: Path
) -> None:
    settings = {**backend_settings, "outbox_give_up_s": 0.2}
    async with running_bots(tmp_path, **settings) as (api, (bot,)):
        api.fail_next(SEND, -1, times=4)  # one attempt's worth, which outlasts the bound
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好")
        storage = bot.app[STORAGE]
        letters = DeadLetters(
            storage, operator="test", dedup_ttl_s=3600, outbox=kf_sender(bot).outbox
        )
        await eventually(lambda: _any(letters.unresolved(OUTBOX_DEAD_QUEUE)))
        assert api.kf_sent == []
        assert OUTBOX_DEAD_QUEUE in await bot.app[QUEUE_MONITOR].check()  # the alert is up
        (entry,) = await letters.unresolved(OUTBOX_DEAD_QUEUE)
        assert entry.payload["job"]["conversation_key"] == CONVERSATION
        assert await letters.replay(entry)
        await settled(bot)
        assert len(api.kf_sent) == 1 and shown(api.kf_sent[0]).startswith("您好")
        assert await letters.unresolved(OUTBOX_DEAD_QUEUE) == []
        assert OUTBOX_DEAD_QUEUE not in await bot.app[QUEUE_MONITOR].check()
        assert await letters.find(OUTBOX_DEAD_QUEUE, entry.entry_id) is None  # replayed once


async def test_replies_beyond_the_budget_wait_in_order_for_the_doctor(
    backend_settings: dict[str, Any], tmp_path: Path
) -> None:
    """Only five replies go out after the doctor's last message; the rest wait, in order, for
    the next one. Independent of the machine's speed: the WeCom timeout is generous (a send cut
    off by a starved event loop after the fake API took it would be sent again: a sixth), and
    the test waits for the outbox to have held the sixth back, not for a moment to pass."""
    settings = {**backend_settings, "wecom_timeout_s": 30.0}
    async with running_bots(tmp_path, **settings) as (api, (bot,)):
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好")
        await until(lambda: len(api.kf_sent) == 1)
        sender = kf_sender(bot)
        for index in range(6):  # six more replies due in the window: seven in all
            await sender.send(
                OutboundMessage(
                    channel=Channel.KF,
                    conversation_key=CONVERSATION,
                    recipient_id=DOCTOR,
                    replies=(TextReply(text=f"通知{index}"),),
                    in_reply_to=f"notice-{index}",
                    extra={"open_kfid": OPEN_KFID},
                )
            )
        # A drain that found the conversation busy comes back a second later (scheduler).
        await until(lambda: len(api.kf_sent) == 5)  # WeCom's budget: 5 after the doctor's
        await eventually(lambda: _held_back(bot, ["notice-4", "notice-5"]))
        assert len(api.kf_sent) == 5  # last message, never more
        assert [shown(m)[:3] for m in api.kf_sent[1:]] == ["通知0", "通知1", "通知2", "通知3"]
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "好的")
        await until(lambda: len(api.kf_sent) >= 8)
        await settled(bot)
        assert [shown(m)[:3] for m in api.kf_sent[5:7]] == ["通知4", "通知5"]
        assert len(api.kf_sent) == 8  # then the answer to "好的"
        assert all(call.errcode == 0 for call in api.calls_to(SEND))


SYNC_FAULTS: dict[str, Callable[[FakeWeComServer], None]] = {
    "45009 then -1 four times": lambda api: (
        api.fail_next("kf/sync_msg", 45009),
        api.fail_next("kf/sync_msg", -1, times=4),
    ),
    "HTTP 502": lambda api: api.fail_http_next("kf/sync_msg", 502, times=6),
}


@pytest.mark.parametrize(
    ("backend", "fault"), on_both_backends(SYNC_FAULTS, ("45009 then -1 four times",))
)
async def test_a_failed_sync_is_retried_without_a_new_callback(
    backend: str, fault: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with running_bots(tmp_path, **settings_on(backend, request)) as (api, (bot,)):
        SYNC_FAULTS[fault](api)
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好")
        await until(lambda: len(api.kf_sent) == 1)
        assert any(call.errcode for call in api.calls_to("kf/sync_msg"))


async def test_a_lost_callback_is_made_up_for_by_the_periodic_sync(
    backend_settings: dict[str, Any], tmp_path: Path
) -> None:
    async with running_bots(tmp_path, kf_sync_interval_s=1, **backend_settings) as (
        api,
        (bot,),
    ):
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好")
        await until(lambda: len(api.kf_sent) == 1)
        api.queue_customer_text(OPEN_KFID, DOCTOR, "hello")  # its callback never comes
        await until(lambda: len(api.kf_sent) == 2)
        assert not shown(api.kf_sent[1]).startswith("您好")


async def test_a_reply_waiting_for_its_retry_survives_a_restart(
    redis_url: str, tmp_path: Path
) -> None:
    settings = {**QUICK, "redis_url": redis_url, "redis_key_prefix": f"t-{uuid.uuid4().hex[:8]}:"}
    api = FakeWeComServer(corp_id=CORP_ID, secret=SECRET)
    await api.start()
    try:
        async with running_bots(tmp_path, api=api, **settings) as (_, (bot,)):
            api.fail_next(SEND, -1, times=1000)  # WeCom busy until this process stops
            await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好")
            await eventually(lambda: _any(kf_sender(bot).outbox.pending(CONVERSATION)))
            await bot.drained()
        api.clear_failures()
        async with running_bots(tmp_path, api=api, **settings) as (_, (bot,)):  # a new process
            await until(lambda: len(api.kf_sent) == 1)
            await settled(bot)
            assert shown(api.kf_sent[0]).startswith("您好")
    finally:
        await api.close()


async def test_two_replicas_retrying_one_reply_deliver_it_once(
    redis_url: str, tmp_path: Path
) -> None:
    settings = {**QUICK, "redis_url": redis_url, "redis_key_prefix": f"t-{uuid.uuid4().hex[:8]}:"}
    async with running_bots(tmp_path, 2, **settings) as (api, bots):
        api.fail_next(SEND, -1, times=12)  # three attempts' worth
        await bots[0].sim.doctor_says(OPEN_KFID, DOCTOR, "你好", "hello")
        await until(lambda: len(api.kf_sent) >= 2)
        for bot in bots:
            await settled(bot)
        await asyncio.sleep(1.5)  # a scheduler round of both replicas: nothing more is sent
        assert [shown(m).startswith("您好") for m in api.kf_sent] == [True, False]


async def test_a_job_the_code_cannot_send_is_set_aside_and_the_next_one_goes(
    storage: Storage,
) -> None:
    sent: list[str] = []

    async def transport(job: Job, save: SaveProgress) -> Outcome:
        if job.data.get("broken"):
            raise KeyError("units")
        sent.append(job.id)
        return Outcome.DONE

    outbox = Outbox(storage, Metrics())
    outbox.register(Channel.APP, transport)
    await outbox.put(Channel.APP, "app:u1", {"broken": True}, job_id="first")
    await outbox.put(Channel.APP, "app:u1", {}, job_id="second")
    assert sent == ["second"] and await outbox.pending("app:u1") == []
    [dead] = await storage.unacknowledged(OUTBOX_DEAD_QUEUE, "ops")
    assert dead.payload["job"]["id"] == "first" and dead.payload["reason"].startswith("KeyError")
    assert await storage.scheduled(OUTBOX_SCHEDULE) == []
