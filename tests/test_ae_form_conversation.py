"""The report form as a doctor talks to it (session 10's trial findings), on a scripted detector.

Each table is what a doctor typed at a step and what must happen: a question or a greeting is
answered and the step asked again (never stored, never counted as a miss); a withdrawal is
told once that PV must still receive the report, then stops the questions; a correction at the
summary changes the field it names (with its negation) and shows the summary again; what the
report already said (the product, the onset) is not asked again; the form's questions stay in
the language it runs in; a sales rep's handoff transcript never carries the report. The
detector is ``tests.ae_support.ScriptedDetector`` (no model score moves these tests).
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from bot.middlewares import load_conversation
from bot.storage.memory import MemoryStorage
from skills.adverse_events.cases import AECase, CaseStatus, Seriousness
from skills.adverse_events.cli import classify_jsonl, classify_texts, offline_question_gauge
from skills.adverse_events.facts import extract_facts
from skills.adverse_events.screener import Screener
from skills.adverse_events.service import case_card
from skills.handoff.briefing import TRANSCRIPT_KEY
from tests.ae_support import AEBot, ScriptedDetector, ae_settings, case, confirm, walk_to

RASH = "我的病人出现了全身皮疹"  # no product, no onset: the form asks patient, product, onset…
RASH_EN = "my patient had a rash all over"
CLEAR_ZH = "患者服用诺拉维两周后出现横纹肌溶解，已住院"
TIRED = "病人吃诺拉维后有点乏力，3天前开始"
CRAMPS = "my pt on noravex has muscle cramps since last wk"
SLEEP = "吃诺拉维的病人最近说睡不好"
ASKS_TOO = "病人吃了诺拉维以后肌痛，这正常吗？"
QUALITY = "the noravex boxes we got this week, tablets look discolored, yellow spots. batch NX2409"
PREGNANT = "有个吃诺拉维的女病人刚查出来怀孕了 六周左右"

SCRIPT = ScriptedDetector(
    {
        RASH: case(),
        RASH_EN: case(),
        CLEAR_ZH: case(),
        TIRED: case(),
        CRAMPS: case(),
        SLEEP: confirm(),
        "患者最近肌肉疼": confirm(),
        "noravex dosing pls": case(),
        ASKS_TOO: case(),
        QUALITY: case("quality_complaint"),
        PREGNANT: case("pregnancy"),
    }
)


def _bot(tmp_path: Path) -> AEBot:
    return AEBot(ae_settings(tmp_path), MemoryStorage(), detector=SCRIPT)


async def _slots(bot: AEBot) -> dict[str, object]:
    conversation = await load_conversation(bot.storage, "doc1")
    assert conversation is not None and conversation.form is not None
    return conversation.form.slots


# -- 1. a question or a greeting at a step (findings 36, 52, lead's "吃多了咋整") -----------------

QUESTIONS_AT_A_STEP = [
    (RASH, "patient", "吃多了咋整"),
    (RASH, "patient", "喂奶的妈妈能吃这个药吗"),
    (RASH, "patient", "noravex max dose"),
    (RASH, "patient", "whats the max dose"),
    (RASH, "patient", "hi"),
    (RASH, "patient", "HI"),
    (RASH, "patient", "hello??"),
    (RASH, "patient", "你好"),
    (RASH, "patient", "在吗？"),
    (RASH, "product", "noravex max dose"),
    (RASH, "product", "诺拉维 剂量"),
    (RASH, "onset", "吃多了咋整"),
    (RASH, "onset", "hello??"),
    (RASH_EN, "patient", "hi"),
    (RASH_EN, "patient", "what's noravex for"),
    (RASH_EN, "patient", "noravex max dose"),
    # impatience: said to, the step again (it got the overdose answer from Q&A: "多")
    (RASH, "patient", "怎么这么多问题"),
    (RASH, "onset", "快点"),
    (RASH_EN, "patient", "too many questions"),
]


@pytest.mark.parametrize(("report", "step", "typed"), QUESTIONS_AT_A_STEP)
async def test_a_question_or_greeting_at_a_step_is_answered_and_the_step_asked_again(
    tmp_path: Path, report: str, step: str, typed: str
) -> None:
    bot = _bot(tmp_path)
    await bot.say(report)
    dont_know = "不知道" if report == RASH else "don't know"
    await walk_to(bot, step, dont_know)
    before = await bot.only_case()
    replies = await bot.say(typed)
    after = await bot.only_case()
    assert len(replies) >= 2  # the answer (or a greeting), then the step again
    assert await bot.form_step("doc1") == step
    missed = (await _slots(bot)).get("missed", [])
    assert isinstance(missed, list) and step not in missed  # not a miss: no give-up
    assert after.patient == before.patient and after.products == before.products
    assert after.events == before.events and after.unknown == before.unknown


@pytest.mark.parametrize(("typed", "kept"), [("吃多了咋整", True), ("noravex max dose", False)])
async def test_a_question_that_may_tell_of_the_patient_is_kept_for_pv(
    tmp_path: Path, typed: str, kept: bool
) -> None:
    """ "吃多了咋整" inside a report may be the patient's overdose: PV reads it (recall first);
    a question that tells nothing is not added to the case."""
    bot = _bot(tmp_path)
    await bot.say(RASH)
    await bot.say(typed)
    assert (typed in [s.text for s in (await bot.only_case()).sources]) is kept


async def test_an_outcome_typed_at_the_seriousness_question_is_no_none(tmp_path: Path) -> None:
    """ "还没好" (not recovered) at "是否出现以下任一情况？" was read as a no: seriousness none."""
    bot = _bot(tmp_path)
    await bot.say(RASH)
    await walk_to(bot, "seriousness")
    await bot.say("还没好")
    case_now = await bot.only_case()
    assert case_now.seriousness is None and case_now.outcome is not None
    assert case_now.outcome.name == "NOT_RECOVERED"
    assert await bot.form_step("doc1") == "seriousness"
    await bot.say("以上都没有")
    assert await bot.form_step("doc1") != "outcome"  # already told


@pytest.mark.parametrize(
    ("step", "typed", "serious"),
    [
        ("onset", "住了两天院", True),
        ("onset", "3天前，没住院", False),
        ("patient", "男 60 住院了", True),
    ],
)
async def test_a_criterion_stated_in_any_answer_is_kept(
    tmp_path: Path, step: str, typed: str, serious: bool
) -> None:
    bot = _bot(tmp_path)
    await bot.say(RASH)
    await walk_to(bot, step)
    await bot.say(typed)
    case_now = await bot.only_case()
    assert (Seriousness.HOSPITALISATION in (case_now.seriousness or [])) is serious


# -- 2. withdrawing inside the form (finding 26) -----------------------------------------------

WITHDRAWALS = [
    ("算了不报了", "药物警戒"),
    ("不报了", "药物警戒"),
    ("不用报了吧", "药物警戒"),
    ("别报了", "药物警戒"),
    ("重新开始", "药物警戒"),
    ("never mind, don't report", "pharmacovigilance"),
    ("nevermind dont report it", "pharmacovigilance"),
    ("forget it", "pharmacovigilance"),
]


@pytest.mark.parametrize(("typed", "told"), WITHDRAWALS)
async def test_a_withdrawal_is_told_once_the_report_stays_then_it_stops(
    tmp_path: Path, typed: str, told: str
) -> None:
    bot = _bot(tmp_path)
    await bot.say(RASH)
    await bot.say("JB 71 M")
    opened = await bot.only_case()
    replies = await bot.say(typed)
    case_now = await bot.only_case()
    assert any(told in text for text in replies)  # in the doctor's language
    assert any("停止" in text or "stop" in text for text in replies)  # offered to stop
    assert case_now.status is CaseStatus.COLLECTING and case_now.day0 == opened.day0
    assert case_now.products == [] and await bot.form_step("doc1") == "product"
    assert typed in [source.text for source in case_now.sources]  # PV reads the words
    replies = await bot.say(typed)  # said again: the questions stop, what we have is submitted
    submitted = await bot.only_case()
    assert submitted.status is CaseStatus.SUBMITTED and submitted.day0 == opened.day0
    assert submitted.products == []


@pytest.mark.parametrize(
    ("typed", "opened"), [("算了不报了", True), ("never mind", True), ("不是，不用报了", False)]
)
async def test_a_withdrawal_at_the_confirmation_question_keeps_the_case(
    tmp_path: Path, typed: str, opened: bool
) -> None:
    """ "算了不报了" answers nothing about the medicine: not a clear no, so the case opens with
    day 0 of the first message (recall first); a "不是" before it is a clear no."""
    bot = _bot(tmp_path)
    await bot.say("患者最近肌肉疼")
    first_at = bot.clock.now
    bot.clock.advance(minutes=1)
    await bot.say(typed)
    case_ids = await bot.ae.store.case_ids()
    assert bool(case_ids) is opened
    if opened:
        assert (await bot.only_case()).day0 == first_at


@pytest.mark.parametrize("typed", ["算了不报了", "never mind, don't report"])
async def test_a_withdrawal_at_the_summary_is_no_correction(tmp_path: Path, typed: str) -> None:
    bot = _bot(tmp_path)
    await bot.say(CLEAR_ZH)
    await walk_to(bot, "confirm")
    await bot.say(typed)
    case_now = await bot.only_case()
    assert case_now.status is CaseStatus.COLLECTING
    assert Seriousness.HOSPITALISATION in (case_now.seriousness or [])


# -- 3. a correction at the summary (finding 18), with its negation ----------------------------

CORRECTIONS = [
    (CLEAR_ZH, "不对，没住院", False),
    (CLEAR_ZH, "不对，没有住院", False),
    (CLEAR_ZH, "no, not hospitalised", False),
    (CLEAR_ZH, "he was not admitted", False),
    (CLEAR_ZH, "不对，没住院吗？我记得没住", False),
    (RASH, "不对，其实住院了", True),
    (RASH, "actually he was hospitalised", True),
    (RASH, "其实住院了吧", True),
]


@pytest.mark.parametrize(("report", "typed", "hospitalised"), CORRECTIONS)
async def test_a_correction_at_the_summary_changes_the_field_and_shows_it_again(
    tmp_path: Path, report: str, typed: str, hospitalised: bool
) -> None:
    bot = _bot(tmp_path)
    await bot.say(report)  # CLEAR_ZH: hospitalised ("已住院"); RASH: not serious
    if report == RASH:
        await walk_to(bot, "seriousness")
        await bot.say("以上都没有")
    await walk_to(bot, "confirm")
    replies = await bot.say(typed)
    case_now = await bot.only_case()
    assert (Seriousness.HOSPITALISATION in (case_now.seriousness or [])) is hospitalised
    assert await bot.form_step("doc1") == "confirm"
    summary = next(text for text in replies if "报告摘要" in text or "Report summary" in text)
    assert ("住院或住院延长" in summary) is hospitalised


# -- 4. the PV card (finding 28) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("seriousness", "shown"),
    [([], "否 no"), (None, "未知 unknown"), ([Seriousness.HOSPITALISATION], "是 yes")],
)
async def test_the_pv_card_tells_no_from_unknown(
    tmp_path: Path, seriousness: list[Seriousness] | None, shown: str
) -> None:
    bot = _bot(tmp_path)
    await bot.say(RASH)
    case_now: AECase = await bot.only_case()
    case_now.seriousness = seriousness
    case_now.categories = ["adverse_event", "overdose"]
    fields = dict(case_card(case_now, "Asia/Shanghai").fields)
    assert fields["严重 Serious"] == shown
    assert fields["类别 Categories"] == "不良事件 adverse event、过量 overdose"


async def test_none_of_these_at_the_seriousness_question_is_no_on_the_card(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    await bot.say(RASH)
    await walk_to(bot, "seriousness")
    await bot.say("以上都没有")
    fields = dict(case_card(await bot.only_case(), "Asia/Shanghai").fields)
    assert fields["严重 Serious"] == "否 no"


# -- 5. what the report said is not asked again (findings 37, 53) -------------------------------

FACTS_IN_THE_REPORT = [
    (TIRED, ["诺拉维"], "3天前开始"),
    (SLEEP, ["诺拉维"], None),
    ("病人吃诺拉为以后腿疼", ["诺拉为"], None),
    (CRAMPS, ["noravex"], "since last wk"),
    ("pt on noravx got a rash 2 days ago", ["noravx"], "2 days ago"),
    ("started noravex 2 weeks ago, rash since yesterday", ["noravex"], "since yesterday"),
    ("began noravex 3 days ago", ["noravex"], None),  # the start of the medicine
    ("3天前开始吃诺拉维，今天出现皮疹", ["诺拉维"], None),
    ("患者服用诺拉维3天后出现皮疹", ["诺拉维"], "3天后"),
    ("我的病人出现了全身皮疹", [], None),
]


@pytest.mark.parametrize(("text", "products", "onset"), FACTS_IN_THE_REPORT)
def test_the_product_and_the_onset_are_read_from_the_report(
    text: str, products: list[str], onset: str | None
) -> None:
    facts = extract_facts(text)
    assert facts.products == products and facts.onset == onset


@pytest.mark.parametrize(("report", "onset"), [(TIRED, "3天前开始"), (CRAMPS, "since last wk")])
async def test_a_report_with_its_product_and_onset_is_not_asked_them(
    tmp_path: Path, report: str, onset: str
) -> None:
    bot = _bot(tmp_path)
    await bot.say(report)
    asked = [await bot.form_step("doc1")]
    while asked[-1] not in ("seriousness", None):
        await bot.say("JB 71 M")
        asked.append(await bot.form_step("doc1"))
    assert "product" not in asked and "onset" not in asked
    case_now = await bot.only_case()
    assert case_now.products and case_now.events[0].onset == onset


@pytest.mark.parametrize("reply", ["不是很确定", "是的"])
async def test_the_product_named_before_a_confirmation_is_the_suspect(
    tmp_path: Path, reply: str
) -> None:
    bot = _bot(tmp_path)
    await bot.say(SLEEP)
    await bot.say(reply)
    assert [p.name for p in (await bot.only_case()).products] == ["诺拉维"]
    assert await bot.form_step("doc1") != "product"


# -- 6. the sales rep's transcript (finding 29) -------------------------------------------------


async def test_the_reps_transcript_shows_only_that_an_ae_went_to_pv(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    await bot.say("患者最近肌肉疼")  # the confirmation question
    await bot.say("是的")
    case_id = (await bot.only_case()).case_id
    await bot.say("JB 71 M")
    await bot.say("停止")
    await bot.say("诺拉维一天最多吃几片")
    conversation = await load_conversation(bot.storage, "doc1")
    assert conversation is not None
    turns = [turn["text"] for turn in conversation.data[TRANSCRIPT_KEY]]
    told = "\n".join(turns)
    assert "肌肉疼" not in told and "JB" not in told and "71" not in told
    assert any(case_id in text and "药物警戒" in text for text in turns)
    assert turns[-2] == "诺拉维一天最多吃几片"  # a turn with no AE in it stays as typed


# -- 7. the form's language (session 9 finding) -------------------------------------------------

LANGUAGE_KEPT = [
    (RASH, "what's noravex for", "请提供患者"),
    (RASH, "AB 31 F", "怀疑是哪个药品"),
    (RASH, "hello??", "请提供患者"),
    (RASH_EN, "喂奶的妈妈能吃这个药吗", "Patient's initials"),
    (RASH_EN, "男，65岁", "Which product"),
]


@pytest.mark.parametrize(("report", "typed", "next_question"), LANGUAGE_KEPT)
async def test_the_next_question_stays_in_the_forms_language(
    tmp_path: Path, report: str, typed: str, next_question: str
) -> None:
    bot = _bot(tmp_path)
    await bot.say(report)
    replies = await bot.say(typed)
    assert next_question in replies[-1]


# -- 8. classify-ae: the human output and the JSONL contract agree (findings 39, 59) ----------

AGREEMENT = [SLEEP, RASH, "noravex dosing pls", "患者吃超量了怎么办", "早上好"]


def test_classify_ae_text_and_jsonl_agree(capsys: pytest.CaptureFixture[str]) -> None:
    gauge = offline_question_gauge()
    asyncio.run(classify_texts(Screener(SCRIPT, None), gauge, AGREEMENT))
    human = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    source = io.StringIO(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in AGREEMENT)
    )
    sink = io.StringIO()
    assert classify_jsonl(SCRIPT, source, sink, io.StringIO(), gauge) == 0
    rows = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [(h["report"], h["confirm"]) for h in human] == [
        (r["report"], r["confirm"]) for r in rows
    ]
    # a candidate is asked about, a clear report opens a case, a topic query and a greeting are
    # answered, an overdose told of a patient is a case whatever the detector scored
    assert [h["outcome"] for h in human] == ["confirm", "case", "answer", "case", "answer"]


# -- an answer inside the form: no menu, no rep paged (findings 2, 27; session 9's leftover) ----


@pytest.mark.parametrize(
    "question", ["noravex dosing pls", "诺拉维和西柚汁能一起吃吗", "吃多了咋整"]
)
async def test_an_answer_inside_the_form_has_no_menu_and_pages_no_rep(
    tmp_path: Path, question: str
) -> None:
    bot = _bot(tmp_path)
    await bot.say(RASH)
    for _ in range(3):  # three questions the bot may not help with, in a row
        replies = await bot.say(question)
        assert not any("您可以选择" in text or "已为您联系" in text for text in replies)
        assert await bot.form_step("doc1") == "patient"
    conversation = await load_conversation(bot.storage, "doc1")
    assert conversation is not None and conversation.unhelped_in_a_row == 0


# -- trial10 F2/F14: a menu digit is no age; F24/F25: "nothing happened" is no event -----------


async def test_a_bare_digit_is_no_age_and_the_first_turn_shows_no_menu(tmp_path: Path) -> None:
    bot = _bot(tmp_path)
    replies = await bot.say(ASKS_TOO)  # the case, the answer, the first question: no menu
    assert not any("您可以选择" in text for text in replies)
    await bot.say("1")
    assert (await bot.only_case()).patient.age is None
    assert await bot.form_step("doc1") == "patient"
    await bot.say("ZS 45岁 男")
    assert (await bot.only_case()).patient.age == "45岁"


@pytest.mark.parametrize(
    ("report", "typed", "event"),
    [
        (QUALITY, "nothing happened to anyone, no pt took them yet", None),
        (PREGNANT, "没有", None),
        (PREGNANT, "就是怀孕了，没有什么不良反应", None),
        (PREGNANT, "没有什么反应，但是肝酶升高了", "没有什么反应，但是肝酶升高了"),
        (QUALITY, "one pt got a rash after taking them", "one pt got a rash after taking them"),
    ],
)
async def test_nothing_happened_is_no_event(
    tmp_path: Path, report: str, typed: str, event: str | None
) -> None:
    bot = _bot(tmp_path)
    await bot.say(report)
    assert await bot.form_step("doc1") == "event"
    await bot.say(typed)
    case_now = await bot.only_case()
    assert [e.verbatim for e in case_now.events] == ([event] if event else [])
    if event is None:
        assert typed in [source.text for source in case_now.sources]  # PV reads the words
    assert await bot.form_step("doc1") != "event"


async def test_a_quality_complaint_keeps_product_and_batch_and_takes_no_patient(
    tmp_path: Path,
) -> None:
    bot = _bot(tmp_path)
    await bot.say(QUALITY)
    products = (await bot.only_case()).products
    assert [(p.name, p.batch) for p in products] == [("noravex", "NX2409")]
    await bot.say("nothing happened to anyone, no pt took them yet")
    assert await bot.form_step("doc1") == "patient"
    await bot.say("there is no patient")
    assert await bot.form_step("doc1") not in ("patient", "product")


@pytest.mark.parametrize(
    ("typed", "product"),
    [("应该是诺拉维", "诺拉维"), ("可能是诺拉维？", "诺拉维"), ("probably noravex", "noravex")],
)
async def test_a_hedged_product_answer_is_the_product(
    tmp_path: Path, typed: str, product: str
) -> None:
    """trial10 F15: "应该是诺拉维" was refused; only the bare name was taken."""
    bot = _bot(tmp_path)
    await bot.say(RASH)
    await walk_to(bot, "product")
    await bot.say(typed)
    assert [p.name for p in (await bot.only_case()).products] == [product]
    assert await bot.form_step("doc1") != "product"


async def test_the_kf_continue_button_inside_the_form_asks_the_question_again(
    tmp_path: Path,
) -> None:
    """trial10 F10: kf's "继续提问 / Ask another question" invite (click id ``help``) under a form
    question submitted the open report."""
    bot = _bot(tmp_path)
    await bot.say(RASH)
    replies = await bot.say("", click_id="help")
    assert (await bot.only_case()).status is CaseStatus.COLLECTING
    assert await bot.form_step("doc1") == "patient" and "请提供患者" in replies[-1]
