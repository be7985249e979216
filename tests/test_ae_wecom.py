"""The report form over real HTTP: the kf callback, the full app, the fake WeCom API, PV's
webhook on 127.0.0.1 — what a doctor types and what leaves the bot.

"不同意" at the consent question records no consent, asks no contact and sends none to PV; an
identifier typed at the onset question never appears in the exports, the webhook body, the
cards and messages sent to WeCom, or the stored state.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.audit import AUDIT_QUEUE
from bot.keys import STORAGE
from bot.middlewares import conversation_storage_key
from bot.wecom.simulator import FakeWeComServer
from skills.adverse_events.delivery import TIMESTAMP_HEADER
from tests.local_http import serving
from tests.test_handoff_wecom import kf_texts
from tests.test_wecom_app import Bot, running_bots, until
from tests.wecom_harness import OPEN_KFID

DOCTOR = "wmDOCTORAE0001"
PV = "pv_chen"
REPORT = "患者ZS，45岁男性，服用诺拉维后出现皮疹，已住院，目前好转"
PHONE = "13812345678"


@dataclass
class Receiver:
    """PV's webhook: keeps every body it was sent."""

    url: str = ""
    bodies: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        assert request.headers[TIMESTAMP_HEADER]
        self.bodies.append((await request.read()).decode("utf-8"))
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    app = web.Application()
    app.router.add_post("/pv", made.handle)
    async with serving(app) as base_url:
        made.url = f"{base_url}/pv"
        yield made


async def _say(api: FakeWeComServer, bot: Bot, text: str) -> list[str]:
    """The doctor types ``text`` on kf; returns what the bot sent back."""
    before = len(api.kf_sent)
    await bot.sim.doctor_says(OPEN_KFID, DOCTOR, text)
    await until(lambda: len(api.kf_sent) > before)
    await bot.drained()
    return kf_texts(api)[before:]


def _settings(tmp_path: Path, receiver: Receiver) -> dict[str, Any]:
    return {
        "pv_users": PV,
        "pv_webhook_url": receiver.url,
        "pv_webhook_secret": "pv-secret",
        "pv_export_dir": tmp_path / "pv",
    }


async def _report_up_to_consent(api: FakeWeComServer, bot: Bot, onset: str) -> None:
    assert "什么时候" in (await _say(api, bot, REPORT))[-1]
    assert "其他药物" in (await _say(api, bot, onset))[-1]
    assert "同意" in (await _say(api, bot, "无"))[-1]  # the consent question


async def test_no_consent_at_the_kf_callback_asks_no_contact_and_sends_none(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with running_bots(tmp_path, **_settings(tmp_path, receiver)) as (api, (bot,)):
        await _report_up_to_consent(api, bot, "3天前")
        summary = await _say(api, bot, "不同意")
        assert "报告摘要" in summary[-1] and not any("联系方式" in t for t in summary)
        done = await _say(api, bot, "确认")
        assert "已提交" in done[-1]
        await until(lambda: bool(receiver.bodies) and any(b["touser"] == PV for b in api.app_sent))
        document = json.loads(receiver.bodies[0])
        assert document["reporter"]["consent_to_follow_up"] is False
        assert "preferred_contact" not in document["reporter"]
        cards = [body for body in api.app_sent if body["touser"] == PV]
        assert cards and all("联系" not in json.dumps(c, ensure_ascii=False) for c in cards)


async def test_an_identifier_typed_at_the_onset_question_never_leaves_or_stays(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with running_bots(tmp_path, **_settings(tmp_path, receiver)) as (api, (bot,)):
        await _report_up_to_consent(api, bot, f"3天前开始，患者电话{PHONE}")
        await _say(api, bot, "不同意")
        await _say(api, bot, "确认")
        export_dir = tmp_path / "pv"
        await until(
            lambda: (
                bool(receiver.bodies)
                and any(b["touser"] == PV for b in api.app_sent)
                and len(list(export_dir.glob("*"))) >= 2
            )
        )
        outputs = {
            "webhook": "\n".join(receiver.bodies),
            "exports": "\n".join(p.read_text("utf-8") for p in export_dir.glob("*")),
            "wecom app": json.dumps(api.app_sent, ensure_ascii=False),
            "wecom kf": json.dumps(api.kf_sent, ensure_ascii=False),
        }
        storage = bot.app[STORAGE]
        conversation = await storage.get_json(conversation_storage_key(f"kf:{OPEN_KFID}:{DOCTOR}"))
        document = json.loads(receiver.bodies[0])
        case = await storage.get_json(f"ae:case:{document['case_id']}")
        outputs["state"] = json.dumps([conversation, case], ensure_ascii=False)
        trail = await storage.consume(AUDIT_QUEUE, "test-audit", "t", count=10_000, block_ms=0)
        outputs["audit"] = json.dumps([e.payload for e in trail], ensure_ascii=False)
        for where, text in outputs.items():
            assert PHONE not in text and "138 1234 5678" not in text, where
        assert "3天前开始" in outputs["exports"]  # the onset itself is kept, masked
        assert "[电话已隐藏]" in outputs["exports"]
