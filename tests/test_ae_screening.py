"""Two-stage adverse-event screening through the whole bot: clear reports open a case at once,
ambiguous messages get one confirmation question, advice questions are answered.

The decision layer (what the bot does with a clear report, a candidate or nothing) is tested
with a scripted detector (``tests.ae_support.ScriptedDetector``): each message below is a clear
report, a candidate or nothing *by construction*, so a retrained model that scores it otherwise
does not move these tests. The confirmation flow runs end to end through the production
dispatcher on every storage backend: a yes, a clear no ("不是", "不是的，只是问问", "no"), an
unclear answer, a restart between the question and the answer, an answer that is itself a
report, and a new question typed instead of the answer (answered, then the confirmation is
asked again; a second one opens the case).

The last part runs the shipped model end to end on messages whose outcome PV requires, not a
score: clear reports (Chinese, English, typos) open a case at once, plain questions are
answered, a report that asks gets the case and then the answer.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from bot.middlewares import load_conversation
from bot.storage.base import Storage
from bot.storage.memory import MemoryStorage
from knowledge.base import KnowledgeBase
from skills.adverse_events.cases import Seriousness
from skills.adverse_events.cli import classify_jsonl
from skills.adverse_events.detector import AEDetector
from skills.adverse_events.screening import PENDING_CONFIRMATION
from skills.adverse_events.service import default_detector
from tests.ae_support import AEBot, ScriptedDetector, ae_settings, case, confirm, walk_to

# A candidate: something untoward, not said to have followed a medicine.
CONFIRM_ZH = "病人最近老说腿没劲，上楼费劲"
CONFIRM_EN = "My patient mentioned mild headaches this week."
CONFIRM_ASKING = "病人最近老说腿没劲，上楼费劲，怎么办"
CLEAR_ZH = "患者服用诺拉维两周后出现横纹肌溶解，已住院"
GOOD_COURSE = "患者吃了诺拉维两周后血脂控制得很好，没什么不舒服"
REPORT_REPLY = "病人服用诺拉维后出现黑色小便，CK 12000，已经住院"
SECOND_REPORT = "患者吃了诺拉维以后还出现了严重的腿疼，走不了路"
OTHER_PATIENT = "另一位患者用了诺拉维一周后出现全身皮疹"
CLEAR_EN = "my pt on noravex 20mg got rhabdo, CK 15000, admitted to ICU"
DOSE_CHANGE = "患者上周把诺拉维从10mg加到20mg，目前在观察"
PREGNANT = "one of my pts on noravex got pregnant, shes about 7 wks"
RASH = "我的病人出现了全身皮疹"  # no product, not serious: the form asks patient, product…
QUESTION_MARK = ("请回复“是”或“不是”", "Please reply 'yes' or 'no'")

# What the scripted detector answers; every other text is nothing (no report, no candidate).
SCRIPT = ScriptedDetector(
    {
        CONFIRM_ZH: confirm(),
        CONFIRM_EN: confirm(),
        CONFIRM_ASKING: confirm(),
        CONFIRM_ZH + "，要不要停药？": confirm(),
        # Replies to the confirmation that a detector may flag on their own (worst case).
        "对，吃了诺拉维以后": case(),
        "对，住院了": case(),
        "诺拉维一天最多吃几片": confirm(),
        "noravex for a 14 year old with FH": case(),
        "我有个病人65岁，LDL 4.5，该给他开诺拉维多少mg": confirm(),
        "门诊一位78岁老太太血脂高，要不要给她上诺拉维": confirm(),
        CLEAR_ZH: case(),
        CLEAR_EN: case(),
        REPORT_REPLY: case(),
        SECOND_REPORT: case(),
        OTHER_PATIENT: case(),
        "不是。" + CLEAR_ZH: case(),
        "2 days after dose went up": case(),
        # Search-like queries and questions scored as clear reports.
        "noravex dosing pls": case(),
        "noravex in liver disease": case(),
        "common adverse reactions of noravex": case(known_effect_question=True),
        "noravex overdose": case("overdose"),
        "药瓶里面有一根头发": case("quality_complaint"),
        "rash after noravex": case(),
        "重度肾功能不全 诺拉维最大剂量": confirm(),
        "肝硬化的病人诺拉维最多吃多少": confirm("overdose"),
        "noravex in dialysis patients": confirm(),
        "noravex and warfarin interaction": case("interaction"),
        "患者同时服用诺拉维和克拉霉素后出现肌肉疼痛，CK升高，这两个药能一起用吗？": case(
            "adverse_event", "interaction"
        ),
        "pt got pregnant on noravex what now": case("pregnancy"),
        # Session 9: food and drink, good courses, topic queries (see their tests).
        "吃noravex期间葡萄柚汁能喝么": case(),
        "吃诺拉维能喝酒不": case(),
        GOOD_COURSE: confirm(),
        DOSE_CHANGE: case(),
        "患者吃了诺拉维后血脂控制得很好，但是腿疼": confirm(),
        "rhabdomyolysis with noravex": case(),
        "CYP3A4 inhibitors with noravex": case("interaction"),
        "noravex 肝损": confirm(),
        RASH: case(),
        PREGNANT: case("pregnancy"),
        "my patient had a rash on noravex": case(),
        "如果病人吃诺拉维出现肌痛应该怎么办": confirm(),
        "if a patient develops muscle pain on noravex what should they do": confirm(),
        "what to do if a pt overdoses": case("overdose"),
        "我是心内科医生，想看诺拉维的说明书": confirm(),
        "what do i tell pts on noravex about muscle pain": case(),
        "诺拉维 早上吃还是晚上吃": confirm(),
        "病人吃了诺拉维以后肌痛，如果停药会好吗": confirm(),
        "患者皮疹加重，已经住院了": case(),
        "the rash got worse, he was admitted to ICU": case(),
        "皮疹更重了，但是没有住院": case(),
        "有个患者肌痛，我要不要给他换药": case(),
    }
)


def _bot(storage: Storage, tmp_path: Path, **kwargs: Any) -> AEBot:
    """The whole bot, screening with the scripted detector."""
    return AEBot(ae_settings(tmp_path), storage, detector=SCRIPT, **kwargs)


def _asked(replies: list[str]) -> bool:
    return any(mark in text for text in replies for mark in QUESTION_MARK)


async def _asked_about(storage: Storage, tmp_path: Path, text: str) -> AEBot:
    """A bot that has just asked the doctor to confirm ``text``; no case is open yet."""
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(text))
    assert await bot.ae.store.case_ids() == []
    return bot


async def _audit_values(storage: Storage, key: str) -> list[str]:
    """The ``audit_<key>`` annotation of every audited message."""
    entries = await storage.consume("audit", "test-audit-values", "t", count=500, block_ms=0)
    return [str((entry.payload.get("annotations") or {}).get(f"audit_{key}")) for entry in entries]


async def _audit_kinds(storage: Storage) -> list[str]:
    entries = await storage.consume("audit", "test-audit", "t", count=500, block_ms=0)
    return [str(entry.payload.get("kind")) for entry in entries]


@pytest.mark.parametrize("answer", ["是的", "是", "对，吃了诺拉维以后", "yes"])
async def test_yes_opens_the_case_with_day0_of_the_first_message(
    storage: Storage, tmp_path: Path, answer: str
) -> None:
    bot = _bot(storage, tmp_path)
    asked = await bot.say(CONFIRM_ZH)
    assert _asked(asked) and "是" in asked[-1]
    assert await bot.ae.store.case_ids() == []  # nothing opens before the answer
    first_at = bot.clock.now
    bot.clock.advance(minutes=7)
    replies = await bot.say(answer)
    case = await bot.only_case()
    assert case.day0 == first_at and case.sources[0].text == CONFIRM_ZH
    assert case.detection["confirmation"]["answer"] == "yes"
    assert any(case.case_id in text for text in replies)  # the report form starts
    conversation = await load_conversation(storage, "doc1")
    assert conversation is not None and PENDING_CONFIRMATION not in conversation.data


@pytest.mark.parametrize("answer", ["不是", "不是的，只是问问", "没有", "no, just asking"])
async def test_a_clear_no_is_audited_and_the_message_goes_on_to_its_skill(
    storage: Storage, tmp_path: Path, answer: str
) -> None:
    bot = await _asked_about(storage, tmp_path, CONFIRM_ZH)
    replies = await bot.say(answer)
    assert await bot.ae.store.case_ids() == []
    assert replies and not _asked(replies)  # the first message is handled by its skill
    assert "ae_confirmation_declined" in await _audit_kinds(storage)
    # The question is settled: the next message is an ordinary one.
    assert await bot.say("谢谢") and await bot.ae.store.case_ids() == []


@pytest.mark.parametrize("answer", ["不知道", "嗯……不太确定", "患者自己说的", "?"])
async def test_anything_but_a_clear_no_opens_the_case(
    storage: Storage, tmp_path: Path, answer: str
) -> None:
    bot = await _asked_about(storage, tmp_path, CONFIRM_ZH)
    await bot.say(answer)
    case = await bot.only_case()
    assert case.sources[0].text == CONFIRM_ZH
    assert case.detection["confirmation"]["answer"] == "unclear"


async def test_the_question_survives_a_restart(storage: Storage, tmp_path: Path) -> None:
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(CONFIRM_EN))
    first_at = bot.clock.now
    bot.services, bot.dispatcher = bot.build()  # the process restarts before the answer
    bot.clock.advance(hours=2)
    await bot.say("yes")
    case = await bot.only_case()
    assert case.day0 == first_at and case.sources[0].text == CONFIRM_EN


async def test_an_answer_that_is_a_report_loses_neither(storage: Storage, tmp_path: Path) -> None:
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(CONFIRM_ZH))
    await bot.say(CLEAR_ZH)
    case = await bot.only_case()
    assert [source.text for source in case.sources] == [CONFIRM_ZH, CLEAR_ZH]


async def test_a_report_typed_as_the_answer_is_the_event(storage: Storage, tmp_path: Path) -> None:
    """Seen in virtualrep chat: a good-course story fell in the confirmation band and the doctor
    answered with a real report; PV read the good-course story as the event, not serious. (A
    good course is no longer asked about; any candidate answered with a report is the same.)"""
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(CONFIRM_ZH))
    first_at = bot.clock.now
    bot.clock.advance(minutes=3)
    await bot.say(REPORT_REPLY)
    case = await bot.only_case()
    assert case.events[0].verbatim == REPORT_REPLY
    assert case.seriousness is not None and Seriousness.HOSPITALISATION in case.seriousness
    assert [source.text for source in case.sources] == [CONFIRM_ZH, REPORT_REPLY]
    assert case.day0 == first_at and [p.name for p in case.products] == ["诺拉维"]
    assert case.serious_escalated  # the rep is told of the serious case, as for a clear report


async def test_a_plain_yes_leaves_the_first_message_the_event(
    storage: Storage, tmp_path: Path
) -> None:
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(CONFIRM_ZH))
    await bot.say("是的")
    case = await bot.only_case()
    assert [event.verbatim for event in case.events] == [CONFIRM_ZH]
    assert [source.text for source in case.sources] == [CONFIRM_ZH]


async def test_a_yes_that_only_says_how_it_went_leaves_the_first_message_the_event(
    storage: Storage, tmp_path: Path
) -> None:
    """ "对，住院了" names no reaction of its own (admission is how the event went), so the
    symptom in the first message stays the event PV reads."""
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(CONFIRM_ZH))
    await bot.say("对，住院了")
    case = await bot.only_case()
    assert [event.verbatim for event in case.events] == [CONFIRM_ZH]
    assert case.sources[0].text == CONFIRM_ZH


async def test_a_no_followed_by_a_report_in_the_same_message_opens_that_report(
    storage: Storage, tmp_path: Path
) -> None:
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(CONFIRM_ZH))
    await bot.say("不是。" + CLEAR_ZH)
    case = await bot.only_case()
    assert CLEAR_ZH in case.sources[0].text and CONFIRM_ZH not in case.sources[0].text
    assert "ae_confirmation_declined" in await _audit_kinds(storage)


async def test_english_doctors_are_asked_in_english(storage: Storage, tmp_path: Path) -> None:
    bot = _bot(storage, tmp_path)
    asked = await bot.say(CONFIRM_EN)
    assert any("pharmacovigilance" in text and "yes" in text for text in asked)


async def test_a_clear_report_opens_at_once(storage: Storage, tmp_path: Path) -> None:
    bot = _bot(storage, tmp_path)
    replies = await bot.say(CLEAR_ZH)
    case = await bot.only_case()
    assert not _asked(replies[:1]) and case.case_id in replies[0]


async def test_a_question_that_also_tells_of_an_event_gets_the_case_then_the_answer(
    storage: Storage, tmp_path: Path, sample_knowledge: KnowledgeBase
) -> None:
    bot = _bot(storage, tmp_path, knowledge=sample_knowledge)
    replies = await bot.say(
        "患者同时服用诺拉维和克拉霉素后出现肌肉疼痛，CK升高，这两个药能一起用吗？"
    )
    case = await bot.only_case()
    assert "interaction" in case.categories
    assert case.case_id in replies[0] and len(replies) >= 2


REMINDER = ("另外，请确认", "One more thing")


async def test_a_question_typed_at_the_confirmation_is_answered_and_the_question_asked_again(
    storage: Storage, tmp_path: Path, sample_knowledge: KnowledgeBase
) -> None:
    bot = _bot(storage, tmp_path, knowledge=sample_knowledge)
    assert _asked(await bot.say(CONFIRM_ZH))
    replies = await bot.say("诺拉维的推荐起始剂量是多少")
    assert await bot.ae.store.case_ids() == []  # not taken as the answer
    assert len(replies) >= 2 and any(mark in replies[-1] for mark in REMINDER)
    assert not any(mark in text for text in replies[:-1] for mark in REMINDER)  # answered first
    conversation = await load_conversation(storage, "doc1")
    assert conversation is not None and PENDING_CONFIRMATION in conversation.data
    # The answer to the reminder settles it: a no is a no.
    await bot.say("不是")
    assert await bot.ae.store.case_ids() == []
    assert "ae_confirmation_declined" in await _audit_kinds(storage)


async def test_a_yes_after_the_reminder_opens_the_case_with_day0_of_the_first_message(
    storage: Storage, tmp_path: Path
) -> None:
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(CONFIRM_EN))
    first_at = bot.clock.now
    bot.clock.advance(minutes=3)
    replies = await bot.say("What is the maximum dose of Noravex?")
    assert any(mark in replies[-1] for mark in REMINDER)
    await bot.say("yes")
    case = await bot.only_case()
    assert case.day0 == first_at and case.sources[0].text == CONFIRM_EN
    assert case.detection["confirmation"]["answer"] == "yes"


async def test_a_second_question_instead_of_the_answer_opens_the_case(
    storage: Storage, tmp_path: Path
) -> None:
    bot = await _asked_about(storage, tmp_path, CONFIRM_ZH)
    await bot.say("诺拉维的推荐起始剂量是多少")
    replies = await bot.say("帮我报名下周的会议")
    case = await bot.only_case()  # when in doubt, report: the pending message is not dropped
    assert case.sources[0].text == CONFIRM_ZH and case.case_id in replies[0]
    assert case.detection["confirmation"]["answer"] == "unclear"
    assert case.detection["confirmation"]["deferred_by"]


async def _in_report_form(storage: Storage, tmp_path: Path) -> tuple[AEBot, str, str]:
    """A bot whose doctor is in the report form of ``CLEAR_ZH``: (bot, case id, form step)."""
    bot = _bot(storage, tmp_path)
    await bot.say(CLEAR_ZH)
    case = await bot.only_case()
    step = await bot.form_step("doc1")
    assert step not in (None, "event", "confirm")  # a free-text question is pending
    return bot, case.case_id, step


async def test_a_second_report_typed_inside_the_form_is_added_and_the_doctor_told(
    storage: Storage, tmp_path: Path
) -> None:
    bot, _, step = await _in_report_form(storage, tmp_path)
    replies = await bot.say(SECOND_REPORT)
    case = await bot.only_case()  # added to the open case, no second case
    assert len(case.sources) == 2
    assert any(case.case_id in text and "补充" in text for text in replies)
    assert await bot.form_step("doc1") == step  # not taken as the answer: asked again


async def test_a_report_that_answers_the_pending_question_is_that_answer(
    storage: Storage, tmp_path: Path
) -> None:
    """Seen in `virtualrep simulate`: "2 days after dose went up", typed at the onset question,
    was screened as a report, so the doctor was told it was added and asked the onset again."""
    bot = _bot(storage, tmp_path)
    await bot.say(CLEAR_EN)
    await bot.say("JB 71 M")
    assert await bot.form_step("doc1") == "onset"
    replies = await bot.say("2 days after dose went up")
    case = await bot.only_case()
    assert case.events[0].onset == "2 days after dose went up"
    assert await bot.form_step("doc1") not in ("onset", None)  # the form goes on
    assert not any("added" in text for text in replies)


async def test_another_patients_report_inside_the_form_opens_its_own_case(
    storage: Storage, tmp_path: Path
) -> None:
    bot, first_id, step = await _in_report_form(storage, tmp_path)
    other = OTHER_PATIENT
    replies = await bot.say(other)
    case_ids = await bot.ae.store.case_ids()
    assert len(case_ids) == 2
    second = await bot.case(next(c for c in case_ids if c != first_id))
    assert [source.text for source in second.sources] == [other]
    assert [source.text for source in (await bot.case(first_id)).sources] == [CLEAR_ZH]
    assert any(second.case_id in text and first_id in text for text in replies)
    assert await bot.form_step("doc1") == step  # the open form goes on


@pytest.mark.parametrize(
    "question",
    [
        "我有个病人65岁，LDL 4.5，该给他开诺拉维多少mg",
        "门诊一位78岁老太太血脂高，要不要给她上诺拉维",
    ],
)
async def test_a_question_the_classifier_is_sure_of_skips_the_confirmation(
    storage: Storage, tmp_path: Path, question: str
) -> None:
    bot = _bot(storage, tmp_path)
    verdict = await bot.ae.screener.screen(question)
    assert verdict.confirm  # in the confirmation band on its own
    replies = await bot.say(question)
    assert replies and not _asked(replies)  # its skill answers instead
    assert await bot.ae.store.case_ids() == []


async def test_a_question_that_tells_of_an_event_is_still_asked_about(
    storage: Storage, tmp_path: Path
) -> None:
    bot = _bot(storage, tmp_path)
    assert _asked(await bot.say(CONFIRM_ZH + "，要不要停药？"))


@pytest.mark.parametrize(
    "query",
    ["noravex dosing pls", "noravex in liver disease", "common adverse reactions of noravex"],
)
async def test_a_search_style_query_scored_clear_opens_no_case_at_once(
    storage: Storage, tmp_path: Path, query: str
) -> None:
    """A few words typed like a search, with no patient and nothing that happened: the
    classifier scores them like reports, but no case opens at once (answered, or asked)."""
    bot = _bot(storage, tmp_path)
    assert (await bot.ae.screener.screen(query)).report  # clear on the detector's score alone
    assert await bot.say(query)
    assert await bot.ae.store.case_ids() == []


@pytest.mark.parametrize("query", ["noravex overdose", "药瓶里面有一根头发"])
async def test_a_search_naming_a_special_situation_is_still_a_report(
    storage: Storage, tmp_path: Path, query: str
) -> None:
    bot = _bot(storage, tmp_path)
    await bot.say(query)
    assert len(await bot.ae.store.case_ids()) == 1


async def test_a_search_naming_a_reaction_is_asked_about_not_skipped(
    storage: Storage, tmp_path: Path
) -> None:
    await _asked_about(storage, tmp_path, "rash after noravex")


async def test_a_plain_question_typed_at_the_confirmation_is_not_taken_for_a_report(
    storage: Storage, tmp_path: Path
) -> None:
    """A question that is itself a candidate, but plainly a question the bot would not ask
    about on its own, is answered and the pending question asked again: no case for it."""
    bot = await _asked_about(storage, tmp_path, "rash after noravex")
    question = "诺拉维一天最多吃几片"
    assert (await bot.ae.screener.screen(question)).confirm  # a candidate on its own
    replies = await bot.say(question)
    assert await bot.ae.store.case_ids() == []
    assert any(mark in replies[-1] for mark in REMINDER)  # asked again after the answer


# A question about a dose, a population or condition it is about, an interaction: answered,
# neither a case nor a confirmation (issues #15, #18).
@pytest.mark.parametrize(
    "text",
    [
        "重度肾功能不全 诺拉维最大剂量",
        "肝硬化的病人诺拉维最多吃多少",  # a population the detector flags on its own
        "noravex in dialysis patients",
        "noravex and warfarin interaction",
    ],
)
async def test_a_question_about_a_population_or_an_interaction_is_answered_not_reported(
    tmp_path: Path, text: str
) -> None:
    bot = _bot(MemoryStorage(), tmp_path)  # screening alone: one backend
    verdict = await bot.ae.screener.screen(text)
    assert verdict.report or verdict.confirm  # the detector flags it on its own
    replies = await bot.say(text)
    assert replies and not _asked(replies)
    assert await bot.ae.store.case_ids() == []


FORM_INTRO = ("接下来问几个简短的问题", "A few short questions follow")


def _between_ack_and_form(replies: list[str], case_id: str) -> list[str]:
    """The replies after the case's acknowledgement and before the form's first question."""
    ack = next(i for i, text in enumerate(replies) if case_id in text)
    intro = next(i for i, text in enumerate(replies) if any(m in text for m in FORM_INTRO))
    return replies[ack + 1 : intro]


@pytest.mark.parametrize(
    "text", ["pt got pregnant on noravex what now", "有个患者肌痛，我要不要给他换药"]
)
async def test_a_report_that_asks_opens_the_case_then_answers_in_the_same_turn(
    tmp_path: Path, text: str
) -> None:
    bot = _bot(MemoryStorage(), tmp_path)
    replies = await bot.say(text)
    case = await bot.only_case()
    assert _between_ack_and_form(replies, case.case_id)  # case first, then the answer


async def test_a_candidate_that_asks_gets_the_confirmation_and_the_answer(
    storage: Storage, tmp_path: Path
) -> None:
    """The confirmation question first, then the answer, in one turn; after a yes the case's
    first turn does not answer the question again."""
    bot = _bot(storage, tmp_path)
    replies = await bot.say(CONFIRM_ASKING)
    assert _asked(replies[:1]) and len(replies) >= 2
    assert await bot.ae.store.case_ids() == []
    replies = await bot.say("是的")
    case = await bot.only_case()
    assert case.sources[0].text == CONFIRM_ASKING
    assert _between_ack_and_form(replies, case.case_id) == []


async def test_a_no_after_an_answered_candidate_is_acknowledged_not_answered_twice(
    storage: Storage, tmp_path: Path
) -> None:
    bot = _bot(storage, tmp_path)
    await bot.say(CONFIRM_ASKING)
    replies = await bot.say("不是")
    assert await bot.ae.store.case_ids() == []
    assert replies == ["好的，明白了，不作为不良事件报告。还有其他问题请随时告诉我。"]
    assert "ae_confirmation_declined" in await _audit_kinds(storage)


async def test_a_query_without_a_question_word_at_the_confirmation_is_a_new_question(
    storage: Storage, tmp_path: Path
) -> None:
    """ "noravex for a 14 year old with FH" (no question word) typed at the confirmation is
    answered and the confirmation asked again, not read as an unclear answer (no case)."""
    bot = await _asked_about(storage, tmp_path, CONFIRM_EN)
    replies = await bot.say("noravex for a 14 year old with FH")
    assert await bot.ae.store.case_ids() == []
    assert any(mark in replies[-1] for mark in REMINDER)


async def test_a_question_typed_inside_the_form_is_not_added_to_the_case(
    tmp_path: Path,
) -> None:
    bot, _, step = await _in_report_form(MemoryStorage(), tmp_path)
    replies = await bot.say("noravex in dialysis patients")
    case = await bot.only_case()
    assert [source.text for source in case.sources] == [CLEAR_ZH]
    assert not any("补充" in text or "added this" in text for text in replies)
    assert await bot.form_step("doc1") == step  # answered, then the same question again


def test_classify_ae_jsonl_follows_the_question_only_rule() -> None:
    """``classify-ae --jsonl`` says what the bot does: a question that only asks reaches no one,
    a report said as a question still does."""
    rows = [
        {"id": 1, "text": "肝硬化的病人诺拉维最多吃多少"},
        {"id": 2, "text": "noravex in dialysis patients"},
        {"id": 3, "text": "病人吃了诺拉维以后转氨酶升高了，还能继续吃吗？"},
        {"id": 4, "text": "pt got pregnant on noravex what now"},
    ]
    source = io.StringIO("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    sink, errors = io.StringIO(), io.StringIO()
    detector = default_detector()
    assert isinstance(detector, AEDetector)  # the shipped one
    assert classify_jsonl(detector, source, sink, errors) == 0
    verdicts = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [v["report"] for v in verdicts] == [False, False, True, True]


@pytest.mark.parametrize("question", ["吃noravex期间葡萄柚汁能喝么", "吃诺拉维能喝酒不"])
async def test_a_food_or_drink_question_on_the_product_is_answered(
    storage: Storage, tmp_path: Path, question: str
) -> None:
    """Taking the product is the question's frame ("吃…期间"), not something told."""
    bot = _bot(storage, tmp_path)
    replies = await bot.say(question)
    assert replies and not _asked(replies)
    assert await bot.ae.store.case_ids() == []
    assert "question_only" in await _audit_values(storage, "ae_confirm")


@pytest.mark.parametrize("text", [GOOD_COURSE, DOSE_CHANGE])  # a candidate, a clear score
async def test_a_good_course_is_answered_not_asked_about(
    storage: Storage, tmp_path: Path, text: str
) -> None:
    """Nothing untoward happened: neither a case nor the confirmation question."""
    bot = _bot(storage, tmp_path)
    replies = await bot.say(text)
    assert replies and not _asked(replies)
    assert await bot.ae.store.case_ids() == []
    assert "good_course" in await _audit_values(storage, "ae_confirm")


async def test_a_good_course_with_a_symptom_is_still_asked_about(
    storage: Storage, tmp_path: Path
) -> None:
    await _asked_about(storage, tmp_path, "患者吃了诺拉维后血脂控制得很好，但是腿疼")


INVITATION = ("如是患者发生的情况", "If this happened to a patient")


@pytest.mark.parametrize(
    ("query", "invited"),
    [
        ("rhabdomyolysis with noravex", True),
        ("noravex 肝损", True),
        ("CYP3A4 inhibitors with noravex", False),  # no effect named
    ],
)
async def test_a_topic_query_is_answered_and_an_effect_invites_a_report(
    storage: Storage, tmp_path: Path, query: str, invited: bool
) -> None:
    bot = _bot(storage, tmp_path)
    replies = await bot.say(query)
    assert await bot.ae.store.case_ids() == []
    assert not _asked(replies)
    assert any(mark in replies[-1] for mark in INVITATION) is invited
    assert len(replies) >= 2 if invited else bool(replies)  # the answer comes first
    assert "topic_query" in await _audit_values(storage, "ae_confirm")


async def test_a_topic_query_inside_the_form_is_not_answered_as_a_topic(
    tmp_path: Path,
) -> None:
    """Inside a report form nobody is asked: a candidate is reported (when in doubt, report)."""
    bot, case_id, _ = await _in_report_form(MemoryStorage(), tmp_path)
    await bot.say("rhabdomyolysis with noravex")
    assert len((await bot.case(case_id)).sources) == 2


async def test_an_overdose_told_opens_a_case_and_the_question_is_answered(
    storage: Storage, tmp_path: Path
) -> None:
    """The detector scores "患者吃超量了怎么办" as nothing (scripted so); an overdose told of a
    patient is a special situation PV must receive: case first, then the answer."""
    bot = _bot(storage, tmp_path)
    replies = await bot.say("患者吃超量了怎么办")
    case = await bot.only_case()
    assert "overdose" in case.categories
    assert _between_ack_and_form(replies, case.case_id)  # the question is answered too
    assert "overdose_told" in await _audit_values(storage, "ae_confirm")


async def test_an_overdose_supposed_is_only_a_question(storage: Storage, tmp_path: Path) -> None:
    bot = _bot(storage, tmp_path)
    assert await bot.say("如果患者吃多了怎么办")
    assert await bot.ae.store.case_ids() == []


@pytest.mark.parametrize(
    "more", ["患者皮疹加重，已经住院了", "the rash got worse, he was admitted to ICU"]
)
async def test_a_report_typed_inside_the_form_adds_its_seriousness(
    storage: Storage, tmp_path: Path, more: str
) -> None:
    """Seen in chat: a report typed into an open form was added as a source only; PV read a
    non-serious case and nobody was told."""
    bot = _bot(storage, tmp_path)
    await bot.say(RASH)
    assert not (await bot.only_case()).seriousness
    step = await bot.form_step("doc1")
    await bot.say(more)
    case = await bot.only_case()
    assert case.seriousness is not None and Seriousness.HOSPITALISATION in case.seriousness
    assert case.serious_escalated  # the rep is told, as for a serious first message
    assert await bot.form_step("doc1") == step


async def test_a_report_inside_the_form_that_denies_admission_adds_no_seriousness(
    tmp_path: Path,
) -> None:
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(RASH)
    await bot.say("皮疹更重了，但是没有住院")
    case = await bot.only_case()
    assert len(case.sources) == 2 and not case.seriousness


async def test_a_question_at_the_initials_step_is_answered_not_stored(
    storage: Storage, tmp_path: Path
) -> None:
    """ "喂奶的妈妈能吃这个药吗" (the detector flags nothing) typed at the patient step was stored
    as a female patient and the form moved on."""
    bot = _bot(storage, tmp_path)
    await bot.say(RASH)
    assert await bot.form_step("doc1") == "patient"
    replies = await bot.say("喂奶的妈妈能吃这个药吗")
    case = await bot.only_case()
    assert case.patient.sex is None and [s.text for s in case.sources] == [RASH]
    assert len(replies) >= 2  # the answer, then the pending question again
    assert await bot.form_step("doc1") == "patient"
    await bot.say("ZS 45岁 女")  # the form resumes
    assert (await bot.only_case()).patient.initials == "ZS"


async def test_a_story_at_the_product_step_gives_the_product_not_the_story(
    tmp_path: Path,
) -> None:
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(RASH)
    await bot.say("ZS 45岁 女")
    assert await bot.form_step("doc1") == "product"
    story = "My patient has been on Noravex for a year, LDL at goal, no complaints until now"
    await bot.say(story)
    case = await bot.only_case()
    assert [product.name for product in case.products] == ["Noravex"]
    assert case.sources[-1].text == story  # PV still reads the words
    assert await bot.form_step("doc1") != "product"


@pytest.mark.parametrize(
    "question",
    [
        "如果病人吃诺拉维出现肌痛应该怎么办",
        "if a patient develops muscle pain on noravex what should they do",
        "what to do if a pt overdoses",
        "我是心内科医生，想看诺拉维的说明书",
        "what do i tell pts on noravex about muscle pain",
        "诺拉维 早上吃还是晚上吃",
    ],
)
async def test_a_supposed_event_or_a_request_is_answered_not_reported(
    tmp_path: Path, question: str
) -> None:
    """Found by the trial helper: conditional questions and a doctor's request got the
    confirmation question (one opened a case)."""
    bot = _bot(MemoryStorage(), tmp_path)
    replies = await bot.say(question)
    assert replies and not _asked(replies)
    assert await bot.ae.store.case_ids() == []


async def test_a_report_with_a_conditional_question_is_still_asked_about(tmp_path: Path) -> None:
    await _asked_about(MemoryStorage(), tmp_path, "病人吃了诺拉维以后肌痛，如果停药会好吗")


async def test_a_no_after_a_question_that_opened_a_form_is_not_taken_by_that_form(
    tmp_path: Path,
) -> None:
    """Found by the trial helper: a question typed at the confirmation started the HCP
    verification form; the "不是" that followed re-ran the first message into that form, which
    took it as the doctor's name and answered "没能识别"."""
    bot = await _asked_about(MemoryStorage(), tmp_path, CONFIRM_ZH)
    await bot.say("怎么认证医生身份")
    conversation = await load_conversation(bot.storage, "doc1")
    assert conversation is not None and conversation.form is not None  # the verification form
    form = conversation.form.name
    replies = await bot.say("不是")
    assert replies == ["好的，明白了，不作为不良事件报告。还有其他问题请随时告诉我。"]
    assert await bot.ae.store.case_ids() == []
    conversation = await load_conversation(bot.storage, "doc1")
    assert conversation is not None and conversation.form is not None
    assert conversation.form.name == form and PENDING_CONFIRMATION not in conversation.data


async def test_patient_details_typed_at_the_event_question_are_not_the_event(
    tmp_path: Path,
) -> None:
    """Found by the trial helper: "AB 31 F" at "describe what happened" became the pregnancy
    case's only event."""
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(PREGNANT)
    assert await bot.form_step("doc1") == "event"
    await bot.say("AB 31 F")
    case = await bot.only_case()
    assert not any(event.verbatim == "AB 31 F" for event in case.events)
    assert case.patient.initials == "AB" and case.patient.sex == "female"


@pytest.mark.parametrize("typed", ["noravex max dose", "hi"])
async def test_words_at_the_patient_question_are_not_initials(tmp_path: Path, typed: str) -> None:
    """Found by the trial helper: "noravex max dose" became initials "MAX", "hi" became "HI"."""
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(RASH)
    await bot.say(typed)
    assert (await bot.only_case()).patient.initials is None
    await bot.say("JB 71 M")
    assert (await bot.only_case()).patient.initials == "JB"


@pytest.mark.parametrize("typed", ["算了不报了", "重新开始"])
async def test_withdrawing_inside_the_form_is_no_answer_and_the_report_stays(
    tmp_path: Path, typed: str
) -> None:
    """Found by the trial helper: "重新开始" was stored as the suspect product."""
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(RASH)
    await bot.say("JB 71 M")
    assert await bot.form_step("doc1") == "product"
    replies = await bot.say(typed)
    case = await bot.only_case()
    assert case.products == [] and any("药物警戒" in text for text in replies)
    assert await bot.form_step("doc1") == "product"


async def test_an_english_summary_uses_english_punctuation(tmp_path: Path) -> None:
    """Found by the trial helper: "Event: AB 31 F（found out last week）"."""
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say("my patient had a rash on noravex")
    await walk_to(bot, "onset", "don't know")
    await bot.say("3 days ago")
    summary = "\n".join(await walk_to(bot, "confirm", "don't know"))
    assert "(3 days ago)" in summary
    assert "（" not in summary and "）" not in summary


@pytest.mark.parametrize(
    "answer", ["没住院，门诊处理的", "没有住院", "以上都不是", "none of those"]
)
async def test_a_denied_criterion_at_the_seriousness_question_is_none(
    tmp_path: Path, answer: str
) -> None:
    """Found by the trial helper: "没住院，门诊处理的" was recorded as hospitalisation and two
    reps were paged."""
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(RASH)
    await walk_to(bot, "seriousness")
    await bot.say(answer)
    case = await bot.only_case()
    assert case.seriousness == [] and not case.serious_escalated
    assert await bot.form_step("doc1") != "seriousness"


@pytest.mark.parametrize("answer", ["好点了", "好多了", "better now"])
async def test_getting_better_at_the_outcome_question_is_recovering(
    tmp_path: Path, answer: str
) -> None:
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(RASH)
    await walk_to(bot, "outcome")
    await bot.say(answer)
    case = await bot.only_case()
    assert case.outcome is not None and case.outcome.name == "RECOVERING"


async def test_symbols_at_a_form_question_ask_it_again_with_an_example(tmp_path: Path) -> None:
    """ "??" at the onset question got the Q&A fallback and the MI/rep menu."""
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(RASH)
    await walk_to(bot, "onset")
    replies = await bot.say("??")
    assert not any("医学信息请求" in text for text in replies)
    assert await bot.form_step("doc1") == "onset"


async def test_a_correction_at_the_summary_changes_the_seriousness(tmp_path: Path) -> None:
    """ "不对，没住院" at the summary left hospitalisation in the case PV received."""
    bot = _bot(MemoryStorage(), tmp_path)
    await bot.say(CLEAR_ZH)  # "已住院": hospitalisation
    assert Seriousness.HOSPITALISATION in ((await bot.only_case()).seriousness or [])
    await walk_to(bot, "confirm")
    replies = await bot.say("不对，没住院")
    case = await bot.only_case()
    assert Seriousness.HOSPITALISATION not in (case.seriousness or [])
    assert await bot.form_step("doc1") == "confirm" and replies  # the summary again


# The shipped model, end to end: outcomes PV requires of any model, not a score's accident.
@pytest.mark.parametrize(
    "report",
    [
        CLEAR_ZH,
        CLEAR_EN,
        "My patient on Noravex was hospitalised with acute kidney injury",
        "病人吃了诺拉为以后腿疼得厉害",  # typo in the product name
        "I had terible muscle aches since startng Noravex",  # typos
    ],
)
async def test_a_clear_report_opens_a_case_at_once_on_the_shipped_model(
    storage: Storage, tmp_path: Path, report: str
) -> None:
    bot = AEBot(ae_settings(tmp_path), storage)
    replies = await bot.say(report)
    case = await bot.only_case()
    assert not _asked(replies) and case.case_id in replies[0]
    assert case.sources[0].text == report


@pytest.mark.parametrize(
    "question",
    [
        "诺拉维的推荐起始剂量是多少",
        "患者同时服用诺拉维和氨氯地平，可以吗？",
        "患者同时在吃吉非罗齐，我能直接把诺拉维加上去吗？",
        "My patient is on warfarin; can I add Noravex?",
        "肝硬化的病人诺拉维最多吃多少",
        "noravex in dialysis patients",
        "What are the side effects of Noravex?",
    ],
)
async def test_a_plain_question_is_answered_on_the_shipped_model(
    tmp_path: Path, sample_knowledge: KnowledgeBase, question: str
) -> None:
    bot = AEBot(ae_settings(tmp_path), MemoryStorage(), knowledge=sample_knowledge)
    replies = await bot.say(question)
    assert replies and not _asked(replies)
    assert await bot.ae.store.case_ids() == []


@pytest.mark.parametrize(
    "text", ["pt got pregnant on noravex what now", "有个患者肌痛，我要不要给他换药"]
)
async def test_a_report_that_asks_gets_the_case_then_the_answer_on_the_shipped_model(
    tmp_path: Path, text: str
) -> None:
    bot = AEBot(ae_settings(tmp_path), MemoryStorage())
    replies = await bot.say(text)
    case = await bot.only_case()
    assert _between_ack_and_form(replies, case.case_id)
