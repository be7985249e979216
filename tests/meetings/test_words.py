"""What a doctor types to the meetings skill instead of tapping (trial findings 41–45, 57):
inside the registration form, after a list, at a meeting's details; the list's dates and
topics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from skills.meetings.intents import asks_for_registrations, position_to_register, withdraws
from tests.meetings.helpers import T0, Bot, Clock, inbound, meeting_entry


@pytest.fixture
def catalog_entries() -> list[dict[str, Any]]:
    return [
        meeting_entry("cardio", T0 + timedelta(days=5), tags=["hypertension", "高血压"]),
        meeting_entry(
            "endo",
            T0 + timedelta(days=3),
            title={"zh": "糖尿病病例讨论", "en": "Diabetes case discussion"},
            audience_specialties=["内分泌科", "endocrinology"],
            therapeutic_area="diabetes",
        ),
    ]


async def say(bot: Bot, clock: Clock, text: str = "", click: str | None = None) -> str:
    bot.clear()
    ctx = await bot.dispatcher.feed(inbound("dr", clock, text=text, click=click))
    assert ctx.error is None, ctx.error
    return bot.transcript()


@pytest.mark.parametrize(
    ("text", "mine", "withdrawal", "in_form", "position"),
    [("我报了哪些会", True, False, False, None),
     ("what have I registered for", True, False, False, None),
     ("这个会我去不了了", False, True, True, None),
     ("cancel my registration", False, True, True, None),
     ("I can't make it to the meeting", False, True, True, None),
     ("我不去了，取消吧", False, False, True, None),
     ("病人去不了医院复查", False, False, False, None),
     ("register me for the first one", False, False, False, 0),
     ("第二个帮我报名", False, False, False, 1),
     ("报名最后一个", False, False, False, -1),
     ("诺拉维的剂量", False, False, False, None)],
)  # fmt: skip
def test_the_words(
    text: str, mine: bool, withdrawal: bool, in_form: bool, position: int | None
) -> None:
    assert asks_for_registrations(text) is mine
    assert withdraws(text) is withdrawal
    assert withdraws(text, meeting_implied=True) is in_form
    assert position_to_register(text) == position


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("我报了哪些会", ["您目前没有会议报名", "请输入您的姓名"]),
     ("what have I registered for", ["no meeting registrations", "type your name"])],
)  # fmt: skip
async def test_registrations_asked_inside_the_form_then_its_question(
    bot: Bot, clock: Clock, typed: str, expected: list[str]
) -> None:
    await say(bot, clock, click="meetings:register:cardio")
    shown = await say(bot, clock, typed)
    assert all(words in shown for words in expected), shown
    assert "医学信息" not in shown and "medical information" not in shown  # not the MI offer
    assert "近期学术会议" not in shown  # not the whole list inside the form
    assert "医院" in await say(bot, clock, "张伟")  # the form goes on: the name was taken


@pytest.mark.parametrize(
    "typed", ["这个会我去不了了", "我不去了，取消吧", "cancel my registration"]
)
async def test_a_withdrawal_inside_the_form_ends_it(bot: Bot, clock: Clock, typed: str) -> None:
    await say(bot, clock, click="meetings:register:cardio")
    shown = await say(bot, clock, typed)
    assert "已取消本次报名" in shown or "not submitted" in shown, shown
    assert "医院" not in await say(bot, clock, "张伟")  # the form is over: no name taken


async def register(bot: Bot, clock: Clock, meeting: str) -> None:
    await say(bot, clock, click=f"meetings:register:{meeting}")
    for answer in ("张伟", "示例市人民医院", "心内科"):
        await say(bot, clock, answer)
    await say(bot, clock, click="meetings:form:confirm")


@pytest.mark.parametrize("typed", ["这个会我去不了了", "I can't make it to the meeting"])
async def test_cannot_attend_shows_the_registrations_with_their_cancel(
    bot: Bot, clock: Clock, typed: str
) -> None:
    await register(bot, clock, "cardio")
    await say(bot, clock, typed)
    ids = [option.id for option in bot.last_menu().options]
    assert "meetings:cancel:cardio" in ids, ids
    shown = await say(bot, clock, click="meetings:cancel:cardio")
    assert "取消" in shown or "cancel" in shown.lower()


@pytest.mark.parametrize(
    ("steps", "title"),
    [(["会议", "register me for the first one"], "Diabetes case discussion"),
     (["meetings", "sign me up for the second one"], "Test meeting cardio"),
     (["会议", "@meetings:detail:cardio", "报名"], "测试会议 cardio")],
)  # fmt: skip
async def test_a_meeting_picked_in_words_opens_its_form(
    bot: Bot, clock: Clock, steps: list[str], title: str
) -> None:
    for step in steps:
        if step.startswith("@"):
            shown = await say(bot, clock, click=step[1:])
        else:
            shown = await say(bot, clock, step)
    assert title in shown and ("姓名" in shown or "name" in shown), shown


async def test_the_list_shows_the_year_and_time_zone(bot: Bot, clock: Clock) -> None:
    shown = await say(bot, clock, "会议")
    assert "2027-01-13 09:00" in shown and "Asia/Shanghai" in shown, shown


@pytest.mark.parametrize(
    ("typed", "expected", "not_expected"),
    [("any lipid meetings coming up", "no upcoming meeting on lipids", "ranked for your"),
     ("有没有糖尿病的会议", "近期与“糖尿病”相关的学术会议", "测试会议 cardio"),
     ("有血脂方面的会议吗", "目前没有与“血脂”相关的近期学术会议", "按您的专业推荐")],
)  # fmt: skip
async def test_a_topic_asked_for_filters_the_list_or_says_there_is_none(
    bot: Bot, clock: Clock, typed: str, expected: str, not_expected: str
) -> None:
    shown = await say(bot, clock, typed)
    assert expected in shown, shown
    assert not_expected not in shown, shown
