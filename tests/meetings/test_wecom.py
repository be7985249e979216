"""Meetings over the WeCom simulator: the full app, kf menus for doctors, app commands for reps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.meetings.helpers import meeting_entry, write_catalog
from tests.test_wecom_app import running_bots, until
from tests.wecom_harness import OPEN_KFID

DOCTOR, OTHER = "wmMEETDOC0001", "wmMEETDOC0002"


def kf_texts(sent: list[dict[str, Any]], touser: str) -> list[str]:
    """Texts and menu heads sent to ``touser`` through kf/send_msg, in order."""
    out = []
    for message in sent:
        if message["touser"] != touser:
            continue
        if message["msgtype"] == "text":
            out.append(message["text"]["content"])
        elif message["msgtype"] == "msgmenu":
            out.append(message["msgmenu"]["head_content"])
    return out


async def test_doctor_registers_with_kf_menus_and_rep_invites_and_lists(tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=4)
    catalog = write_catalog(tmp_path / "m.yaml", [meeting_entry("m1", start, capacity=1)])
    async with running_bots(tmp_path, meetings_file=catalog) as (api, (bot,)):
        sim = bot.sim
        await sim.doctor_says(OPEN_KFID, DOCTOR, "学术会议")
        await until(lambda: len(api.kf_sent) >= 1)
        menu = api.kf_sent[-1]["msgmenu"]
        assert menu["head_content"].startswith("近期学术会议")
        assert menu["list"][0]["click"]["id"] == "meetings:detail:m1"

        steps = [
            ("click", "meetings:register:m1", "报名参加", "请输入您的姓名"),
            ("text", None, "张伟", "请输入您所在的医院"),
            ("text", None, "示例医院", "请输入您所在的科室"),
            ("text", None, "心内科", "请确认报名信息"),
            ("click", "meetings:form:confirm", "确认报名", "报名成功：测试会议 m1"),
        ]
        for kind, menu_id, label, expected in steps:
            before = len(api.kf_sent)
            if kind == "click":
                assert menu_id is not None
                await sim.doctor_clicks(OPEN_KFID, DOCTOR, menu_id, label)
            else:
                await sim.doctor_says(OPEN_KFID, DOCTOR, label)
            await until(lambda n=before: len(api.kf_sent) > n)
            await bot.drained()
            assert any(expected in text for text in kf_texts(api.kf_sent[before:], DOCTOR)), (
                expected,
                kf_texts(api.kf_sent[before:], DOCTOR),
            )

        # another doctor who wrote recently is invited by the rep; a stranger is reported
        await sim.doctor_says(OPEN_KFID, OTHER, "hello")
        await until(lambda: any(m["touser"] == OTHER for m in api.kf_sent))
        await bot.drained()
        before_app = len(api.app_sent)
        await sim.rep_says("admin_ops", f"/invite m1 {OTHER} wmSTRANGER")
        await until(lambda: len(api.app_sent) > before_app)
        await bot.drained()
        report = api.app_sent[-1]["text"]["content"]
        assert f"已发送邀请（1）：{OTHER}" in report and "- wmSTRANGER: 找不到该医生" in report
        assert any(
            "Hello, your representative invites you" in text
            for text in kf_texts(api.kf_sent, OTHER)
        )

        before_app = len(api.app_sent)
        await sim.rep_says("admin_ops", "/attendees m1")
        await until(lambda: len(api.app_sent) >= before_app + 2)
        await bot.drained()
        contents = [
            m["text"]["content"] for m in api.app_sent[before_app:] if m["msgtype"] == "text"
        ]
        assert any("1. 张伟｜示例医院｜心内科｜已报名" in c for c in contents)
