"""The Q&A thesaurus (issue 18): the doctor's word for a concept finds the library's word, and
a passage that never speaks of a question's subject does not answer it."""

from __future__ import annotations

import pytest

from bot.i18n import detect_locale
from bot.models import Locale, MenuReply
from knowledge.base import KnowledgeBase
from skills.qa.thesaurus import asks_for_evidence, expand, mentions, subjects_of, translate
from tests.qa_support import build_bot, cited_for, message, verified_bot


def test_the_library_words_are_appended_in_the_question_language() -> None:
    assert expand("noravex plus coumadin?", chinese=False).endswith("warfarin monitor the INR")
    assert expand("吃诺拉维能喂奶吗", chinese=True).endswith("哺乳期")
    # An English question stays English: a Chinese word would make it read as Chinese.
    english = expand("can a breastfeeding mum take it, and with coumadin?", chinese=False)
    assert detect_locale(english) is Locale.EN
    # Nothing named, nothing appended.
    assert expand("诺拉维一天吃几次", chinese=True) == "诺拉维一天吃几次"


def test_the_share_of_words_a_passage_holds_is_counted_on_the_library_words() -> None:
    assert "warfarin" in translate("noravex with coumadin", chinese=False)
    assert "coumadin" not in translate("noravex with coumadin", chinese=False)
    assert "哺乳期" in translate("喂奶期间能吃吗", chinese=True)
    # "data" asks for a kind of passage (a study), not for the word in it.
    assert "data" not in translate("noravex mixed dyslipidaemia data", chinese=False)


def test_a_subject_is_mentioned_only_in_its_own_words() -> None:
    [anticoagulant] = subjects_of("any issue with coumadin?")
    assert mentions("With warfarin, monitor the INR when starting.", (anticoagulant,))
    assert not mentions("Avoid large amounts of grapefruit juice.", (anticoagulant,))
    # A treatment target is stated as a value; "the LDL-C goal" or an attainment rate is not one.
    [target] = subjects_of("LDL-C目标值是多少")
    assert not mentions("根据LDL-C目标和耐受情况调整剂量。", (target,))
    assert mentions("LDL-C目标为 < 1.8 mmol/L。", (target,))
    # "target dose" is a dose, not a treatment target.
    assert subjects_of("noravex target dose") == ()


def test_a_question_asking_for_data_is_told_apart() -> None:
    assert asks_for_evidence("noravex trial in mixed dyslipidaemia")
    assert asks_for_evidence("诺拉维有哪些研究")
    assert asks_for_evidence("重度肾损害时诺拉维的AUC")
    assert not asks_for_evidence("诺拉维一天最多吃多少")


@pytest.mark.parametrize(
    ("question", "answers"),
    [
        # The doctor's word is not the library's: coumadin (warfarin, the INR), a lactating
        # mother (breastfeeding), the fridge (storage), Child-Pugh (hepatic impairment),
        # "licensed for" (indications); a question asking for data gets the study.
        ("noravex alongside coumadin, anything to check?", {"SR-NRX-EN-05"}),
        ("is noravex ok for a lactating mum", {"SR-NRX-EN-04", "PI-NRX-EN"}),
        ("诺拉维开封后放冰箱还是常温", {"SR-NRX-ZH-06", "PM-NRX-ZH-01"}),
        ("Child-Pugh B 的人诺拉维每天上限几毫克", {"SR-NRX-ZH-03"}),
        ("which diseases is noravex licensed for", {"PI-NRX-EN"}),
        ("nolavastatin mixed dyslipidaemia trial", {"ST-NOVA-2"}),
        # The study's title is in Chinese only: matched in both languages' words.
        ("is there a noravex study in chinese subjects", {"ST-NOVA-CN"}),
        # A typo of the library's word; the effect on triglycerides is reported by NOVA-2 only
        # (in English), not by the Chinese passages on efficacy.
        ("甘油三脂高的病人诺拉维效果怎么样", {"ST-NOVA-2"}),
        # "cause" frames the question; constipation is what it asks about.
        ("can noravex cause constipation", {"SR-NRX-EN-06"}),
        # Allergy: the serious reactions (or the contraindications) speak of it.
        ("诺拉维会不会引起过敏", {"SR-NRX-ZH-08", "PI-NRX-ZH"}),
    ],
)
async def test_the_doctor_word_finds_the_library_answer(
    sample_knowledge: KnowledgeBase, question: str, answers: set[str]
) -> None:
    cited = await cited_for(sample_knowledge, question)
    assert cited[:1] and cited[0] in answers


@pytest.mark.parametrize(
    "question",
    [
        # A general treatment target: no approved passage states one (a study's LDL-C
        # results or the dosing answer's "LDL-C goal" are not one).
        "糖尿病人血糖应该控制在多少",
        "what HbA1c should diabetic patients reach",
        "高危患者LDL-C应该降到多少",
        # Elderly patients: the library says nothing about them.
        "老年患者用诺拉维要调整剂量吗",
    ],
)
async def test_a_question_whose_subject_no_passage_speaks_of_fails_compliantly(
    sample_knowledge: KnowledgeBase, question: str
) -> None:
    _, dispatcher = await verified_bot(sample_knowledge)
    ctx = await dispatcher.feed(message(question))
    assert ctx.data["audit_qa"].get("cited", []) == []
    menus = [reply for reply in ctx.replies if isinstance(reply, MenuReply)]
    assert any(option.id == "qa:mi" for menu in menus for option in menu.options)


async def test_a_follow_up_is_answered_from_the_standard_response_not_the_study(
    sample_knowledge: KnowledgeBase,
) -> None:
    """After the dosing answer, "and with poor kidneys?" asks for the dose rule (the standard
    response), not for the pharmacokinetic study behind it; asking for the data gets the study."""
    _, dispatcher = await verified_bot(sample_knowledge)
    await dispatcher.feed(message("诺拉维的推荐剂量是多少？"))
    ctx = await dispatcher.feed(message("那肾功能差的病人呢"))
    assert [hit["doc_id"] for hit in ctx.data["audit_qa"]["cited"]][:1] == ["SR-NRX-ZH-02"]
    ctx = await dispatcher.feed(message("肾功能差的病人有药代数据吗"))
    assert [hit["doc_id"] for hit in ctx.data["audit_qa"]["cited"]][:1] == ["ST-NOVA-RENAL"]


async def test_a_dose_asked_as_an_amount_is_not_answered_by_a_passage_without_one(
    sample_knowledge: KnowledgeBase,
) -> None:
    """An unverified doctor asking how high the dose goes is not given the leaflet's "take one
    tablet as prescribed": the answer (a dose) is professional content, so they are told so."""
    _, dispatcher, _ = build_bot(sample_knowledge)
    ctx = await dispatcher.feed(message("诺拉维一天最多能吃几毫克"))
    assert ctx.data["audit_qa"].get("cited", []) == []
    assert ctx.data["audit_qa"].get("hcp_gated") is True
