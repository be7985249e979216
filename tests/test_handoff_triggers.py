"""Triggers (zh + en), the roster (YAML, CSV, working hours) and the interest profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.escalation import EscalationReason
from bot.models import ConversationMode
from bot.profiles import DoctorProfile
from bot.settings import load_settings
from bot.storage.base import Storage
from bot.yesno import YesNo
from skills.adverse_events.confirmation import NOT_AN_ANSWER, read_confirmation
from skills.handoff import interests
from skills.handoff.roster import RosterError, load_roster
from skills.handoff.triggers import is_complaint, is_explicit_request
from tests.handoff_support import MONDAY_10AM, Harness


@pytest.mark.parametrize(
    "text",
    ["转人工", "我要人工客服", "人工", "帮我找代表", "请联系我的代表", "能让代表联系我吗",
     "talk to a rep", "Can I speak with a human?", "human", "Agent!", "real person please",
     "please have my rep call me",
     # asked for in words (trial findings 12, 50; red-team misses of session 9)
     "我要跟人说话，不要机器人", "人工客服", "找个真人", "叫小李给我回个电话", "让我的代表联系我",
     "没用，转人工", "我需要人工", "能让人工回复吗", "请王代表给我回电话", "不要机器人",
     "I want a person, not a bot", "talk to a human", "have my rep call me",
     "connect me to someone", "I need to speak to a real person", "call me back please"],
)  # fmt: skip
def test_explicit_requests(text: str) -> None:
    assert is_explicit_request(text)


@pytest.mark.parametrize(
    "text",
    ["二甲双胍的用法用量", "什么是人工智能辅助诊断的最新研究？", "human insulin dosing",
     "What does the agent do in this trial?", "你好",
     # negations, questions about the bot, medical words with 人工 / 让…联系
     "不用转人工", "我不需要人工", "don't need a person", "no need to talk to a human",
     "I don't want a person", "你是真人还是AI", "你是真人吗", "are you a human or a bot?",
     "is this a bot?", "人工关节置换术后能用诺拉维吗", "人工流产后能用吗", "让患者联系我",
     "I need someone to explain the dosing",
     # "don't contact me" (the AE form's follow-up consent) asks for no one
     "请不要联系我", "请别再联系我", "请不要给我打电话", "请勿联系我"],
)  # fmt: skip
def test_not_explicit_requests(text: str) -> None:
    assert not is_explicit_request(text)


@pytest.mark.parametrize(
    "text",
    ["我要投诉", "答非所问，浪费时间", "什么破机器人", "非常失望", "This is useless",
     "I want to file a complaint", "really disappointed with this service", "waste of my time"],
)  # fmt: skip
def test_complaints(text: str) -> None:
    assert is_complaint(text)


@pytest.mark.parametrize(
    "text",
    ["患者服药后头痛", "有点失望", "the patient felt unhappy after the dose change",
     "谢谢，很有帮助", "Thanks, that helps"],
)  # fmt: skip
def test_not_complaints(text: str) -> None:
    assert not is_complaint(text)


async def test_implicit_triggers_zh_and_en(storage: Storage) -> None:
    """Complaints and two unhelped messages in a row page a rep; zh and en answers."""
    bot = Harness(storage)
    replies = await bot.doctor_says("答非所问，太浪费时间了", doctor="d-zh")
    assert "抱歉" in replies[0] and "张伟" not in replies[0]  # unassigned: the pool
    replies = await bot.doctor_says("This bot is useless", doctor="d-en")
    assert "sorry" in replies[0].lower()
    await bot.doctor_says("asdf qwer", doctor="d-nh")
    replies = await bot.doctor_says("zxcv uiop", doctor="d-nh")
    assert any("asked the rep on duty" in reply for reply in replies)
    assert await bot.drain() == 3
    reasons = []
    for doctor in ("d-zh", "d-en", "d-nh"):
        handoff = await bot.service.store.open_for(f"kf:wkTESTKF:{doctor}")
        assert handoff is not None
        reasons.append(handoff.reason)
    assert reasons == [
        EscalationReason.COMPLAINT,
        EscalationReason.COMPLAINT,
        EscalationReason.NOT_HELPED,
    ]
    assert (await bot.conversation("d-nh")).mode is ConversationMode.BOT


async def test_messages_without_a_word_do_not_page_a_rep(storage: Storage) -> None:
    """Emoji, digits and symbols get the menu but never count toward "not helped twice"."""
    bot = Harness(storage)
    for text in ("😀😀😀", "？？？", "12345", "🙏"):
        replies = await bot.doctor_says(text, doctor="d-sym")
        assert not any("值班代表" in reply for reply in replies)
    assert (await bot.conversation("d-sym")).unhelped_in_a_row == 0
    await bot.doctor_says("asdf qwer", doctor="d-sym")
    await bot.doctor_says("👍", doctor="d-sym")
    replies = await bot.doctor_says("zxcv uiop", doctor="d-sym")
    assert any("asked the rep on duty" in reply for reply in replies)
    assert await bot.drain() == 1


@pytest.mark.parametrize(
    ("text", "doctor", "rep_words"),
    [("我要跟人说话，不要机器人", "doctor", "张伟"), ("叫小李给我回个电话", "doctor", "张伟"),
     ("找个真人", "d-zh", "值班代表"), ("I want a person, not a bot", "doctor", "张伟"),
     ("have my rep call me", "d-en", "rep on duty")],
)  # fmt: skip
async def test_a_request_in_words_reaches_the_doctors_rep(
    storage: Storage, text: str, doctor: str, rep_words: str
) -> None:
    """As the first message (the privacy notice is pending: the words are no consent answer),
    in the doctor's language, to the doctor's own rep (the sample roster's rep_zhang for
    "doctor", the on-duty pool otherwise), with the request on the card."""
    bot = Harness(storage, settings=load_settings(privacy_notice=True))
    replies = await bot.doctor_says(text, doctor=doctor)
    assert any(rep_words in reply for reply in replies), replies
    assert not any("已记录您暂不同意" in reply or "do not agree" in reply for reply in replies)
    assert await bot.drain() == 1
    handoff = await bot.service.store.open_for(f"kf:wkTESTKF:{doctor}")
    assert handoff is not None and handoff.reason is EscalationReason.EXPLICIT_REQUEST
    if doctor == "doctor":
        assert text in bot.reps_out.texts_for("rep_zhang")[0]


@pytest.mark.parametrize(
    ("text", "answer"),
    [("没用，转人工", NOT_AN_ANSWER), ("I want a person, not a bot", NOT_AN_ANSWER),
     ("不是", YesNo.NO), ("是的", YesNo.YES)],
)  # fmt: skip
def test_a_request_at_the_ae_confirmation_is_no_answer(text: str, answer: YesNo | None) -> None:
    """Typed at the AE confirmation question, a handoff request is not a "no" (which would
    drop the question and answer the first message): screening hands it to the handoff skill
    and asks again once (``screening._defer``)."""
    assert read_confirmation(text) is answer


def test_sample_roster_ladder_and_hours() -> None:
    roster = load_roster(None, "Asia/Shanghai")
    doctor = DoctorProfile(doctor_id="doctor")
    ladder = roster.stages(doctor, EscalationReason.EXPLICIT_REQUEST)
    assert [(s.kind, s.userids) for s in ladder] == [
        ("rep", ("rep_zhang",)),
        ("backup", ("rep_li",)),
        ("pool", ("rep_wang",)),
    ]
    by_hospital = DoctorProfile(doctor_id="x", hospital="复旦大学附属中山医院")
    assert roster.stages(by_hospital, EscalationReason.COMPLAINT)[0].userids == ("rep_li",)
    assert roster.stages(doctor, EscalationReason.MEDICAL_INFORMATION)[0].kind == "mi"

    friday_5pm = datetime(2025, 6, 20, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
    due = roster.add_working_time(("rep_zhang",), friday_5pm, timedelta(minutes=90))
    assert due == datetime(2025, 6, 23, 1, 30, tzinfo=UTC)  # Monday 09:30
    national_day = datetime(2025, 10, 1, 3, 0, tzinfo=UTC)  # a Wednesday, but a holiday
    assert not roster.on_duty(("rep_zhang",), national_day)
    assert roster.next_opening(("rep_zhang",), national_day) == datetime(
        2025, 10, 6, 1, 0, tzinfo=UTC
    )
    assert roster.on_duty(("rep_zhang",), MONDAY_10AM)


def test_csv_roster(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        "kind,key,value\n"
        "timezone,Asia/Shanghai,\n"
        "hours,*,mon-sun 00:00-23:59\n"
        "rep,r1,Rep One\n"
        "backup,r1,r2\n"
        "hospital,General Hospital,r1\n"
        "pool,r3,\n"
        "mi,m1,\n"
        "holiday,2025-12-25,\n",
        encoding="utf-8",
    )
    roster = load_roster(path, "UTC")
    profile = DoctorProfile(doctor_id="d", hospital="General Hospital")
    assert [s.userids for s in roster.stages(profile, EscalationReason.NOT_HELPED)] == [
        ("r1",),
        ("r2",),
        ("r3",),
    ]
    assert roster.name_of("r1") == "Rep One"
    assert roster.mi_group == ("m1",)
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,key,value\nhours,*,weekdays 9-5\n", encoding="utf-8")
    with pytest.raises(RosterError, match="working hours"):
        load_roster(bad, "UTC")


def test_interest_profile_counts_keywords_only() -> None:
    profile = DoctorProfile(doctor_id="d")
    assert interests.note_interests(profile, "达格列净在心衰患者中的临床试验疗效？", ["ProductX"])
    assert profile.products == {"dapagliflozin": 1, "ProductX": 1}
    assert profile.therapeutic_areas == {"心血管 cardiology": 1}
    assert set(profile.topics) == {"疗效 efficacy", "临床研究 clinical studies"}
    assert not interests.note_interests(profile, "你好")
    text = interests.describe(profile)
    assert "dapagliflozin ×1" in text and "临床试验" not in text  # labels, never the message


async def test_profile_skips_adverse_event_messages(storage: Storage) -> None:
    bot = Harness(storage)
    message = bot.doctor_message("服用二甲双胍后患者出现乳酸酸中毒住院")
    await bot.dispatcher.feed(message, ae_case="AE-1")  # as the AE screening annotates it
    await bot.doctor_says("停止")  # ends the adverse-event report the message opened
    await bot.doctor_says("阿托伐他汀的剂量")
    profile = await bot.service.profiles.get("doctor")
    assert profile is not None
    assert profile.products == {"atorvastatin": 1}  # nothing from the adverse-event message
    assert profile.topics == {"用法用量 dosing": 1}
