"""The callback endpoint over real HTTP: verification, rejections, dedup, app messages."""

from __future__ import annotations

import asyncio
import io
import random
import time
from typing import Any

import pytest

from bot.models import Channel, MessageKind
from bot.storage.memory import MemoryStorage
from bot.wecom.simulator import CallbackSender, xml_message
from handlers.wecom_callback import WECOM_CALLBACK, signature
from tests.wecom_harness import AES_KEY, CORP_ID, TOKEN, Stack, enqueued, wecom_stack


async def post_raw(stack: Stack, query: dict[str, str], body: bytes) -> tuple[int, str]:
    data = io.BytesIO(body)  # aiohttp warns about large raw-bytes bodies
    async with stack.session.post(stack.replicas[0].url, params=query, data=data) as response:
        return response.status, await response.text()


async def test_get_verification_answers_the_plain_echo() -> None:
    async with wecom_stack() as stack:
        sender = stack.simulator().sender
        query = sender.verification_query("1616140317555161061")
        async with stack.session.get(sender.url, params=query) as response:
            assert response.status == 200
            assert await response.text() == "1616140317555161061"
        forged = {**query, "msg_signature": "0" * 40}
        async with stack.session.get(sender.url, params=forged) as response:
            assert response.status == 403


async def test_app_text_and_card_click_are_enqueued() -> None:
    async with wecom_stack() as stack:
        sim = stack.simulator()
        assert await sim.rep_says("zhangsan", "下周拜访名单") == (200, "success")
        assert await sim.rep_clicks("zhangsan", "approve", "task-1", "rc-1") == (200, "success")
        text, click = await enqueued(stack.storage)
        assert (text.channel, text.kind, text.text) == (
            Channel.APP,
            MessageKind.TEXT,
            "下周拜访名单",
        )
        assert text.conversation_key == "app:zhangsan" and text.sender_id == "zhangsan"
        assert click.kind is MessageKind.CLICK and click.click_id == "approve"
        assert click.raw_ids["TaskId"] == "task-1" and click.raw_ids["ResponseCode"] == "rc-1"


async def test_the_same_callback_three_times_is_enqueued_once() -> None:
    async with wecom_stack() as stack:
        sender = stack.simulator().sender
        query, body = sender.encrypt(sender.app_text_xml("lisi", "hello", msg_id=42))
        for _ in range(3):
            assert await post_raw(stack, query, body) == (200, "success")
        assert [m.message_id for m in await enqueued(stack.storage)] == ["42"]


class _HeldStorage(MemoryStorage):
    """Memory storage whose enqueue says it was called (``entered``), then waits for ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    async def enqueue_once(self, *args: Any, **kwargs: Any) -> int | None:
        self.entered.set()
        await self.release.wait()
        return await super().enqueue_once(*args, **kwargs)


async def test_a_callback_is_in_flight_for_the_workers_until_it_is_acknowledged() -> None:
    """What in-process workers wait on (bot.pipeline.CallbacksInFlight, issue 22)."""
    storage = _HeldStorage()
    async with wecom_stack(storage=storage) as stack:
        in_flight = stack.replicas[0].app[WECOM_CALLBACK].in_flight
        sender = stack.simulator().sender
        posting = asyncio.create_task(
            post_raw(stack, *sender.encrypt(sender.app_text_xml("a", "hi")))
        )
        await asyncio.wait_for(storage.entered.wait(), 20)
        with pytest.raises(TimeoutError):  # the callback waits for its enqueue: in flight
            await asyncio.wait_for(in_flight.none_pending(3600), 0.2)
        storage.release.set()
        assert await posting == (200, "success")
        await asyncio.wait_for(in_flight.none_pending(3600), 20)  # returns at once now


async def test_unknown_types_are_acknowledged_and_ignored() -> None:
    async with wecom_stack() as stack:
        sender = stack.simulator().sender
        xml = xml_message({"ToUserName": CORP_ID, "FromUserName": "u", "CreateTime": 1,
                           "MsgType": "event", "Event": "enter_agent"})  # fmt: skip
        assert await sender.post(xml) == (200, "success")
        assert await enqueued(stack.storage) == []


def hostile_bodies(sender: CallbackSender) -> dict[str, tuple[dict[str, str], bytes, int]]:
    """Named attacks: (query, body, expected status)."""
    query, body = sender.encrypt(sender.app_text_xml("wangwu", "hi"))
    forged = {**query, "msg_signature": "f" * 40}
    stale_query, stale_body = sender.encrypt(
        sender.app_text_xml("wangwu", "hi"), timestamp=int(time.time()) - 3600
    )
    other_corp = CallbackSender(
        sender._session, sender.url, token=TOKEN, aes_key=AES_KEY, corp_id="wwSOMEONEELSE"
    )
    other_query, other_body = other_corp.encrypt(other_corp.app_text_xml("wangwu", "hi"))
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<xml><Encrypt>&xxe;</Encrypt></xml>"
    )
    laughs = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    laughs += b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    laughs += b"]><xml><Encrypt>&lol9;</Encrypt></xml>"
    return {
        "forged signature": (forged, body, 403),
        "missing signature": ({"timestamp": query["timestamp"], "nonce": "n"}, body, 403),
        "stale timestamp": (stale_query, stale_body, 403),
        "wrong corp id": (other_query, other_body, 403),
        "xxe": (query, xxe, 400),
        "billion laughs": (query, laughs, 400),
        "malformed xml": (query, b"<xml><Encrypt>abc</Encr", 400),
        "one mebibyte": (query, b"<xml>" + b" " * (1024 * 1024) + b"</xml>", 413),
    }


@pytest.mark.parametrize(
    "attack",
    ["forged signature", "missing signature", "stale timestamp", "wrong corp id", "xxe",
     "billion laughs", "malformed xml", "one mebibyte"],
)  # fmt: skip
async def test_hostile_callbacks_are_rejected_and_nothing_is_enqueued(attack: str) -> None:
    async with wecom_stack() as stack:
        query, body, expected = hostile_bodies(stack.simulator().sender)[attack]
        status, text = await post_raw(stack, query, body)
        assert status == expected
        assert TOKEN not in text and AES_KEY not in text and "Traceback" not in text
        assert await enqueued(stack.storage) == []


async def test_streamed_body_over_the_limit_is_rejected() -> None:
    """Without Content-Length (chunked), the size is enforced while reading."""
    async with wecom_stack() as stack:
        query, _ = stack.simulator().sender.encrypt("<xml/>")

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(80):
                yield b" " * 1024

        async with stack.session.post(stack.replicas[0].url, params=query, data=chunks()) as resp:
            assert resp.status == 413
        assert await enqueued(stack.storage) == []


def strange_inner_xml(rng: random.Random, n: int) -> str:
    """A correctly signed callback's plaintext that WeCom would never send: random message types,
    missing or extra fields, odd values (huge, empty, control characters, markup, entities)."""
    values = ["", "0", "-1", "abc", "9" * 40, "中文内容" * 300, "<b>x</b>", "]]>", "&amp;",
              "\x00\x01", "\ud7ff", "😀" * 50, " " * 10]  # fmt: skip
    fields: dict[str, str | int] = {"ToUserName": CORP_ID}
    candidates = [
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Content",
        "MsgId",
        "AgentID",
        "Event",
        "EventKey",
        "TaskId",
        "MediaId",
        "OpenKfId",
        "Token",
        "Extra",
    ]
    for name in rng.sample(candidates, rng.randint(0, len(candidates))):
        fields[name] = rng.choice(values)
    if rng.random() < 0.7:
        fields["MsgType"] = rng.choice(["text", "image", "voice", "event", "location", "x"])
    if fields.get("MsgType") == "event" and rng.random() < 0.7:
        fields["Event"] = rng.choice(["click", "template_card_event", "kf_msg_or_event", "?"])
    if rng.random() < 0.5:
        fields["FromUserName"] = f"fuzz-{n}"
    if rng.random() < 0.5:
        fields["MsgId"] = str(n)
    return xml_message(fields)


async def test_signed_callbacks_with_strange_contents_never_fail_the_endpoint() -> None:
    """Whatever a correctly signed body decrypts to, the answer is 200 or 400 — never a crash —
    and only complete app messages from a member reach the queue, each once."""
    rng = random.Random(20261122)
    async with wecom_stack() as stack:
        sender = stack.simulator().sender
        statuses: dict[int, int] = {}
        for n in range(300):
            query, body = sender.encrypt(strange_inner_xml(rng, n))
            status, text = await post_raw(stack, query, body)
            assert (status, text) in {(200, "success"), (400, "bad request")}
            statuses[status] = statuses.get(status, 0) + 1
        assert statuses[200] > 100 and statuses[400] > 10  # both paths were exercised
        queued = await enqueued(stack.storage)
        assert len({m.message_id for m in queued}) == len(queued)
        assert all(m.sender_id and m.conversation_key == f"app:{m.sender_id}" for m in queued)


@pytest.mark.parametrize(
    "timestamp", ["9" * 400, "17e8", "-1700000000", "１７００", "1700000000.5", " 1700000000"]
)
async def test_a_malformed_timestamp_is_a_bad_request_even_when_signed(timestamp: str) -> None:
    """Not digits, or absurdly long: 400 (never a 500 from an overflow), nothing enqueued."""
    async with wecom_stack() as stack:
        sender = stack.simulator().sender
        query, body = sender.encrypt(sender.app_text_xml("wangwu", "hi"))
        encrypted = body.decode().split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        signed = signature(TOKEN, timestamp, query["nonce"], encrypted)
        status, text = await post_raw(
            stack, {**query, "timestamp": timestamp, "msg_signature": signed}, body
        )
        assert (status, text) == (400, "bad request")
        assert await enqueued(stack.storage) == []
