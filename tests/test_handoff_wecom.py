"""Handoff over real HTTP against the fake WeCom API (the full app from ``create_app``).

A doctor asks for a rep on kf → a button_interaction card reaches the rep through the app →
the rep's click moves the kf session to state 3 with the rep as servicer and updates the card
→ the bot stays silent → ``/release`` ends the session and the bot greets the doctor back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.keys import METRICS, STORAGE, WECOM
from bot.middlewares import load_conversation
from bot.models import ConversationMode
from bot.profiles import ProfileStore
from bot.wecom.simulator import FakeWeComServer
from skills.handoff.kf_control import TransferRefused, WeComKfControl
from tests.test_wecom_app import running_bots, until
from tests.wecom_harness import OPEN_KFID

DOCTOR = "wmDOCTORHANDOFF1"
REP = "rep_zhang"  # an active servicer of the fake kf account


def write_roster(tmp_path: Path) -> Path:
    """Everyone works around the clock, so the test does not depend on when it runs."""
    path = tmp_path / "roster.yaml"
    path.write_text(
        "timezone: Asia/Shanghai\n"
        "hours: [mon-sun 00:00-23:59]\n"
        f"reps: {{{REP}: {{name: 张伟, backups: [rep_li]}}}}\n"
        f"doctors: {{{DOCTOR}: {REP}}}\n"
        "pool: [rep_wang]\n",
        encoding="utf-8",
    )
    return path


def cards_to(api: FakeWeComServer, userid: str) -> list[dict[str, Any]]:
    return [
        body["template_card"]
        for body in api.app_sent
        if body["touser"] == userid and body["msgtype"] == "template_card"
    ]


def texts_to(api: FakeWeComServer, userid: str) -> list[str]:
    return [
        body["text"]["content"]
        for body in api.app_sent
        if body["touser"] == userid and body["msgtype"] == "text"
    ]


def kf_texts(api: FakeWeComServer) -> list[str]:
    return [
        str(body.get("text", {}).get("content") or body.get("msgmenu", {}).get("head_content"))
        for body in api.kf_sent
    ]


def latest_response_code(api: FakeWeComServer) -> str:
    """The code the fake API issued with the newest card (WeCom sends it with the click)."""
    issued = [code for code, used in api._response_codes.items() if not used]
    return issued[-1]


async def test_card_click_moves_kf_to_state_3_and_release_brings_the_bot_back(
    tmp_path: Path,
) -> None:
    async with running_bots(tmp_path, rep_roster=write_roster(tmp_path)) as (api, (bot,)):
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "转人工")
        await until(lambda: bool(cards_to(api, REP)) and bool(api.kf_sent))
        assert "张伟" in kf_texts(api)[0]
        card = cards_to(api, REP)[0]
        assert card["card_type"] == "button_interaction"
        accept = card["button_list"][0]["key"]
        assert accept.startswith("handoff:accept:")
        assert any("医生要求联系代表" in text for text in texts_to(api, REP))

        code = latest_response_code(api)
        await bot.sim.rep_clicks(REP, accept, card["task_id"], code)
        await until(lambda: api.kf_state(OPEN_KFID, DOCTOR) == 3)
        trans = api.calls_to("/cgi-bin/kf/service_state/trans")[-1]
        assert trans.body is not None and trans.body["servicer_userid"] == REP
        await until(lambda: bool(api.calls_to("/cgi-bin/message/update_template_card")))
        update = api.calls_to("/cgi-bin/message/update_template_card")[0].body
        assert update is not None and update["response_code"] == code
        assert "张伟已接管" in update["button"]["replace_name"]
        await until(lambda: any("已接管" in t for t in texts_to(api, REP)))
        assert any("正在接入" in text for text in kf_texts(api))

        sent = len(api.kf_sent)
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "张代表您好")
        await bot.drained()
        assert len(api.kf_sent) == sent  # the bot is silent while the rep has the session
        conversation = await load_conversation(bot.app[STORAGE], f"kf:{OPEN_KFID}:{DOCTOR}")
        assert conversation is not None and conversation.mode is ConversationMode.HUMAN

        await bot.sim.rep_says(REP, f"/release {DOCTOR}")
        await until(lambda: api.kf_state(OPEN_KFID, DOCTOR) == 4)
        await bot.drained()
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "谢谢")
        await until(lambda: len(api.kf_sent) > sent)
        assert "助手继续为您服务" in kf_texts(api)[sent]


async def test_servicer_not_active_is_explained_to_the_rep(tmp_path: Path) -> None:
    async with running_bots(tmp_path, rep_roster=write_roster(tmp_path)) as (api, (bot,)):
        api.servicers[REP] = 1  # paused in the kf workbench
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "talk to a rep")
        await until(lambda: bool(cards_to(api, REP)))
        card = cards_to(api, REP)[0]
        code = latest_response_code(api)
        await bot.sim.rep_clicks(REP, card["button_list"][0]["key"], card["task_id"], code)
        await until(lambda: any("95014" in text for text in texts_to(api, REP)))
        assert api.kf_state(OPEN_KFID, DOCTOR) == 1
        assert not api.calls_to("/cgi-bin/message/update_template_card")

        api.servicers[REP] = 0  # the rep follows the advice
        await bot.sim.rep_says(REP, f"/takeover {DOCTOR}")
        await until(lambda: api.kf_state(OPEN_KFID, DOCTOR) == 3)


def write_roles_roster(tmp_path: Path) -> Path:
    """rep_zhang serves DOCTOR; mgr_zhao manages the team but is no kf servicer."""
    path = tmp_path / "roster.yaml"
    path.write_text(
        "timezone: Asia/Shanghai\n"
        "hours: [mon-sun 00:00-23:59]\n"
        "reps:\n"
        f"  {REP}: {{name: 张伟, team: east}}\n"
        "  mgr_zhao: {name: 赵敏, roles: [manager], team: east}\n"
        f"doctors: {{{DOCTOR}: {REP}}}\n",
        encoding="utf-8",
    )
    return path


async def test_a_non_roster_member_is_refused_everything_through_the_callback(
    tmp_path: Path,
) -> None:
    async with running_bots(tmp_path, rep_roster=write_roles_roster(tmp_path)) as (api, (bot,)):
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "转人工")
        await until(lambda: bool(cards_to(api, REP)))
        await bot.drained()
        told_doctor = len(api.kf_sent)
        intruder = "intruder_x"
        accept = cards_to(api, REP)[0]["button_list"][0]["key"]
        commands = (
            f"/profile {DOCTOR}",
            f"/verify {DOCTOR}",
            f"/invite M-1 {DOCTOR}",
            f"/takeover {DOCTOR}",
            "/attendees M-1",
        )
        for number, command in enumerate(commands, 1):  # one at a time: each gets its wait
            await bot.sim.rep_says(intruder, command)
            await until(lambda n=number: len(texts_to(api, intruder)) >= n)
        await bot.sim.rep_clicks(intruder, "ae:ack:AE-20250616-0001", "pv-card", "rc-intruder")
        await until(lambda: len(texts_to(api, intruder)) >= 6)
        await bot.sim.rep_clicks(intruder, accept, "handoff-card", "rc-intruder-2")
        await until(lambda: len(texts_to(api, intruder)) >= 7)
        await bot.drained()
        answers = texts_to(api, intruder)
        assert len(answers) == 7 and all("您没有权限" in answer for answer in answers), answers
        assert not any(DOCTOR in answer for answer in answers)  # nothing about the doctor leaks
        assert api.kf_state(OPEN_KFID, DOCTOR) == 1
        moves = api.calls_to("/cgi-bin/kf/service_state/trans")
        assert all(call.body and call.body["service_state"] != 3 for call in moves)
        assert len(api.kf_sent) == told_doctor
        profile = await ProfileStore(bot.app[STORAGE]).get(DOCTOR)
        assert profile is not None and not profile.verified
        metrics = bot.app[METRICS]
        assert metrics.errors.labels("forbidden")._value.get() == 7  # type: ignore[attr-defined]


async def test_a_refused_kf_transfer_leaves_the_bot_in_charge(tmp_path: Path) -> None:
    async with running_bots(tmp_path, rep_roster=write_roles_roster(tmp_path)) as (api, (bot,)):
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "你好")
        await until(lambda: bool(api.kf_sent))
        await bot.drained()
        told_doctor = len(api.kf_sent)
        await bot.sim.rep_says("mgr_zhao", f"/takeover {DOCTOR}")  # allowed, but no servicer
        await until(lambda: any("95014" in text for text in texts_to(api, "mgr_zhao")))
        await bot.drained()
        assert api.kf_state(OPEN_KFID, DOCTOR) == 1
        assert len(api.kf_sent) == told_doctor  # the doctor was not told a rep joins
        conversation = await load_conversation(bot.app[STORAGE], f"kf:{OPEN_KFID}:{DOCTOR}")
        assert conversation is not None and conversation.mode is ConversationMode.BOT
        # WeCom (the fake) itself refuses moving the session to a non-servicer.
        with pytest.raises(TransferRefused) as refused:
            await WeComKfControl(bot.app[WECOM]).hand_to_servicer(OPEN_KFID, DOCTOR, "mgr_zhao")
        assert refused.value.errcode == 95014
        await bot.sim.doctor_says(OPEN_KFID, DOCTOR, "还在吗")
        await until(lambda: len(api.kf_sent) > told_doctor)  # the bot still answers
