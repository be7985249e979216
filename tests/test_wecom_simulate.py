"""``virtualrep simulate`` over real HTTP: the page's API, the bot and the fake WeCom API."""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.cli import build_parser
from bot.settings import load_settings
from bot.wecom.simulate_cli import (
    SIMULATION,
    Credentials,
    Simulation,
    create_simulate_app,
    media,
)
from bot.wecom.simulator import FakeWeComServer, WeComSimulator

WAIT_S = 20.0  # bounds a hang only


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """The simulate app on a free 127.0.0.1 port, and a client session for it."""
    settings = load_settings(kb_sample_library=False, redis_url=None, data_dir=tmp_path)
    runner = web.AppRunner(create_simulate_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            yield f"http://{host}:{port}", session
    finally:
        await runner.cleanup()


async def events_until(
    session: aiohttp.ClientSession, base: str, done: Any
) -> list[dict[str, Any]]:
    """Long-poll the page's event feed until ``done(events)`` holds."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT_S):
        while not done(seen):
            after = seen[-1]["id"] if seen else 0
            async with session.get(f"{base}/api/events", params={"after": after, "wait": 2}) as r:
                assert r.status == 200
                seen += (await r.json())["events"]
    return seen


def bot_messages(events: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    return [e["body"] for e in events if e["role"] == role and e["from"] == "bot"]


async def test_page_is_served(page: tuple[str, aiohttp.ClientSession]) -> None:
    base, session = page
    async with session.get(f"{base}/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        html = await response.text()
    assert "/api/events" in html and "/api/doctor/click" in html and "/api/rep/click" in html
    assert "/api/media/" in html and "media_name" in html  # a file as a named download
    assert ">附件 File<input" in html  # the attach button, as text
    # A card says whose it is (a click on it answers as that member), as a message bubble does.
    card = html[html.index("function card(") : html.index("function render(")]
    assert 'class: "who" }, event.user' in card
    # No emoji: Debian's Chromium has no emoji font, and one draws as an empty box.
    assert not re.search("[\U0001f000-\U0001faff\ufe0f]", html)


async def test_a_doctor_message_gets_a_reply_through_kf(
    page: tuple[str, aiohttp.ClientSession],
) -> None:
    base, session = page
    said = {"user": "wmSimDoctor01", "text": "你好"}
    async with session.post(f"{base}/api/doctor/say", json=said) as response:
        assert response.status == 200
        assert (await response.json())["callback_status"] == 200
    events = await events_until(session, base, lambda seen: bot_messages(seen, "doctor"))
    assert events[0] == {
        "id": 1,
        "role": "doctor",
        "user": "wmSimDoctor01",
        "from": "person",
        "body": {"msgtype": "text", "text": {"content": "你好"}},
    }
    reply = bot_messages(events, "doctor")[0]
    assert reply["touser"] == "wmSimDoctor01"
    assert reply["msgtype"] in {"text", "msgmenu"}


async def test_a_doctor_voice_note_from_the_page_is_fetched_by_the_bot(
    page: tuple[str, aiohttp.ClientSession],
) -> None:
    base, session = page
    note = base64.b64encode(b"#!AMR\n" + bytes(64)).decode()
    sent = {"user": "wmSimDoctor02", "msgtype": "voice", "filename": "v.amr", "content": note}
    async with session.post(f"{base}/api/doctor/send", json=sent) as response:
        assert response.status == 200
    events = await events_until(session, base, lambda seen: bot_messages(seen, "doctor"))
    assert events[0]["body"]["text"]["content"] == "[voice] v.amr"
    reply = bot_messages(events, "doctor")[0]
    assert "语音" in reply["text"]["content"]  # no recogniser here: asked to type, note kept
    bad = {**sent, "msgtype": "video"}
    async with session.post(f"{base}/api/doctor/send", json=bad) as response:
        assert response.status == 400


async def test_a_menu_click_and_a_rep_card_button_are_sent_back(
    page: tuple[str, aiohttp.ClientSession],
) -> None:
    base, session = page
    async with session.post(f"{base}/api/doctor/enter", json={"user": "wmDoc2"}) as response:
        assert response.status == 200
    events = await events_until(session, base, lambda seen: bot_messages(seen, "doctor"))
    welcome = bot_messages(events, "doctor")[0]
    assert welcome["msgtype"] == "msgmenu"
    item = welcome["msgmenu"]["list"][0]["click"]
    click = {"user": "wmDoc2", "menu_id": item["id"], "label": item["content"]}
    async with session.post(f"{base}/api/doctor/click", json=click) as response:
        assert response.status == 200
    events = await events_until(session, base, lambda seen: len(bot_messages(seen, "doctor")) > 1)
    assert {"msgtype": "click", "label": item["content"]} in [e["body"] for e in events]

    async with session.post(f"{base}/api/rep/say", json={"user": "rep_li", "text": "你好"}) as r:
        assert r.status == 200
    await events_until(session, base, lambda seen: bot_messages(seen, "rep"))
    press = {
        "user": "rep_li",
        "key": "help",
        "label": "帮助",
        "task_id": "t1",
        "response_code": "rc",
    }
    async with session.post(f"{base}/api/rep/click", json=press) as response:
        assert response.status == 200  # a template_card_event the bot acknowledged
        assert (await response.json())["callback_status"] == 200


async def test_a_card_sent_to_a_rep_carries_its_response_code() -> None:
    """The page needs the code the fake API issued to send the card's button click back."""
    api = FakeWeComServer(corp_id="wwcorp", secret="s")
    base = await api.start()
    try:
        simulation = Simulation(api, WeComSimulator(api, None))  # type: ignore[arg-type]
        card = {"card_type": "button_interaction", "task_id": "t1", "button_list": []}
        async with aiohttp.ClientSession() as session:
            token_url = f"{base}/cgi-bin/gettoken?corpid=wwcorp&corpsecret=s"
            async with session.get(token_url) as response:
                token = (await response.json())["access_token"]
            sent = {"touser": "rep_li", "msgtype": "template_card", "template_card": card}
            send_url = f"{base}/cgi-bin/message/send?access_token={token}"
            async with session.post(send_url, json=sent) as response:
                code = (await response.json())["response_code"]
        [event] = simulation.events
        assert (event["role"], event["user"], event["from"]) == ("rep", "rep_li", "bot")
        assert event["body"]["response_code"] == code
        assert event["body"]["template_card"] == card
    finally:
        await api.close()


async def test_a_file_the_bot_sends_shows_its_name_and_size_and_downloads() -> None:
    """As WeChat shows a file message (name, size; tap to open), not its JSON."""
    api = FakeWeComServer(corp_id="wwcorp", secret="s")
    simulation = Simulation(api, WeComSimulator(api, None))  # type: ignore[arg-type]
    media_id = api.add_media("我的数据.txt", "资料 profile".encode())
    sent = {
        "touser": "wmDoc",
        "open_kfid": "wk1",
        "msgtype": "file",
        "file": {"media_id": media_id},
    }
    for listener in api.listeners:  # what the fake API does for a delivered kf message
        listener("kf", sent)
    listener("kf", {**sent, "file": {"media_id": "unknown"}})
    shown = [event["body"] for event in simulation.events]
    assert shown[0] == {**sent, "media_name": "我的数据.txt", "media_size": 14}
    assert "media_name" not in shown[1]  # not uploaded here: shown as it came
    app = web.Application()
    app[SIMULATION] = simulation
    app.router.add_get("/api/media/{media_id}", media)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{host}:{port}/api/media/{media_id}") as response:
                assert response.status == 200 and response.content_type == "text/plain"
                assert "filename*=UTF-8''%E6%88%91" in response.headers["Content-Disposition"]
                assert await response.read() == "资料 profile".encode()
            async with session.get(f"http://{host}:{port}/api/media/unknown") as response:
                assert response.status == 404
    finally:
        await runner.cleanup()


async def test_the_api_takes_only_json_objects(page: tuple[str, aiohttp.ClientSession]) -> None:
    base, session = page
    async with session.post(f"{base}/api/rep/say", data="user=x&text=y") as response:
        assert response.status == 415  # a form post from another site needs no preflight
    async with session.post(f"{base}/api/rep/say", json={"user": "x"}) as response:
        assert response.status == 400


def test_credentials_and_command() -> None:
    credentials = Credentials.generate()
    assert len(credentials.aes_key) == 43 and credentials.aes_key.isalnum()
    settings = credentials.apply(load_settings(), "http://127.0.0.1:1")
    assert settings.wecom_configured and settings.wecom_api_base == "http://127.0.0.1:1"
    args = build_parser().parse_args(["simulate", "--port", "9999"])
    assert isinstance(args, argparse.Namespace) and args.port == 9999 and callable(args.handler)


async def test_a_restarted_simulation_answers_on_the_durable_default(tmp_path: Path) -> None:
    """The fake WeCom starts empty on every run; the bot's state (SQLite) does not."""
    settings = load_settings(
        kb_sample_library=False, redis_url=None, embedded_storage="sqlite", data_dir=tmp_path
    )
    for _run in range(2):
        runner = web.AppRunner(create_simulate_app(settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                said = {"user": "wmSimDoctor01", "text": "你好"}
                async with session.post(f"{base}/api/doctor/say", json=said) as response:
                    assert (await response.json())["callback_status"] == 200
                await events_until(session, base, lambda seen: bot_messages(seen, "doctor"))
        finally:
            await runner.cleanup()
    assert (tmp_path / "state.sqlite3").exists()


async def test_a_rep_who_took_a_doctor_over_replies_and_ends_from_the_workbench(
    page: tuple[str, aiohttp.ClientSession],
) -> None:
    """The takeover journey does not end at "reply in WeCom's kf workbench": the page has
    one. Only the member serving the session may use it; the bot stays silent meanwhile and
    has the doctor back once the session is ended."""
    base, session = page
    doctor = "wmWorkbench01"

    async def post(path: str, body: dict[str, str]) -> int:
        async with session.post(f"{base}{path}", json=body) as response:
            return response.status

    assert await post("/api/doctor/say", {"user": doctor, "text": "转人工"}) == 200
    events = await events_until(
        session,
        base,
        lambda seen: any(b["msgtype"] == "template_card" for b in bot_messages(seen, "rep")),
    )
    card = next(e for e in events if e["body"]["msgtype"] == "template_card")
    template = card["body"]["template_card"]
    accept = next(b for b in template["button_list"] if b["key"].startswith("handoff:accept"))
    click = {
        "user": card["user"],
        "key": accept["key"],
        "label": accept["text"],
        "task_id": template["task_id"],
        "response_code": card["body"]["response_code"],
    }
    assert await post("/api/rep/click", click) == 200
    await events_until(
        session, base, lambda seen: any("正在接入" in str(b) for b in bot_messages(seen, "doctor"))
    )
    stranger = "mgr_zhao" if card["user"] != "mgr_zhao" else "rep_wang"

    said = {"user": stranger, "doctor": doctor, "text": "我来回答"}
    assert await post("/api/workbench/say", said) == 409
    said = {"user": card["user"], "doctor": doctor, "text": "您好，我是您的代表"}
    assert await post("/api/workbench/say", said) == 200
    assert await post("/api/doctor/say", {"user": doctor, "text": "诺拉维怎么吃"}) == 200
    assert await post("/api/workbench/end", {"user": card["user"], "doctor": doctor}) == 200
    assert await post("/api/doctor/say", {"user": doctor, "text": "你好"}) == 200

    events = await events_until(
        session, base, lambda seen: any("结束" in str(b) for b in bot_messages(seen, "doctor"))
    )
    doctor_side = [(e["from"], e["body"]) for e in events if e["role"] == "doctor"]
    servicer = [body for origin, body in doctor_side if origin == "servicer"]
    assert servicer[0]["text"]["content"] == "您好，我是您的代表"
    assert servicer[1]["msgtype"] == "session_ended"
    # Silent while human: the bot's next message after announcing the rep is the notice that
    # the rep ended the session (a reply to "诺拉维怎么吃" would have come before it).
    from_bot = [str(body) for origin, body in doctor_side if origin == "bot"]
    announced = next(i for i, text in enumerate(from_bot) if "正在接入" in text)
    assert "代表已结束" in from_bot[announced + 1]
    assert "我来回答" not in str(doctor_side)
