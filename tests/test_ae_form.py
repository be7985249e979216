"""Adverse-event capture through the whole bot: screening, the guided report, human mode, idle."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from bot.escalation import ESCALATION_QUEUE, EscalationReason
from bot.models import ConversationMode
from bot.profiles import ProfileStore
from bot.storage.base import Storage
from knowledge.base import KnowledgeBase
from skills.adverse_events.cases import Asked, CaseStatus, Outcome, Seriousness, SubmitReason
from skills.adverse_events.e2b import case_document, narrative
from skills.adverse_events.service import DELIVERY_QUEUE, case_card
from tests.ae_support import AEBot, ae_settings

ZH_REPORT = "我有个患者用了XX药以后出现全身皮疹，还伴有瘙痒"


async def _queued(storage: Storage, queue: str) -> list[dict[str, object]]:
    entries = await storage.consume(queue, "test-reader", "t", count=50, block_ms=0)
    return [entry.payload for entry in entries]


async def test_chinese_form_with_dont_know_then_stop(storage: Storage, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    first = await bot.say(ZH_REPORT)
    case = await bot.only_case()
    assert case.status is CaseStatus.COLLECTING
    assert case.day0 == bot.clock.now and case.sources[0].text == ZH_REPORT
    assert case.events[0].verbatim == ZH_REPORT and case.language == "zh"
    assert "adverse_event" in case.categories
    assert case.case_id in first[0]
    assert "姓名首字母" in first[-1]  # the event is known: the first question is the patient

    assert "什么时候" in (await bot.say("ZS，45岁，男"))[-1]  # the product was in the report
    saved = await bot.case(case.case_id)  # persisted before the next question
    assert (saved.patient.initials, saved.patient.age, saved.patient.sex) == ("ZS", "45岁", "male")

    await bot.say("不知道")
    assert "onset" in (await bot.case(case.case_id)).unknown
    await bot.say("以上都没有")
    await bot.say("见附件")  # outcome: nothing readable, asked again
    await bot.say("见附件")  # twice: no answer, the form goes on
    done = await bot.say("算了")  # stopped at the concomitant medicines
    assert any(case.case_id in text and "已提交" in text for text in done)
    final = await bot.case(case.case_id)
    assert final.status is CaseStatus.SUBMITTED and final.submit_reason is SubmitReason.STOPPED
    assert final.incomplete and final.seriousness == [] and "XX" in final.products[0].name
    # Per step, how its question ended; event and product came with the report (no question).
    assert final.asked == {
        "patient": Asked.ANSWERED,
        "onset": Asked.DONT_KNOW,
        "seriousness": Asked.ANSWERED,
        "outcome": Asked.NO_ANSWER,
        "concomitant": Asked.NOT_ASKED,
    }
    assert final.empty_fields == {
        "onset": "dont_know",
        "outcome": "no_answer",
        "concomitant": "not_asked",
    }
    assert case_document(final, None)["empty_fields"] == final.empty_fields
    text = narrative(final)
    assert "Reporter did not know: onset." in text and "Asked twice, no answer: outcome." in text
    assert "Not asked (the report form ended first): concomitant." in text
    assert [p["case_id"] for p in await _queued(storage, DELIVERY_QUEUE)] == [case.case_id]
    # The conversation is free again: a greeting gets the menu, not a form question.
    assert "帮助" in (await bot.say("你好"))[0] or "您好" in (await bot.say("你好"))[0]


async def test_english_form_to_confirmation(storage: Storage, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    await bot.say("My patient developed a severe rash after taking Drugzol, lot AB123")
    case = await bot.only_case()
    replies = await bot.say("JS, 62, female")
    assert "when did it start" in replies[-1].lower()  # the product was in the report
    await bot.say("don't know")  # onset
    await bot.say("hospitalised")
    await bot.say("recovering")
    await bot.say("none")
    await bot.say("yes")
    summary = await bot.say("+86 138 0000 0000")
    assert "Report summary" in summary[-1] and "Drugzol" in summary[-1]
    assert "，" not in summary[-1]  # English replies use English punctuation
    done = await bot.say("confirm")
    assert case.case_id in done[-1]
    final = await bot.case(case.case_id)
    assert final.submit_reason is SubmitReason.CONFIRMED and not final.incomplete
    assert final.products[0].batch == "AB123"
    assert final.seriousness == [Seriousness.HOSPITALISATION]
    assert final.outcome is Outcome.RECOVERING
    # "none" for the other medicines is an answer: an empty list that reads "none".
    assert final.asked["concomitant"] is Asked.ANSWERED and final.concomitant == []
    assert final.empty_fields == {"onset": "dont_know", "concomitant": "answered"}
    assert "Reported none: concomitant." in narrative(final)
    contact = await bot.ae.store.read_contact(
        case.case_id, reader="test", purpose="assert", at=bot.clock()
    )
    assert contact is not None and contact.consent_to_follow_up is True
    assert contact.preferred_contact == "+86 138 0000 0000"
    assert "138 0000 0000" not in final.model_dump_json()  # the contact lives apart from the case
    escalations = await _queued(storage, ESCALATION_QUEUE)
    assert [e["reason"] for e in escalations] == [EscalationReason.SERIOUS_ADVERSE_EVENT.value]


async def test_ae_inside_a_literature_question(storage: Storage, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    replies = await bot.say("我的病人用了XX药后出现皮疹，这是已知的不良反应吗？文献里有报道吗？")
    case = await bot.only_case()
    assert case.known_effect_question
    # answered by Q&A: with no approved content on "XX药" it says so and offers an MI request
    assert any("经批准信息" in text or "医学信息" in text for text in replies)
    assert any(case.case_id in text for text in replies)  # and the case is opened


async def test_known_effect_question_is_answered_from_approved_content(
    storage: Storage, tmp_path: Path, sample_knowledge: KnowledgeBase
) -> None:
    bot = AEBot(ae_settings(tmp_path), storage, knowledge=sample_knowledge)
    await bot.say("你好")
    profiles = ProfileStore(storage)
    profile = await profiles.get_or_create("doc1")
    profile.verified = True
    await profiles.save(profile)
    replies = await bot.say("我的病人服用诺拉维后出现肌肉疼痛，这是已知的不良反应吗？")
    case = await bot.only_case()
    assert case.known_effect_question and any(case.case_id in text for text in replies)
    assert any("AUR-CN-NRX" in text for text in replies)  # cited approved content answers it


async def test_addition_at_confirmation_asks_to_confirm_again(
    storage: Storage, tmp_path: Path
) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    await bot.say(ZH_REPORT)
    for _ in range(12):  # answer every question with "don't know" until the summary
        if await bot.form_step("doc1") == "confirm":
            break
        await bot.say("不知道")
    assert await bot.form_step("doc1") == "confirm"
    addition = await bot.say("补充一下：患者之前也用过阿司匹林")
    assert await bot.form_step("doc1") == "confirm" and addition  # asked to confirm again
    await bot.say("是")
    assert (await bot.only_case()).status is CaseStatus.SUBMITTED


async def test_general_side_effect_question_opens_no_case(storage: Storage, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    await bot.say("XX药常见的不良反应有哪些？")
    assert await bot.ae.store.case_ids() == []


async def test_ae_in_human_mode_goes_to_pv_and_the_rep(storage: Storage, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    await bot.say("你好")
    await bot.set_mode("doc1", ConversationMode.HUMAN)
    replies = await bot.say("患者用药后住院了，出现严重肝损伤")
    case = await bot.only_case()
    assert not any("姓名首字母" in text for text in replies)  # no form in human mode
    assert case.status is CaseStatus.SUBMITTED and case.submit_reason is SubmitReason.HUMAN_MODE
    assert case.mode is ConversationMode.HUMAN
    reasons = [e["reason"] for e in await _queued(storage, ESCALATION_QUEUE)]
    assert EscalationReason.ADVERSE_EVENT_IN_HUMAN_MODE.value in reasons
    assert EscalationReason.SERIOUS_ADVERSE_EVENT.value in reasons
    assert [p["case_id"] for p in await _queued(storage, DELIVERY_QUEUE)] == [case.case_id]


async def test_idle_form_is_submitted_incomplete(storage: Storage, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path, ae_idle_submit_min=30), storage)
    await bot.say(ZH_REPORT)
    await bot.say("ZS，45岁，男")
    case = await bot.only_case()
    bot.clock.advance(minutes=29)
    await bot.services.scheduler.run_due()
    assert (await bot.case(case.case_id)).status is CaseStatus.COLLECTING
    bot.clock.advance(minutes=2)
    await bot.services.scheduler.run_due()
    final = await bot.case(case.case_id)
    assert final.status is CaseStatus.SUBMITTED and final.submit_reason is SubmitReason.IDLE
    assert final.incomplete and final.patient.initials == "ZS"
    assert "您好" in (await bot.say("你好"))[0]  # the form is gone from the conversation


async def test_restart_mid_form_loses_nothing(storage: Storage, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    await bot.say(ZH_REPORT)
    await bot.say("LW，70岁，女")
    bot.services, bot.dispatcher = bot.build()  # the process died; a new one starts
    replies = await bot.say("两天前")
    assert "严重" in replies[-1] or "以下任一情况" in replies[-1]  # continues where it was
    case = await bot.only_case()
    assert case.patient.initials == "LW" and case.events[0].onset == "两天前"


async def test_names_and_id_numbers_are_masked(storage: Storage, tmp_path: Path) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    await bot.say("患者张三，身份证号110101199001011234，用了XX药后出现肝功能异常")
    case = await bot.only_case()
    stored = case.model_dump_json()
    assert "张三" not in stored and "110101199001011234" not in stored
    assert "XX药" in case.sources[0].text  # the rest is kept verbatim


async def test_a_message_both_screened_and_answered_is_one_source(
    storage: Storage, tmp_path: Path
) -> None:
    """An answer the form could not read is kept for PV, once, even when screening kept it too."""
    bot = AEBot(ae_settings(tmp_path), storage)
    await bot.say("我有个病人吃了诺拉维两周后肌肉疼得厉害，CK升到12000，已经停药了")
    case = await bot.only_case()
    await bot.say("男，65岁")
    await bot.say("两周前")  # not a seriousness answer: asked again
    await bot.say("停药了")  # again not one: unknown, the words kept for PV
    sources = (await bot.case(case.case_id)).sources
    ids = [source.message_id for source in sources]
    assert len(ids) == len(set(ids)) and sources[-1].text == "停药了"
    assert not case.add_source(case.sources[0])  # the same message again is not kept twice


async def test_the_pv_card_shows_times_in_the_business_time_zone(
    storage: Storage, tmp_path: Path
) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    await bot.say(ZH_REPORT)
    case = await bot.only_case()
    fields = dict(case_card(case, "Asia/Shanghai").fields)
    shanghai = case.day0.astimezone(ZoneInfo("Asia/Shanghai"))
    assert fields["Day 0"] == f"{shanghai:%Y-%m-%d %H:%M}" and "+00:00" not in fields["截止 Due"]
