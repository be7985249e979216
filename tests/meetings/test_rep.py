"""Rep commands on the app channel: /meetings, /invite (with who could not be reached), /attendees.

A command is Latin text, so the conversation's language detection answers reps in English.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from bot.models import Channel, FileReply
from bot.profiles import DoctorProfile, ProfileStore
from records import Records
from skills.meetings.registrations import RegistrationStore
from tests.helpers import audit_trail
from tests.meetings.helpers import (
    T0,
    Bot,
    Clock,
    inbound,
    meeting_entry,
)


@pytest.fixture
def catalog_entries() -> list[dict[str, Any]]:
    return [
        meeting_entry("m1", T0 + timedelta(days=3), capacity=1),
        meeting_entry("old", T0 - timedelta(days=1), registration_deadline=None),
        {"id": "broken"},
    ]


async def rep(bot: Bot, clock: Clock, text: str) -> None:
    bot.clear()
    ctx = await bot.dispatcher.feed(
        inbound("admin_ops", clock, text=text, channel=Channel.APP, member=True)
    )
    assert ctx.error is None and ctx.skill == "meetings"


async def doctor(
    bot: Bot, clock: Clock, user: str, text: str = "", click: str | None = None
) -> None:
    ctx = await bot.dispatcher.feed(
        inbound(user, clock, text=text, click=click, channel=Channel.KF)
    )
    assert ctx.error is None


async def test_meetings_lists_upcoming_with_seats_and_catalog_problems(
    bot: Bot, clock: Clock
) -> None:
    await rep(bot, clock, "/meetings")
    text = bot.transcript(Channel.APP)
    assert "m1 | 测试会议 m1 |" in text and "已报名 0/1，候补 0" in text
    assert "old" not in text
    assert "目录中有 1 条无效条目已跳过" in text


async def test_invite_reports_who_could_not_be_reached_and_why(
    bot: Bot, clock: Clock, records: Records
) -> None:
    profiles = ProfileStore(bot.services.storage)
    await doctor(bot, clock, "dr-recent", "你好")  # wrote just now: reachable on kf
    clock.advance(timedelta(hours=-49))
    await doctor(bot, clock, "dr-quiet", "hello")  # wrote 49 h ago: window closed
    clock.advance(timedelta(hours=49))
    await profiles.save(DoctorProfile(doctor_id="dr-never"))  # known, but never wrote
    bot.clear()

    await rep(bot, clock, "/invite m1 dr-recent dr-quiet dr-never dr-ghost dr-recent")
    report = bot.transcript(Channel.APP)
    assert report.startswith("已发送邀请（1）：dr-recent")
    assert "- dr-quiet: 超过 48 小时未发消息，请线下转发" in report
    assert "- dr-never: 从未通过微信客服联系过，无法发送" in report
    assert "- dr-ghost: 找不到该医生" in report

    invitation = bot.transcript(Channel.KF, user="dr-recent")
    assert "您的医药代表邀请您参加学术会议" in invitation and "测试会议 m1" in invitation
    assert [m.recipient_id for m in bot.sent(Channel.KF)] == ["dr-recent"]
    records = await audit_trail(records, bot.services.storage, "meeting_invitation")
    assert {(r["doctor"], r["sent"], r["reason"]) for r in records} == {
        ("dr-recent", True, None),
        ("dr-quiet", False, "window_closed"),
        ("dr-never", False, "no_contact"),
        ("dr-ghost", False, "unknown_doctor"),
    }

    # the invited doctor registers from the invitation's menu; the rep gets the credit
    await profiles.save(
        (await profiles.get_or_create("dr-recent")).model_copy(
            update={"name": "陈医生", "hospital": "示例医院", "department": "心内科"}
        )
    )
    await doctor(bot, clock, "dr-recent", click="meetings:register:m1")
    await doctor(bot, clock, "dr-recent", click="meetings:form:confirm")
    registration = await RegistrationStore(bot.services.storage).get("m1", "dr-recent")
    assert registration is not None and registration.invited_by == "admin_ops"

    await rep(bot, clock, "/invite m1 dr-recent")
    assert "- dr-recent: 已报名" in bot.transcript(Channel.APP)


async def test_attendees_list_and_csv(bot: Bot, clock: Clock) -> None:
    profiles = ProfileStore(bot.services.storage)
    for user, name in (("dr-a", "王医生"), ("dr-b", "Dr. Brown")):
        await profiles.save(
            DoctorProfile(doctor_id=user, name=name, hospital="H, Inc.", department="心内科")
        )
        await doctor(bot, clock, user, click="meetings:register:m1")
        await doctor(bot, clock, user, click="meetings:form:confirm")

    await rep(bot, clock, "/attendees m1")
    (_, csv_file) = bot.replies(Channel.APP)
    assert isinstance(csv_file, FileReply) and csv_file.filename == "m1-attendees.csv"
    rendered = bot.transcript(Channel.APP)
    assert "已报名 1/1，候补 1" in rendered
    assert (
        "1. 王医生｜H, Inc.｜心内科｜已报名" in rendered
        and "2. Dr. Brown｜H, Inc.｜心内科｜候补 #1" in rendered
    )
    rows = list(csv.DictReader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert [(r["doctor_id"], r["status"], r["waitlist_position"]) for r in rows] == [
        ("dr-a", "registered", ""),
        ("dr-b", "waitlisted", "1"),
    ]
    assert rows[0]["hospital"] == "H, Inc."


async def test_usage_and_unknown_meeting(bot: Bot, clock: Clock) -> None:
    await rep(bot, clock, "/invite m1")
    assert bot.transcript(Channel.APP).startswith("用法：/invite")
    await rep(bot, clock, "/attendees nope")
    assert "没有编号为 nope 的会议" in bot.transcript(Channel.APP)
    await rep(bot, clock, "/invite old dr-a")
    assert "- dr-a: 报名已截止" in bot.transcript(Channel.APP)
