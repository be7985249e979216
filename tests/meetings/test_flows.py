"""Doctor flows through the full dispatcher, in Chinese and in English."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.models import FileReply, MenuReply
from bot.profiles import DoctorProfile, ProfileStore
from records import Records
from skills.meetings.registrations import RegistrationStore, Status
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
        meeting_entry(
            "endo",
            T0 + timedelta(days=3),
            audience_specialties=["内分泌科", "endocrinology"],
            therapeutic_area="diabetes",
        ),
        meeting_entry("cardio", T0 + timedelta(days=5)),
        meeting_entry("small", T0 + timedelta(days=4), capacity=1),
        meeting_entry(
            "closed",
            T0 + timedelta(days=2),
            registration_deadline=(T0 - timedelta(hours=1)).isoformat(),
        ),
        meeting_entry("past", T0 - timedelta(days=2)),
    ]


async def say(bot: Bot, user: str, clock: Clock, text: str = "", click: str | None = None) -> None:
    bot.clear()
    ctx = await bot.dispatcher.feed(inbound(user, clock, text=text, click=click))
    assert ctx.error is None, ctx.error


async def test_chinese_flow_list_details_register_mine_cancel(
    bot: Bot, clock: Clock, records: Records
) -> None:
    await say(bot, "dr-zhang", clock, "会议")
    menu = bot.last_menu()
    assert menu.head.startswith("近期学术会议")
    ids = [option.id for option in menu.options]
    assert "meetings:detail:past" not in ids  # ended meetings are not offered
    assert ids[-1] == "meetings:mine"

    await say(bot, "dr-zhang", clock, click="meetings:detail:cardio")
    shown = bot.transcript()
    assert "测试会议 cardio" in shown and "参会链接：https://meeting.example.test/cardio" in shown
    assert "合规编号：TEST-cardio" in shown and "剩余 10 / 10" in shown
    assert "meetings:register:cardio" in [o.id for o in bot.last_menu().options]

    await say(bot, "dr-zhang", clock, click="meetings:register:cardio")
    assert "请输入您的姓名" in bot.transcript()  # the profile knows nothing yet
    await say(bot, "dr-zhang", clock, "张伟")
    assert bot.transcript() == "请输入您所在的医院。"
    await say(bot, "dr-zhang", clock, "示例市人民医院")
    await say(bot, "dr-zhang", clock, "心内科")
    confirm = bot.last_menu()
    assert "姓名：张伟" in confirm.head and "科室：心内科" in confirm.head
    await say(bot, "dr-zhang", clock, click="meetings:form:confirm")
    replies = bot.replies()
    assert "报名成功：测试会议 cardio" in bot.transcript()
    ics = [reply for reply in replies if isinstance(reply, FileReply)]
    assert ics and ics[0].filename == "cardio.ics" and b"BEGIN:VEVENT" in ics[0].content

    profile = await ProfileStore(bot.services.storage).get("dr-zhang")
    assert profile is not None
    assert (profile.name, profile.hospital, profile.department) == (
        "张伟",
        "示例市人民医院",
        "心内科",
    )
    assert profile.meetings_registered == ["cardio"]

    await say(bot, "dr-zhang", clock, "我的报名")
    assert "测试会议 cardio" in bot.transcript() and "已报名" in bot.transcript()

    await say(bot, "dr-zhang", clock, click="meetings:cancel:cardio")
    assert bot.transcript() == "已取消“测试会议 cardio”的报名。"
    registration = await RegistrationStore(bot.services.storage).get("cardio", "dr-zhang")
    assert registration is not None and registration.status is Status.CANCELLED
    assert await bot.services.storage.scheduled("meetings.reminder") == []
    kinds = [record["kind"] for record in await audit_trail(records, bot.services.storage)]
    assert "meeting_registration" in kinds and "meeting_cancellation" in kinds


async def test_english_flow_asks_only_what_is_missing(bot: Bot, clock: Clock) -> None:
    profiles = ProfileStore(bot.services.storage)
    await profiles.save(
        DoctorProfile(doctor_id="dr-smith", name="Jane Smith", hospital="Sample General Hospital")
    )
    await say(bot, "dr-smith", clock, "meetings")
    # no specialty known yet: by date, not "ranked for your specialty" (trial #45)
    assert bot.last_menu().head == "Upcoming academic meetings (by date):"
    await say(bot, "dr-smith", clock, click="meetings:register:endo")
    assert bot.transcript() == "Which department are you in?"
    await say(bot, "dr-smith", clock, "Endocrinology")
    assert "Name: Jane Smith" in bot.last_menu().head
    await say(bot, "dr-smith", clock, "yes")
    assert "You are registered: Test meeting endo" in bot.transcript()

    # ranked by specialty: the endocrinology meeting comes first for her now
    await say(bot, "dr-smith", clock, "my meetings")
    assert "Test meeting endo" in bot.transcript() and "registered" in bot.transcript()
    await say(bot, "dr-smith", clock, click="meetings:list")
    assert bot.last_menu().options[0].id == "meetings:detail:endo"


async def test_edit_details_and_abort(bot: Bot, clock: Clock) -> None:
    await ProfileStore(bot.services.storage).save(
        DoctorProfile(doctor_id="dr-li", name="李娜", hospital="示例医院", department="心内科")
    )
    await say(bot, "dr-li", clock, click="meetings:register:cardio")
    assert bot.replies() and isinstance(bot.replies()[0], MenuReply)  # straight to confirmation
    await say(bot, "dr-li", clock, click="meetings:form:edit")
    assert "请输入您的姓名" in bot.transcript()
    await say(bot, "dr-li", clock, "取消")
    assert bot.transcript() == "好的，已取消本次报名。"
    assert await RegistrationStore(bot.services.storage).get("cardio", "dr-li") is None


async def test_waitlist_then_automatic_promotion_with_notice(
    bot: Bot, clock: Clock, records: Records
) -> None:
    for doctor in ("dr-a", "dr-b", "dr-c"):
        await ProfileStore(bot.services.storage).save(
            DoctorProfile(doctor_id=doctor, name=doctor, hospital="H", department="心内科")
        )
        await say(bot, doctor, clock, click="meetings:register:small")
        await say(bot, doctor, clock, click="meetings:form:confirm")
    assert "候补名单，第 2 位" in bot.transcript()  # dr-c
    await say(bot, "dr-b", clock, click="meetings:detail:small")
    assert "您在候补名单第 1 位" in bot.transcript()

    await say(bot, "dr-a", clock, click="meetings:cancel:small")
    store = RegistrationStore(bot.services.storage)
    promoted = await store.get("small", "dr-b")
    assert promoted is not None and promoted.status is Status.REGISTERED
    assert await store.seats("small") == (["dr-b"], ["dr-c"])

    bot.clear()
    assert await bot.services.scheduler.run_due() == 1  # the promotion notice
    notice = bot.transcript(user="dr-b")
    assert "有名额空出，您已从候补转为正式报名" in notice
    assert "https://meeting.example.test/small" in notice
    profile = await ProfileStore(bot.services.storage).get("dr-b")
    assert profile is not None and profile.meetings_registered == ["small"]
    reminders = {item.item_id for item in await bot.services.storage.scheduled("meetings.reminder")}
    assert "small|dr-b|day" in reminders and not any("dr-a" in item for item in reminders)
    kinds = [record["kind"] for record in await audit_trail(records, bot.services.storage)]
    assert "meeting_promotion" in kinds and "meeting_promotion_notice" in kinds


async def test_registration_closes_at_deadline_and_at_start(bot: Bot, clock: Clock) -> None:
    await say(bot, "dr-x", clock, click="meetings:register:closed")
    assert "报名已截止" in bot.transcript()
    await say(bot, "dr-x", clock, click="meetings:detail:closed")
    assert "meetings:register:closed" not in [o.id for o in bot.last_menu().options]

    await ProfileStore(bot.services.storage).save(
        DoctorProfile(doctor_id="dr-y", name="Y", hospital="H", department="D")
    )
    await say(bot, "dr-y", clock, click="meetings:register:cardio")
    clock.advance(timedelta(days=5))  # the meeting starts while the form waits
    await say(bot, "dr-y", clock, click="meetings:form:confirm")
    assert "报名已截止" in bot.transcript()
    assert await RegistrationStore(bot.services.storage).get("cardio", "dr-y") is None


async def test_calendar_file_and_unrelated_click_leaves_the_form(bot: Bot, clock: Clock) -> None:
    await say(bot, "dr-z", clock, click="meetings:ics:endo")
    (reply,) = bot.replies()
    assert isinstance(reply, FileReply)
    content = reply.content.decode()
    assert (
        "DTSTART:20270113T010000Z" in content and "URL:https://meeting.example.test/endo" in content
    )
    assert all(len(line.encode()) <= 75 for line in content.split("\r\n"))

    await say(bot, "dr-z", clock, click="meetings:register:endo")
    await say(bot, "dr-z", clock, click="meetings:list")  # moved on: the list answers
    assert bot.last_menu().head.startswith("近期学术会议")


async def test_form_answers_are_checked_and_a_no_at_the_confirmation_aborts(
    bot: Bot, clock: Clock
) -> None:
    await say(bot, "dr-wu", clock, click="meetings:register:cardio")
    await say(bot, "dr-wu", clock, "确认")  # not a name
    assert "没能识别" in bot.transcript() and "请输入您的姓名" in bot.transcript()
    await say(bot, "dr-wu", clock, "3")  # no menu is showing: not a choice, not a name
    assert "请输入您的姓名" in bot.transcript()
    for answer in ("吴敏", "示例市人民医院", "心内科"):
        await say(bot, "dr-wu", clock, answer)
    assert "姓名：吴敏" in bot.last_menu().head
    await say(bot, "dr-wu", clock, "不报了，谢谢")
    assert bot.transcript() == "好的，已取消本次报名。"
    assert await RegistrationStore(bot.services.storage).get("cardio", "dr-wu") is None
